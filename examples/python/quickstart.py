"""recs from Python on MovieLens 100k: load, split, fit, recommend, evaluate.

    pip install ./crates/recs-py            # once (builds the wheel with maturin)
    RECS_DATA_MIRROR=../shared/datasets python examples/python/quickstart.py

The split is the CLI's (``recs train --split random:0.8 --seed 42`` holds out the same
rows), so the numbers here can be set beside ``recs train``'s. Fits BPR, and ALS when this
build registers it; recommends the top 10 unseen items for every test user; scores them
with recs' metrics (Microsoft Recommenders' definitions) and, where ``recommenders`` is
installed, with Recommenders' own functions too. ``--json`` prints the figures as JSON
(benchmarks/python-vs-cli.sh uses it).
"""

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

import recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="BPR,ALS", help="model classes, comma-separated")
    ap.add_argument("--threads", type=int, default=None, help="num_threads (default: model's)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    df = recs.load_movielens("ml-100k")
    train, test = recs.split(df, 0.8, "random", seed=a.seed)
    # Rows and columns over the full data's ids, first appearance first (the CLI's order).
    ui, user_ids, item_ids = recs.to_csr(
        train, user_ids=pd.unique(df.userID), item_ids=pd.unique(df.itemID)
    )
    test_users = np.flatnonzero(np.isin(user_ids, test.userID.unique()))
    log = (lambda *x: print(*x, file=sys.stderr)) if a.json else print
    log(f"ml-100k: {len(train)} training and {len(test)} test ratings, "
        f"{ui.shape[0]} users x {ui.shape[1]} items")

    report = {}
    for name in a.models.split(","):
        cls = getattr(recs, name, None)
        if cls is None:
            log(f"{name}: not registered in this build; skipped")
            continue
        kw = {"random_state": a.seed}
        if a.threads is not None:
            kw["num_threads"] = a.threads
        model = cls(**kw)
        t0 = time.perf_counter()
        model.fit(ui, show_progress=False)
        fit_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        ids, scores = model.recommend(test_users, ui[test_users], N=a.k)
        batch_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for u in test_users:
            model.recommend(u, ui[u], N=a.k)
        single_ms = (time.perf_counter() - t0) / len(test_users) * 1e3

        pred = pd.DataFrame({
            "userID": np.repeat(user_ids[test_users], ids.shape[1]),
            "itemID": item_ids[ids.ravel()],
            "prediction": scores.ravel(),
        })
        m = {
            f"map@{a.k}": recs.map_at_k(test, pred, k=a.k),
            f"ndcg@{a.k}": recs.ndcg_at_k(test, pred, k=a.k),
            f"precision@{a.k}": recs.precision_at_k(test, pred, k=a.k),
            f"recall@{a.k}": recs.recall_at_k(test, pred, k=a.k),
        }
        try:
            from recommenders.evaluation import python_evaluation as pe

            theirs = {
                f"map@{a.k}": pe.map_at_k(test, pred, k=a.k),
                f"ndcg@{a.k}": pe.ndcg_at_k(test, pred, k=a.k),
                f"precision@{a.k}": pe.precision_at_k(test, pred, k=a.k),
                f"recall@{a.k}": pe.recall_at_k(test, pred, k=a.k),
            }
            worst = max(abs(m[k] - theirs[k]) for k in m)
            m["max |recs - recommenders|"] = worst
        except ImportError:
            pass
        report[name] = {
            "params": model.get_params(),
            "fit_seconds": fit_s,
            "recommend_batch_seconds": batch_s,
            "recommend_single_ms_per_user": single_ms,
            "metrics": m,
        }
        log(f"\n{name} {model.get_params()}")
        log(f"  fit {fit_s:.3f} s; recommend: {batch_s * 1e3:.1f} ms for {len(test_users)} "
            f"users in one call, {single_ms:.3f} ms per user one at a time")
        for k, v in m.items():
            log(f"  {k:<28} {v:.4f}" if "recs" not in k else f"  {k:<28} {v:.2e}")
        top, _ = model.recommend(0, ui[0], N=5)
        log(f"  user {user_ids[0]}: top 5 {item_ids[top].tolist()}")
    if a.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
