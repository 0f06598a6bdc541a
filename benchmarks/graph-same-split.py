#!/usr/bin/env python3
# Usage: $MSR_VENV/bin/python benchmarks/graph-same-split.py DIR [REPS]
#   (DIR written by the `graph_same_split` example: train.csv, test.csv, recs' top-10 lists
#   and fit seconds; MSR_VENV: `../shared/peers/setup.sh`'s `-msr` venv)
"""RP3beta (`graph_peers.py`'s numpy/scipy formula) and Microsoft Recommenders' SAR fitted on
the same train rows as recs' `rp3beta-ml100k` / `sar-ml100k`, each configuration's top-10
lists compared user by user with recs' (same ids; where they differ, whether the two items
tie in the peer's scores), both scored with Recommenders' metrics, fit times side by side
(median of REPS fits each, in this process and recs' example back to back). Items are
indexed in recs' order (`items.csv`) and every cut (RP3beta's top K, the top 10) is a stable
sort, so ties go to the lower index on both sides; `graph_peers.py` cuts with
`argpartition`, which breaks ties arbitrarily."""
import sys, time
import numpy as np, pandas as pd, scipy.sparse as sp
from recommenders.evaluation.python_evaluation import map as map_full, ndcg_at_k
from recommenders.models.sar import SAR

d = sys.argv[1]; reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
tr = pd.read_csv(f"{d}/train.csv"); te = pd.read_csv(f"{d}/test.csv")
tr["rating"] = tr["rating"].astype(np.float32)
recs_secs = pd.read_csv(f"{d}/fit_seconds.csv").set_index("name")["fit_seconds"]
users = np.sort(tr.userID.unique())
items = pd.read_csv(f"{d}/items.csv").itemID.to_numpy()
items = items[np.isin(items, tr.itemID.unique())]
uix = {u: k for k, u in enumerate(users)}; iix = {i: k for k, i in enumerate(items)}
X = sp.csr_matrix((np.ones(len(tr)), (tr.userID.map(uix).values, tr.itemID.map(iix).values)),
                  shape=(len(users), len(items)))
kw = dict(col_user="userID", col_item="itemID", col_prediction="prediction", k=10)

def median_fit(fit):
    secs, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter(); out = fit(); secs.append(time.perf_counter() - t0)
    return out, sorted(secs)[len(secs) // 2]

def rp3beta(alpha, beta, k=100):
    deg_u = np.asarray(X.sum(1)).ravel(); deg_i = np.asarray(X.sum(0)).ravel()
    Pui = (sp.diags(1 / np.maximum(deg_u, 1)) @ X).power(alpha)
    Piu = (sp.diags(1 / np.maximum(deg_i, 1)) @ X.T.tocsr()).power(alpha)
    W = (Piu @ Pui).toarray() / np.power(np.maximum(deg_i, 1), beta)[None, :]
    np.fill_diagonal(W, 0.0)
    for r in range(W.shape[0]):
        if k < W.shape[1]:
            W[r, np.argsort(-W[r], kind="stable")[k:]] = 0.0
    return np.asarray(X @ W)

def sar_scores(similarity, decay):
    m = SAR(col_user="userID", col_item="itemID", col_rating="rating", col_timestamp="ts",
            similarity_type=similarity, timedecay_formula=decay, time_decay_coefficient=30, normalize=False)
    m.fit(tr.copy())
    s = m.score(pd.DataFrame({"userID": users}), remove_seen=False)
    # Recommenders indexes by first appearance in the training rows: reorder to recs' order.
    return np.asarray(s)[:, [m.item2index[i] for i in items]]

def compare(name, scores, secs):
    ours = pd.read_csv(f"{d}/{name}.csv")
    s = np.array(scores, dtype=np.float64); s[X.nonzero()] = -np.inf
    top = np.argsort(-s, axis=1, kind="stable")[:, :10]
    rows = [(users[u], items[i], float(10 - r)) for u in range(len(users)) for r, i in enumerate(top[u])]
    peer = pd.DataFrame(rows, columns=["userID", "itemID", "prediction"])
    same = tie = other = 0; worst = 0.0
    for u, g in ours.groupby("userID", sort=False):
        ui = uix[u]; mine = g.itemID.to_numpy(); theirs = items[top[ui]]
        for a, sc in zip(mine, g.score.to_numpy()):
            worst = max(worst, abs(s[ui, iix[a]] - sc) / max(1.0, abs(sc)))
        if (mine == theirs).all(): same += 1
        elif np.allclose(np.sort(s[ui, [iix[a] for a in mine]]), np.sort(s[ui, top[ui]]), rtol=1e-5, atol=1e-7): tie += 1
        else: other += 1
    mp = ours[["userID", "itemID", "score"]].rename(columns={"score": "prediction"})
    print(f"{name:20s} lists: {same} identical, {tie} differ only among tied scores, {other} differ; "
          f"max |score diff| {worst:.1e}", flush=True)
    print(f"{'':20s} MAP   peer {map_full(te, peer, **kw):.4f}  recs {map_full(te, mp, **kw):.4f}   "
          f"NDCG@10 peer {ndcg_at_k(te, peer, **kw):.4f}  recs {ndcg_at_k(te, mp, **kw):.4f}")
    print(f"{'':20s} fit s peer {secs:.4f}  recs {recs_secs[name]:.4f}  ({secs / recs_secs[name]:.1f}x)", flush=True)

for a, b in [(1.0, 0.6), (0.8, 0.3)]:
    s, secs = median_fit(lambda: rp3beta(a, b))
    compare(f"rp3beta_a{a:g}_b{b}", s, secs)
for decay in (False, True):
    for sim, ours in [("jaccard", "jaccard"), ("lift", "lift"), ("cooccurrence", "counts")]:
        s, secs = median_fit(lambda: sar_scores(sim, decay))
        compare(f"sar_{ours}" + ("_decay" if decay else ""), s, secs)
