"""recs on Ray, on ``ray.init(num_cpus=2)``: batch top-k equal to the one-process
``recommend`` (ids and scores; fold-in equal to ``recalculate_user``), each actor loading the
model once; ALS trained in Ray tasks equal to the one-process fit (factors to 1e-4, MAP to
1e-4), the interaction blocks put in the object store once per fit."""

import numpy as np
import pandas as pd
import pytest

import recs

from conftest import _missing


@pytest.fixture(scope="module")
def ray_local():
    try:
        import ray
    except ImportError:
        _missing("ray (pip install 'recs[ray]')")
    ray.shutdown()
    ray.init(num_cpus=2, object_store_memory=256 * 2**20, include_dashboard=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def split(ml100k):
    return recs.split(ml100k, 0.75, seed=3)


def test_ray_batch_equals_one_process(ray_local, split, tmp_path):
    import recs.ray

    train, test = split
    m, uid, iid = recs.to_csr(train, col_rating=None)
    model = recs.ALS(factors=16, iterations=5, random_state=1).fit(
        m, show_progress=False, user_ids=uid, item_ids=iid)
    users = test.userID.unique()
    log = tmp_path / "loads.txt"
    ray = ray_local
    ds = ray.data.from_pandas(pd.DataFrame({"user": users})).repartition(6)
    out = recs.ray.recommend(ds, model, k=10, concurrency=2, batch_size=100,
                             runtime_env={"env_vars": {"RECS_BATCH_LOAD_LOG": str(log)}}).to_pandas()
    got = out.sort_values(["user", "rank"]).reset_index(drop=True)
    idx = pd.Index(uid).get_indexer(users)
    ids, scores = model.recommend(idx, m[idx], N=10)
    order = np.argsort(users, kind="stable")
    assert (got.user.to_numpy() == np.repeat(users[order], 10)).all()
    assert (got.item.to_numpy() == np.asarray(iid)[ids[order].ravel()].astype(str)).all()
    assert np.array_equal(got.score.to_numpy(), scores[order].ravel())
    assert (got["rank"].to_numpy() == np.tile(np.arange(1, 11), len(users))).all()
    # Two actors, each loading the model once for its six batches' worth of users.
    loads = log.read_text().split()
    assert len(loads) == 2 and len(set(loads)) == 2, loads

    # A list of ids and a model file's path; filter_items never appear.
    path = tmp_path / "als.recs"
    model.save(path)
    filt = [str(iid[ids[0][0]])]
    out = recs.ray.recommend(list(users[:50]), path, k=5, filter_items=filt).to_pandas()
    assert len(out) == 250 and filt[0] not in set(out.item)
    with pytest.raises(KeyError, match="no item 'nope'"):
        recs.ray.recommend(list(users[:5]), path, k=5, filter_items=["nope"])


def test_ray_fold_in_equals_recalculate_user(ray_local, ml100k):
    import recs.ray

    ml = ml100k[ml100k.rating >= 4]
    known = ml.userID.unique()[:800]
    train, new = ml[ml.userID.isin(known)], ml[~ml.userID.isin(known)]
    m, uid, iid = recs.to_csr(train, col_rating=None)
    model = recs.MultVAE(epochs=3, random_state=2).fit(
        m, show_progress=False, user_ids=uid, item_ids=iid)
    hist = new.groupby("userID").itemID.apply(lambda s: [str(x) for x in s])
    out = recs.ray.recommend(list(hist.to_numpy()), model, k=10, items_col="items").to_pandas()
    nm, _, _ = recs.to_csr(new, col_rating=None, user_ids=hist.index.to_numpy(), item_ids=iid)
    ids, scores = model.recommend(np.arange(len(hist)), nm, N=10, recalculate_user=True)
    got = out.sort_values(["user", "rank"])
    assert (got.item.to_numpy() == np.asarray(iid)[ids.ravel()].astype(str)).all()
    np.testing.assert_allclose(got.score.to_numpy(), scores.ravel(), rtol=1e-6, atol=1e-6)


def _map10(model, m, test, uid, iid):
    users = test.userID.unique()
    idx = pd.Index(uid).get_indexer(users)
    ids, scores = model.recommend(idx, m[idx], N=10)
    pred = pd.DataFrame({"userID": np.repeat(users, 10),
                         "itemID": np.asarray(iid)[ids.ravel()],
                         "prediction": scores.ravel()})
    return recs.map_at_k(test, pred, k=10)


def test_ray_als_equals_one_process(ray_local, split, monkeypatch):
    import recs.ray

    train, test = split
    m, uid, iid = recs.to_csr(train, col_rating=None)
    ray = ray_local
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda v, **kw: (puts.append(type(v).__name__), real_put(v, **kw))[1])
    for params in ({}, {"reg_scaling": "count", "solver": "cholesky"}):
        one = recs.ALS(factors=32, iterations=4, random_state=5, **params).fit(m, show_progress=False)
        puts.clear()
        dist = recs.ray.ALS(factors=32, iterations=4, random_state=5, blocks=3, **params).fit(
            m, show_progress=False, user_ids=uid, item_ids=iid)
        # The one-process factors, bit for bit (1e-4 is the bar; they are equal).
        assert np.array_equal(dist.user_factors, one.user_factors)
        assert np.array_equal(dist.item_factors, one.item_factors)
        a, b = _map10(one, m, test, uid, iid), _map10(dist, m, test, uid, iid)
        assert abs(a - b) <= 1e-4, (a, b)
        info = dist.fit_info
        assert info["blocks"] == (3, 3), info
        assert all(u == 3 and i == 3 for u, i in info["tasks_per_iteration"])
        # The interaction blocks once per fit (3 per side), and the starting factors: the
        # users' (3 blocks), the items' and their Gram parts (3 each). Nothing per
        # iteration: the tasks pass their results to each other.
        assert puts.count("tuple") == 6, puts
        assert puts.count("ndarray") == 3 + 2 * 3, puts
    # A callback's stop ends the fit after that iteration (the next one, already
    # submitted, is cancelled): the factors of a two-iteration fit.
    stopped = recs.ray.ALS(factors=32, iterations=4, random_state=5, blocks=3).fit(
        m, show_progress=False, callback=lambda epoch, elapsed, loss: epoch < 2)
    two = recs.ALS(factors=32, iterations=2, random_state=5).fit(m, show_progress=False)
    assert len(stopped.fit_info["seconds_per_iteration"]) == 2
    assert np.array_equal(stopped.user_factors, two.user_factors)
    assert np.array_equal(stopped.item_factors, two.item_factors)
    # The result is an ordinary model file.
    loaded = recs.load(_save(dist))
    assert type(loaded) is recs.ALS
    assert np.array_equal(loaded.item_factors, dist.item_factors)


def _save(model):
    import io

    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    return buf
