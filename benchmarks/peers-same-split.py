#!/usr/bin/env python3
# Usage: $PEERS_VENV/bin/python benchmarks/peers-same-split.py   (a venv with implicit, MS Recommenders 1.2.1 and the recs wheel)
"""implicit_peers.py's ml-100k models, evaluated on recs' own seed-42 random 75/25 split
(recs.split gives the rows `cargo xtask reproduce` trains on), so that ours and the peer's
numbers come from the same train/test rows."""
import time, numpy as np, pandas as pd, scipy.sparse as sp, recs
from recommenders.evaluation.python_evaluation import map as map_full, ndcg_at_k, precision_at_k, recall_at_k
import os, sys
d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("RECS_DATA_MIRROR", "../shared/datasets"), "ml-100k")
df = pd.read_csv(f"{d}/u.data", sep="\t", names=["userID", "itemID", "rating", "ts"])[["userID", "itemID", "rating"]]
df["rating"] = df["rating"].astype(float)
tr, te = recs.split(df, 0.75, method="random", seed=42)
users = np.sort(tr.userID.unique()); items = np.sort(tr.itemID.unique())
uix = {u: i for i, u in enumerate(users)}; iix = {v: i for i, v in enumerate(items)}
X = sp.csr_matrix((np.ones(len(tr), dtype=np.float32), (tr.userID.map(uix).values, tr.itemID.map(iix).values)), shape=(len(users), len(items)))
kw = dict(col_user="userID", col_item="itemID", col_prediction="prediction", k=10)
def ev(name, scores, fit_s):
    scores = np.array(scores, dtype=np.float64); scores[X.nonzero()] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    rows = [(users[u], items[i], float(10 - r)) for u in range(len(users)) for r, i in enumerate(top[u])]
    pred = pd.DataFrame(rows, columns=["userID", "itemID", "prediction"])
    print(f"{name} fit_s {fit_s:.3f} MAP {map_full(te, pred, **kw):.4f} NDCG@10 {ndcg_at_k(te, pred, col_rating='rating', **kw):.4f} "
          f"P@10 {precision_at_k(te, pred, **kw):.4f} R@10 {recall_at_k(te, pred, **kw):.4f}", flush=True)
from implicit.cpu.als import AlternatingLeastSquares as ALS
from implicit.nearest_neighbours import CosineRecommender, BM25Recommender, TFIDFRecommender
m = ALS(factors=50, iterations=15, regularization=0.01, alpha=1.0, random_state=42, num_threads=2)
t0 = time.perf_counter(); m.fit(X, show_progress=False); t1 = time.perf_counter()
ev("implicit.ALS(k=50,reg=0.01,it=15)", np.asarray(m.user_factors) @ np.asarray(m.item_factors).T, t1 - t0)
for name, m in [("implicit.Cosine(K=100)", CosineRecommender(K=100, num_threads=2)),
                ("implicit.BM25(K=100)", BM25Recommender(K=100, num_threads=2)),
                ("implicit.TFIDF(K=100)", TFIDFRecommender(K=100, num_threads=2))]:
    t0 = time.perf_counter(); m.fit(X, show_progress=False); t1 = time.perf_counter()
    ev(name, (X @ m.similarity).toarray(), t1 - t0)
Xd = X.toarray().astype(np.float64)
t0 = time.perf_counter()
G = Xd.T @ Xd; G[np.diag_indices_from(G)] += 500.0
P = np.linalg.inv(G); B = -P / np.diag(P); B[np.diag_indices_from(B)] = 0.0
t1 = time.perf_counter()
ev("EASE(lambda=500, numpy)", Xd @ B, t1 - t0)
