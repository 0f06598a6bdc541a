"""ALS trained in Ray tasks on MovieLens 100k, beside the same fit in one process.

    pip install './crates/recs-py[ray]'
    RECS_DATA_MIRROR=../shared/datasets python examples/python/ray_als.py

On the CLI's split (``--split random:0.8 --seed 42``): ``recs.ray.ALS`` cuts the users and
the items into blocks, puts them in Ray's object store once, and solves each block of each
half-iteration in a Ray task with recs' own kernels; the Gram matrix is computed once per
half-iteration. From the same seed its factors are the one-process ``recs.ALS``'s, and so
are its metrics. ``--reg-scaling count`` is Spark MLlib's ALS-WR.
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
import ray

import recs
import recs.ray


def top(model, ui, uid, iid, users, k):
    idx = pd.Index(uid).get_indexer(users)
    ids, scores = model.recommend(idx, ui[idx], N=k)
    return pd.DataFrame({"userID": np.repeat(users, k), "itemID": np.asarray(iid)[ids.ravel()],
                         "prediction": scores.ravel()})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--reg-scaling", default="none", choices=["none", "count"])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    df = recs.load_movielens("ml-100k")
    train, test = recs.split(df, 0.8, "random", seed=42)
    ui, uid, iid = recs.to_csr(train, col_rating=None)
    users = test.userID.unique()
    users = users[np.isin(users, uid)]
    params = dict(factors=a.factors, iterations=a.iterations, reg_scaling=a.reg_scaling,
                  random_state=42)

    ray.init(num_cpus=2, object_store_memory=512 * 2**20, include_dashboard=False,
             log_to_driver=False)
    t = time.perf_counter()
    dist = recs.ray.ALS(**params).fit(ui, show_progress=False, user_ids=uid, item_ids=iid)
    ray_s = time.perf_counter() - t
    ray.shutdown()
    t = time.perf_counter()
    one = recs.ALS(**params).fit(ui, show_progress=False, user_ids=uid, item_ids=iid)
    one_s = time.perf_counter() - t

    diff = float(max(np.abs(dist.user_factors - one.user_factors).max(),
                     np.abs(dist.item_factors - one.item_factors).max()))
    m_ray = recs.metrics.all_at_k(test, top(dist, ui, uid, iid, users, a.k), k=a.k)
    m_one = recs.metrics.all_at_k(test, top(one, ui, uid, iid, users, a.k), k=a.k)
    keys = [f"{m}@{a.k}" for m in ("map", "ndcg", "precision", "recall")]
    info = dist.fit_info
    facts = {"ray_seconds": ray_s, "one_process_seconds": one_s,
             "blocks": info["blocks"], "tasks_per_iteration": info["tasks_per_iteration"][0],
             "max_factor_difference": diff, "ray": {k: m_ray[k] for k in keys},
             "one_process": {k: m_one[k] for k in keys}}
    if a.json:
        print(json.dumps(facts))
    else:
        print(f"ALS on Ray ({info['blocks'][0]} user and {info['blocks'][1]} item blocks, "
              f"{sum(info['tasks_per_iteration'][0])} tasks per iteration): {ray_s:.2f} s for "
              f"{a.iterations} iterations; one process: {one_s:.2f} s")
        print(f"largest factor difference from the one-process fit: {diff:.1e}")
        for k in keys:
            print(f"  {k}  Ray {m_ray[k]:.4f}   one process {m_one[k]:.4f}")
    if diff > 1e-4:
        raise SystemExit("the factors differ from the one-process fit's by more than 1e-4")


if __name__ == "__main__":
    main()
