"""Top-10 for every MovieLens 100k test user on Ray, and the same from one process.

    pip install './crates/recs-py[ray]'
    RECS_DATA_MIRROR=../shared/datasets python examples/python/ray_batch.py

Fits BPR on the CLI's split (``--split random:0.8 --seed 42``), starts a local Ray cluster
(2 CPUs, a 512 MiB object store: set, not left to Ray's default of 30 % of memory), and runs
``recs.ray.recommend`` with two actors of one thread each: each actor loads the model once
(from the object store) and ranks Arrow batches of users. The rows equal the one-process
``model.recommend``'s; the metrics are recs' (Microsoft Recommenders' definitions).
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
import ray

import recs
import recs.ray


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    df = recs.load_movielens("ml-100k")
    train, test = recs.split(df, 0.8, "random", seed=42)
    ui, uid, iid = recs.to_csr(train, col_rating=None)
    model = recs.BPR(random_state=42).fit(ui, show_progress=False, user_ids=uid, item_ids=iid)
    users = test.userID.unique()
    users = users[np.isin(users, uid)]

    ray.init(num_cpus=2, object_store_memory=512 * 2**20, include_dashboard=False,
             log_to_driver=False)
    t = time.perf_counter()
    out = recs.ray.recommend(users, model, k=a.k, concurrency=2, num_cpus=1).to_pandas()
    ray_s = time.perf_counter() - t
    ray.shutdown()

    t = time.perf_counter()
    idx = pd.Index(uid).get_indexer(users)
    ids, scores = model.recommend(idx, ui[idx], N=a.k)
    one_s = time.perf_counter() - t
    one = pd.DataFrame({"user": np.repeat(users, a.k), "item": np.asarray(iid)[ids.ravel()],
                        "score": scores.ravel()})
    got = out.sort_values(["user", "rank"]).reset_index(drop=True)
    want = one.sort_values("user", kind="stable").reset_index(drop=True)
    same = bool((got.item.astype(str).to_numpy() == want.item.astype(str).to_numpy()).all()
                and np.array_equal(got.score.to_numpy(), want.score.to_numpy()))
    pred = got.rename(columns={"user": "userID", "item": "itemID", "score": "prediction"})
    metrics = recs.metrics.all_at_k(test, pred, k=a.k)
    facts = {"users": int(len(users)), "rows": int(len(out)), "ray_seconds": ray_s,
             "one_process_seconds": one_s, "same_as_one_process": same,
             "metrics": {m: metrics[f"{m}@{a.k}"] for m in ("map", "ndcg", "precision", "recall")}}
    if a.json:
        print(json.dumps(facts))
    else:
        print(f"Ray: top-{a.k} for {len(users)} users in {ray_s:.2f} s (2 actors x 1 thread, "
              f"model loaded once per actor); one process: {one_s:.3f} s")
        print(f"rows equal to the one-process recommend (ids and scores): {same}")
        for m, v in facts["metrics"].items():
            print(f"  {m}@{a.k} {v:.4f}")
    if not same:
        raise SystemExit("the Ray rows differ from the one-process rows")


if __name__ == "__main__":
    main()
