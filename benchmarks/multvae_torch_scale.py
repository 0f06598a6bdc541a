"""Mult-VAE seconds per epoch in PyTorch on the file `multvae_scale` generated (the GPU check's timing).

Adapted from ../shared/peers/multvae_torch.py (the peer the ml-100k reproduction follows): the
same network ([I-600-200-600-I], tanh, dropout 0.5 on the L2-normalised input, Xavier-normal
weights, N(0, 0.001) biases), the same loss (multinomial log-likelihood + β·KL) and Adam at
lr 1e-3; what changed:
  - it reads the `user,item,rating,timestamp` CSV that `multvae_scale --csv` wrote, numbers
    users and items in order of first appearance (as recs' loader does, so both train on
    the same matrix) and binarises it (every distinct pair is a 1);
  - no split and no validation: every user trains, and only training epochs are timed;
  - batch 500 and β = min(0.2, step / 200000), the paper's ml-20m settings (as the recs run);
  - each batch is densified on the device from its sparse rows (indices uploaded, scattered
    into a zeroed batch), as recs does, instead of densifying on the host and copying
    batch × items floats per step;
  - the device is synchronised before each epoch's clock stops.
Usage: python multvae_torch_scale.py CSV [EPOCHS=3] [DEVICE=cuda] [SEED=0] [JSON_OUT]
Prints one line per epoch and the median seconds per epoch after the first (the first carries
CUDA's warm-up); JSON_OUT, if given, gets the same as JSON.
"""
import json, sys, time
import numpy as np, pandas as pd, scipy.sparse as sp, torch, torch.nn as nn, torch.nn.functional as F

path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
dev = torch.device(sys.argv[3] if len(sys.argv) > 3 else "cuda")
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
out = sys.argv[5] if len(sys.argv) > 5 else None
BS, ANNEAL_CAP, ANNEAL_STEPS = 500, 0.2, 200_000
torch.manual_seed(seed); rng = np.random.RandomState(seed)

t0 = time.perf_counter()
df = pd.read_csv(path, usecols=[0, 1], dtype=str)
u, _ = pd.factorize(df.iloc[:, 0]); i, _ = pd.factorize(df.iloc[:, 1])
n_users, n_items = int(u.max()) + 1, int(i.max()) + 1
X = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(n_users, n_items))
X.sum_duplicates(); X.data[:] = 1
load_s = time.perf_counter() - t0
print(f"{path}: {n_users} users x {n_items} items, {X.nnz} pairs (loaded in {load_s:.1f} s); "
      f"Mult-VAE [I-600-200-600-I], batch {BS}, on {dev} (torch {torch.__version__})", flush=True)


class Mult(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.q1 = nn.Linear(n, 600); self.q2 = nn.Linear(600, 400)
        self.p1 = nn.Linear(200, 600); self.p2 = nn.Linear(600, n); self.drop = nn.Dropout(0.5)
        for l in (self.q1, self.q2, self.p1, self.p2):
            nn.init.xavier_normal_(l.weight); nn.init.normal_(l.bias, std=0.001)

    def forward(self, x):
        h = self.drop(F.normalize(x)); h = torch.tanh(self.q1(h)); h = self.q2(h)
        mu, logvar = h[:, :200], h[:, 200:]
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.p2(torch.tanh(self.p1(z))), mu, logvar


def batch(rows):
    """The dense batch of `rows`, built on the device from the rows' sparse entries."""
    sub = X[rows]
    r = np.repeat(np.arange(len(rows), dtype=np.int64), np.diff(sub.indptr))
    idx = torch.from_numpy(np.stack([r, sub.indices.astype(np.int64)])).to(dev, non_blocking=True)
    x = torch.zeros(len(rows), n_items, device=dev)
    x[idx[0], idx[1]] = 1.0
    return x


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


m = Mult(n_items).to(dev); opt = torch.optim.Adam(m.parameters(), lr=1e-3)
step, times, losses = 0, [], []
for ep in range(epochs):
    sync(); t = time.perf_counter()
    m.train(); perm = rng.permutation(n_users); total = torch.zeros((), device=dev)
    for s in range(0, n_users, BS):
        x = batch(perm[s: s + BS])
        logits, mu, logvar = m(x)
        nll = -(F.log_softmax(logits, 1) * x).sum(1).mean()
        beta = min(ANNEAL_CAP, step / ANNEAL_STEPS)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        loss = nll + beta * kl
        opt.zero_grad(); loss.backward(); opt.step(); step += 1
        total += loss.detach() * x.shape[0]
    loss = total.item() / n_users  # reading the sum waits for the epoch's last step
    sync(); times.append(time.perf_counter() - t); losses.append(loss)
    print(f"epoch {ep + 1}/{epochs}: {times[-1]:.3f} s, loss {loss:.4f}", flush=True)

steady = times[1:] or times
per_epoch = float(np.median(steady))
print(f"seconds per epoch (median after the first): {per_epoch:.3f}")
if out:
    report = {"impl": "pytorch", "device": str(dev), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
              "users": n_users, "items": n_items, "nnz": int(X.nnz), "batch_size": BS,
              "load_s": load_s, "epoch_s": times, "loss": losses, "seconds_per_epoch": per_epoch}
    with open(out + ".tmp", "w") as f:
        json.dump(report, f, indent=1)
    import os; os.replace(out + ".tmp", out)
