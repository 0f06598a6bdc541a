"""Cornac's RecVAE as shipped (its own `fit`: 50 epochs, each followed by its NDCG@100 over
the training users) on a random 75 % of ml-100k, seconds per epoch; writes the same training
rows as CSV for `recs train --input … --split none` (benchmarks/recvae-ratio-split.sh).
Usage: python recvae-ratio-split.py DATA_DIR OUT_CSV [SEED=42]
"""
import sys, time
import numpy as np, pandas as pd, torch
import cornac
from cornac.eval_methods import RatioSplit
from cornac.models import RecVAE

d, out = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
df = pd.read_csv(f"{d}/ml-100k/u.data", sep="\t", names=["u", "i", "r", "t"])
triples = list(zip(df.u.astype(str), df.i.astype(str), df.r.astype(float)))
rs = RatioSplit(triples, test_size=0.25, seed=seed, exclude_unknowns=True, verbose=False)
train = rs.train_set
uid = {v: k for k, v in train.uid_map.items()}
iid = {v: k for k, v in train.iid_map.items()}
u, i, r = train.uir_tuple
pd.DataFrame({"user": [uid[x] for x in u], "item": [iid[x] for x in i], "rating": r}).to_csv(out, index=False)
m = RecVAE(seed=seed, use_gpu=False)
t = time.perf_counter()
m.fit(train)
s = time.perf_counter() - t
print(f"Cornac {cornac.__version__} RecVAE fit as shipped on {train.num_users} users x {train.num_items} items "
      f"({len(u)} ratings), torch {torch.__version__} {torch.get_num_threads()} threads: {s:.1f} s, "
      f"{s / m.n_epochs:.3f} s per epoch")
