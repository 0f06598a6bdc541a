"""Cornac's RecVAE on the split of `recs reproduce recvae-ml100k` (multvae_torch.py's
held-out-users protocol on ml-100k), at Cornac's defaults, for benchmarks/recvae-same-split.sh.

Cornac's own `fit` trains 50 epochs and keeps the last, scoring its training users after every
epoch; here its training step (`RecVAE.run`, Cornac's code) runs in Cornac's epoch loop (3
encoder passes, `update_prior`, 1 decoder pass), then the validation users are scored in eval
mode (no dropout, z = mu) and the best epoch by validation NDCG@100 is kept, as recs does.
The test users are folded in from their fold-in rows, in eval mode. Prints one JSON line per
seed: metrics, train seconds per epoch (training passes only) and with the validation.
Usage: python recvae-same-split.py DATA_DIR SEED [SEED ...]
"""
import copy, json, sys, time
import numpy as np, pandas as pd, scipy.sparse as sp, torch
import cornac
from cornac.models import RecVAE
from cornac.models.recvae.recvae import VAE

d = sys.argv[1]
shipped = "--shipped" in sys.argv[2:]
seeds = [int(s) for s in sys.argv[2:] if s != "--shipped"] or [1]

df = pd.read_csv(f"{d}/ml-100k/u.data", sep="\t", names=["u", "i", "r", "t"])
df = df[df.r >= 4]
uc = df.groupby("u").size(); df = df[df.u.isin(uc.index[uc >= 5])]
users = np.sort(df.u.unique())
te_u, vd_u, tr_u = users[users % 5 == 0], users[users % 5 == 1], users[users % 5 >= 2]
tr = df[df.u.isin(tr_u)]


def foldin(uids, sidx):
    part = df[df.u.isin(uids) & df.i.isin(list(sidx))]
    tr_rows, te_rows = [], []
    for _, g in part.groupby("u"):
        n = len(g)
        if n >= 5:
            g = g.sort_values(["t", "i"]); h = n // 5
            tr_rows.append(g.iloc[: n - h]); te_rows.append(g.iloc[n - h:])
    a, b = pd.concat(tr_rows), pd.concat(te_rows)
    keep = b.u.unique()
    def mat(frame):
        uidx = {u: j for j, u in enumerate(keep)}
        r, c = frame.u.map(uidx).values, frame.i.map(sidx).values
        m = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(keep), len(sidx)))
        m.sum_duplicates(); m.data[:] = 1
        return m.toarray()
    return mat(a[a.u.isin(keep)]), mat(b)


def ndcg(scores, heldout, k):
    idx = np.argsort(-scores, axis=1)[:, :k]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (np.take_along_axis(heldout, idx, 1) * disc).sum(1)
    idcg = np.array([disc[: min(int(n), k)].sum() for n in heldout.sum(1)])
    return dcg / idcg


def recall(scores, heldout, k):
    idx = np.argsort(-scores, axis=1)[:, :k]
    hits = np.take_along_axis(heldout, idx, 1).sum(1)
    return hits / np.minimum(k, heldout.sum(1))


def predict(vae, xin):
    vae.eval()
    with torch.no_grad():
        s = vae(torch.from_numpy(xin), calculate_loss=False).numpy()
    vae.train()
    s[xin > 0] = -np.inf
    return s


for seed in seeds:
    triples = list(zip(tr.u.astype(str), tr.i.astype(str), np.ones(len(tr))))
    train_set = cornac.data.Dataset.from_uir(triples, seed=seed)
    sidx = {int(raw): j for raw, j in train_set.iid_map.items()}
    vin, vout = foldin(vd_u, sidx)
    tin, tout = foldin(te_u, sidx)
    m = RecVAE(seed=seed, use_gpu=False)  # Cornac's defaults: 600, 200, batch 500, γ 0.005, lr 5e-4, 50 epochs
    np.random.seed(seed); torch.manual_seed(seed)
    vae = VAE(hidden_dim=m.hidden_dim, latent_dim=m.latent_dim, input_dim=train_set.num_items)
    opt_enc = torch.optim.Adam(set(vae.encoder.parameters()), lr=m.lr)
    opt_dec = torch.optim.Adam(set(vae.decoder.parameters()), lr=m.lr)
    kw = dict(model=vae, train_set=train_set, my_batch_size=m.batch_size, beta=m.beta, gamma=m.gamma)
    best, best_state, train_s = -1.0, None, 0.0
    t_all = time.perf_counter()
    for ep in range(m.n_epochs):
        t0 = time.perf_counter()
        m.run(opts=[opt_enc], n_epochs=m.n_enc_epochs, dropout_rate=0.5, **kw)
        vae.update_prior()
        m.run(opts=[opt_dec], n_epochs=m.n_dec_epochs, dropout_rate=0, **kw)
        train_s += time.perf_counter() - t0
        v = ndcg(predict(vae, vin), vout, 100).mean()
        if v > best:
            best, best_state = v, copy.deepcopy(vae.state_dict())
    all_s = time.perf_counter() - t_all
    vae.load_state_dict(best_state)
    s = predict(vae, tin)
    row = {
        "seed": seed, "train_users": len(tr_u), "items": train_set.num_items,
        "recall@20": recall(s, tout, 20).mean(), "recall@50": recall(s, tout, 50).mean(),
        "ndcg@100": ndcg(s, tout, 100).mean(), "best_val_ndcg@100": best,
        "seconds_per_epoch_train": train_s / m.n_epochs, "seconds_per_epoch_with_validation": all_s / m.n_epochs,
    }
    print(json.dumps({k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in row.items()}), flush=True)

if shipped:
    triples = list(zip(tr.u.astype(str), tr.i.astype(str), np.ones(len(tr))))
    train_set = cornac.data.Dataset.from_uir(triples, seed=seeds[0])
    m = RecVAE(seed=seeds[0], use_gpu=False)
    t0 = time.perf_counter()
    m.fit(train_set)
    print(json.dumps({"cornac_fit_as_shipped_seconds_per_epoch": (time.perf_counter() - t0) / m.n_epochs}), flush=True)
