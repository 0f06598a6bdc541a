"""Top-10 for every MovieLens 100k test user on Spark, evaluated on Spark, beside the
same from one process.

    pip install './crates/recs-py[spark]'        # and a Java runtime (17)
    RECS_DATA_MIRROR=../shared/datasets python examples/python/spark_batch.py

Fits BPR on the CLI's split (``--split random:0.8 --seed 42``), starts Spark in
``local[2]`` (driver memory 2 GiB, set explicitly), runs ``recs.spark.recommend`` through
``mapInArrow`` (the model file shipped with ``addFile``, loaded once per Python worker)
and ``recs.spark.evaluate`` (per-partition sums of recs' metrics, added up). Both equal the
one-process results: the rows to the bit, the metrics to 1e-9.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

import recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    import recs.spark

    df = recs.load_movielens("ml-100k")
    train, test = recs.split(df, 0.8, "random", seed=42)
    ui, uid, iid = recs.to_csr(train, col_rating=None)
    model = recs.BPR(random_state=42).fit(ui, show_progress=False, user_ids=uid, item_ids=iid)
    users = test.userID.unique()
    users = users[np.isin(users, uid)]

    spark = (SparkSession.builder.master("local[2]").appName("recs-spark-batch")
             .config("spark.driver.memory", "2g").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t = time.perf_counter()
    reco = recs.spark.recommend(spark.createDataFrame(pd.DataFrame({"user": users})), model,
                                k=a.k).cache()
    n_rows = reco.count()
    reco_s = time.perf_counter() - t
    truth = spark.createDataFrame(test.rename(columns={"userID": "user", "itemID": "item"}))
    t = time.perf_counter()
    on_spark = recs.spark.evaluate(reco, truth, k=a.k, rating_col="rating")
    eval_s = time.perf_counter() - t
    got = reco.toPandas().sort_values(["user", "rank"]).reset_index(drop=True)
    spark.stop()

    idx = pd.Index(uid).get_indexer(users)
    ids, scores = model.recommend(idx, ui[idx], N=a.k)
    want_items = np.asarray(iid)[ids[np.argsort(users, kind="stable")].ravel()].astype(str)
    same = bool((got.item.to_numpy() == want_items).all()
                and np.array_equal(got.score.to_numpy(),
                                   scores[np.argsort(users, kind="stable")].ravel()))
    pred = got.rename(columns={"user": "userID", "item": "itemID", "score": "prediction"})
    local = recs.metrics.all_at_k(test, pred, k=a.k)
    diff = max(abs(on_spark[m] - local[m]) for m in on_spark)
    facts = {"users": int(len(users)), "rows": int(n_rows), "recommend_seconds": reco_s,
             "evaluate_seconds": eval_s, "same_as_one_process": same,
             "max_metric_difference": diff,
             "metrics": {m: on_spark[f"{m}@{a.k}"] for m in ("map", "ndcg", "precision", "recall")}}
    if a.json:
        print(json.dumps(facts))
    else:
        print(f"Spark local[2]: top-{a.k} for {len(users)} users in {reco_s:.2f} s, evaluated in "
              f"{eval_s:.2f} s; rows equal to one process: {same}")
        print(f"metrics on Spark vs recs.metrics in one process: largest difference {diff:.1e}")
        for m, v in facts["metrics"].items():
            print(f"  {m}@{a.k} {v:.4f}")
    if not same or diff > 1e-9:
        raise SystemExit("Spark's results differ from one process's")


if __name__ == "__main__":
    main()
