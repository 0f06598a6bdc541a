"""Cornac's RecVAE seconds per epoch and peak RSS on the file `multvae_scale --model recvae`
generated (the ml-20m shape: 136,677 users x 20,108 items, 10M draws), for
benchmarks/recvae-scale.sh.

It reads the `user,item,rating,timestamp` CSV, numbers users and items in order of first
appearance (as recs' loader does, so both train on the same matrix), binarises it (every
distinct pair is a 1) and runs Cornac's training step (`RecVAE.run`, Cornac's code) in
Cornac's epoch loop (3 encoder passes, `update_prior`, 1 decoder pass) at Cornac's defaults,
timing each epoch; Cornac's `fit` would also score every training user after each epoch, which
is left out here. Usage: python recvae_cornac_scale.py CSV [EPOCHS=1] [SEED=0]
"""
import resource, sys, time
import numpy as np, pandas as pd, scipy.sparse as sp, torch
import cornac
from cornac.models import RecVAE
from cornac.models.recvae.recvae import VAE

path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
t0 = time.perf_counter()
df = pd.read_csv(path, usecols=[0, 1], dtype=str).drop_duplicates()
train_set = cornac.data.Dataset.from_uir(list(zip(df.iloc[:, 0], df.iloc[:, 1], np.ones(len(df)))), seed=seed)
print(f"{path}: {train_set.num_users} users x {train_set.num_items} items, {train_set.num_ratings} pairs "
      f"(loaded in {time.perf_counter() - t0:.1f} s); Cornac {cornac.__version__} RecVAE, torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads", flush=True)
m = RecVAE(seed=seed, use_gpu=False)
torch.manual_seed(seed)
vae = VAE(hidden_dim=m.hidden_dim, latent_dim=m.latent_dim, input_dim=train_set.num_items)
opt_enc = torch.optim.Adam(list(vae.encoder.parameters()), lr=m.lr)
opt_dec = torch.optim.Adam(list(vae.decoder.parameters()), lr=m.lr)
kw = dict(model=vae, train_set=train_set, my_batch_size=m.batch_size, beta=m.beta, gamma=m.gamma)
for ep in range(epochs):
    t = time.perf_counter()
    m.run(opts=[opt_enc], n_epochs=m.n_enc_epochs, dropout_rate=0.5, **kw)
    vae.update_prior()
    m.run(opts=[opt_dec], n_epochs=m.n_dec_epochs, dropout_rate=0, **kw)
    print(f"epoch {ep + 1}/{epochs}: {time.perf_counter() - t:.1f} s", flush=True)
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
