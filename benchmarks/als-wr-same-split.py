# ALS with λ as given (implicit's) and scaled by each row's count (ALS-WR, Spark MLlib's),
# beside Spark MLlib's implicit ALS, on one seeded split of ml-100k: numpy's
# default_rng(42), 75 % of the rows to train, ratings as implicit feedback (value 1);
# rank 50, 15 iterations, λ 0.01, α 1. Top 10 with seen items excluded; MAP (the sum of
# precisions at hits over the user's relevant items: Recommenders' `map`) and NDCG@10 over
# the test users, computed the same way for every model.
# Usage: python als-wr-same-split.py ML100K_DIR recs|spark
import sys, time
import numpy as np, pandas as pd, scipy.sparse as sp

src, which = sys.argv[1], sys.argv[2]
df = pd.read_csv(f"{src}/u.data", sep="\t", names=["user", "item", "rating", "ts"])
rng = np.random.default_rng(42)
mask = rng.random(len(df)) < 0.75
train, test = df[mask], df[~mask]
users = np.sort(df.user.unique()); items = np.sort(df.item.unique())
ui = {u: i for i, u in enumerate(users)}; ii = {v: i for i, v in enumerate(items)}
X = sp.csr_matrix((np.ones(len(train), np.float32), (train.user.map(ui), train.item.map(ii))),
                  shape=(len(users), len(items)))
truth = test.groupby("user")["item"].apply(set)


def metrics(U, V):
    """MAP and NDCG@10 of the user × item factors, seen items excluded."""
    S = U @ V.T
    S[X.nonzero()] = -np.inf
    aps, nd = [], []
    for u, rel in truth.items():
        top = [items[j] for j in np.argsort(-S[ui[u]], kind="stable")[:10]]
        hits = [1 if i in rel else 0 for i in top]
        prec = [sum(hits[:k + 1]) / (k + 1) for k in range(len(hits)) if hits[k]]
        aps.append(sum(prec) / len(rel))
        dcg = sum(h / np.log2(k + 2) for k, h in enumerate(hits))
        idcg = sum(1 / np.log2(k + 2) for k in range(min(len(rel), 10)))
        nd.append(dcg / idcg)
    return np.mean(aps), np.mean(nd)


def report(name, secs, U, V):
    m, n = metrics(U, V)
    print(f"{name:<34} fit {secs:7.2f} s   MAP {m:.4f}   NDCG@10 {n:.4f}", flush=True)


if which == "recs":
    import recs
    for scaling in ("none", "count"):
        for solver in ("cg", "cholesky"):
            t0 = time.perf_counter()
            m = recs.ALS(factors=50, regularization=0.01, iterations=15, random_state=1,
                         reg_scaling=scaling, solver=solver, num_threads=2)
            m.fit(X, show_progress=False)
            secs = time.perf_counter() - t0
            report(f"recs ALS reg_scaling={scaling} {solver}", secs, m.user_factors, m.item_factors)
else:
    from pyspark.sql import SparkSession
    from pyspark.ml.recommendation import ALS
    s = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "4g").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    rows = pd.DataFrame({"user": X.nonzero()[0].astype(np.int32), "item": X.nonzero()[1].astype(np.int32), "r": 1.0})
    sdf = s.createDataFrame(rows).cache(); sdf.count()
    t0 = time.perf_counter()
    model = ALS(rank=50, maxIter=15, regParam=0.01, alpha=1.0, implicitPrefs=True, userCol="user",
                itemCol="item", ratingCol="r", seed=1).fit(sdf)
    Uf = model.userFactors.toPandas(); Vf = model.itemFactors.toPandas()
    secs = time.perf_counter() - t0
    s.stop()
    U = np.zeros((len(users), 50)); V = np.zeros((len(items), 50))
    U[Uf.id.values] = np.stack(Uf.features); V[Vf.id.values] = np.stack(Vf.features)
    report("Spark MLlib ALS (implicitPrefs)", secs, U, V)
