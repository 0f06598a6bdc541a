"""ALS on a two-node Ray cluster (``ray.cluster_utils.Cluster``, how Ray's own tests
simulate several machines on one): every half-iteration's tasks run on both nodes, and a
task that raises once, or whose worker process dies, is retried by Ray with the fit ending
on the one-process factors."""

import os
import sys

import numpy as np
import pytest

import recs

from conftest import _missing


@pytest.fixture(scope="module")
def cluster():
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        _missing("ray (pip install 'recs[ray]')")
    ray.shutdown()
    mem = 128 * 2**20
    c = Cluster(initialize_head=True,
                head_node_args={"num_cpus": 1, "object_store_memory": mem,
                                "include_dashboard": False})
    c.add_node(num_cpus=1, object_store_memory=mem)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    # The flaky task below is defined here: workers get it by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()
    c.shutdown()


def make_flaky(d):
    """The ALS task, failing once by raising and once by killing its worker process, on
    its first and second calls (markers in ``d``)."""

    def flaky(*args):
        import recs.ray

        for name in ("raised", "killed"):
            try:
                fd = os.open(os.path.join(d, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.close(fd)
            if name == "raised":
                raise RuntimeError("a task failing once, on purpose")
            os._exit(1)
        return recs.ray._solve(*args)

    return flaky


def test_als_on_two_nodes_uses_both_and_survives_failures(cluster, ml100k, tmp_path):
    import recs.ray

    ray = cluster
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    m, uid, iid = recs.to_csr(ml100k[ml100k.rating >= 4], col_rating=None)
    one = recs.ALS(factors=16, iterations=3, random_state=7).fit(m, show_progress=False)
    dist = recs.ray.ALS(factors=16, iterations=3, random_state=7, blocks=4).fit(
        m, show_progress=False)
    assert np.array_equal(dist.user_factors, one.user_factors)
    assert np.array_equal(dist.item_factors, one.item_factors)
    for users_nodes, items_nodes in dist.fit_info["nodes_per_iteration"]:
        assert len(users_nodes) == 2 and len(items_nodes) == 2, dist.fit_info
    assert all(t == (4, 4) for t in dist.fit_info["tasks_per_iteration"])

    class Flaky(recs.ray.ALS):
        _task = staticmethod(make_flaky(str(tmp_path)))

    hit = Flaky(factors=16, iterations=3, random_state=7, blocks=4).fit(m, show_progress=False)
    assert (tmp_path / "raised").exists() and (tmp_path / "killed").exists()
    assert np.array_equal(hit.user_factors, dist.user_factors)
    assert np.array_equal(hit.item_factors, dist.item_factors)
