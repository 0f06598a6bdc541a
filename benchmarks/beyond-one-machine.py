# recs on Ray and Spark beside recs in one process (and Spark MLlib's ALS), 2 cores:
#
#   prepare SRC OUT_DIR          the first 5M rows of the 20M-row synthetic file, deduplicated
#                                (user,item as integers: every engine sees the same matrix),
#                                and the whole 20M file as a CSR .npz
#   als OUT_DIR recs|ray|spark   ALS k 64, 3 iterations, λ 0.01 (ALS-WR: scaled by each row's
#                                count, as Spark's), α 1 on the 5M file: seconds per iteration
#   quality ML100K recs|ray|spark  the same settings on one seeded split of ml-100k (numpy's
#                                default_rng(42), 75 % to train): MAP and NDCG@10, top 10 with
#                                seen items excluded, computed the same way for all three
#   model OUT_DIR                an ALS model (k 64, 3 iterations) of the 20M file, saved
#   batch OUT_DIR one|ray|spark  top 10 for every user of that model: users/s, and the peak RSS
#                                of each worker process (sampled from /proc every 0.2 s)
#
# Usage: see benchmarks/beyond-one-machine.sh (one venv with recs[ray,spark]).
import os
import sys
import threading
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

K, ITERS, REG, ALPHA = 64, 3, 0.01, 1.0


def ints(col):
    return pd.to_numeric(col.astype(str).str.replace(r"[^0-9]", "", regex=True)).astype(np.int64)


def prepare(src, out):
    os.makedirs(out, exist_ok=True)
    df = pd.read_csv(src, usecols=[0, 1], nrows=5_000_000)
    df = pd.DataFrame({"user": ints(df.iloc[:, 0]), "item": ints(df.iloc[:, 1])}).drop_duplicates()
    df.to_csv(f"{out}/als-5m-dedup.csv", index=False)
    print(f"5M rows -> {len(df)} distinct pairs, {df.user.nunique()} users, {df.item.nunique()} items")
    full = pd.read_csv(src, usecols=[0, 1])
    u, uid = pd.factorize(full.iloc[:, 0])
    i, iid = pd.factorize(full.iloc[:, 1])
    m = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(uid), len(iid)))
    m.sum_duplicates()
    m.data[:] = 1.0
    sp.save_npz(f"{out}/full.npz", m)
    np.save(f"{out}/full-users.npy", np.asarray(uid, dtype=str))
    np.save(f"{out}/full-items.npy", np.asarray(iid, dtype=str))
    print(f"20M rows -> {m.shape[0]} users x {m.shape[1]} items, {m.nnz} distinct pairs")


def matrix_5m(out):
    df = pd.read_csv(f"{out}/als-5m-dedup.csv")
    u, _ = pd.factorize(df.user)
    i, _ = pd.factorize(df.item)
    return sp.csr_matrix((np.ones(len(df), np.float32), (u, i)), shape=(u.max() + 1, i.max() + 1)), df


def ray_init():
    import ray

    ray.init(num_cpus=2, object_store_memory=4 * 2**30, include_dashboard=False,
             log_to_driver=False)
    return ray


def spark_session(mem="12g"):
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", mem).config("spark.sql.shuffle.partitions", "4")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    return s


def fit(which, X, rows=None):
    """(U, V, seconds per iteration) of ALS on X with the settings above."""
    if which in ("recs", "ray"):
        import recs

        params = dict(factors=K, iterations=ITERS, regularization=REG, alpha=ALPHA,
                      reg_scaling="count", init="normal", random_state=1)
        if which == "recs":
            ends = []
            t0 = time.perf_counter()
            m = recs.ALS(num_threads=2, **params).fit(
                X, show_progress=False, callback=lambda e, elapsed, loss: ends.append(elapsed))
            secs = (time.perf_counter() - t0) / ITERS
            its = np.diff([0.0] + ends)
            print(f"  one process: setup {time.perf_counter() - t0 - ends[-1]:.2f} s, per "
                  "iteration " + ", ".join(f"{s:.2f}" for s in its) + f" s (mean {its.mean():.2f})")
        else:
            import recs.ray

            ray = ray_init()
            # Twice in one Ray session: the first fit starts the workers (each imports
            # recs), the second finds them running, as every later fit on a cluster does.
            for run in ("first fit", "second fit"):
                t0 = time.perf_counter()
                m = recs.ray.ALS(num_cpus=1, **params).fit(X, show_progress=False)
                secs = (time.perf_counter() - t0) / ITERS
                its = np.array(m.fit_info["seconds_per_iteration"])
                print(f"  Ray, {run}: {m.fit_info['blocks']} blocks, {secs:.2f} s/iteration "
                      f"(fit ÷ {ITERS}), setup {m.fit_info['setup_seconds']:.2f} s, per iteration "
                      + ", ".join(f"{s:.2f}" for s in its) + f" s (mean {its.mean():.2f})")
            ray.shutdown()
        return m.user_factors, m.item_factors, secs
    from pyspark.ml.recommendation import ALS

    s = spark_session()
    if rows is None:
        r, c = X.nonzero()
        rows = pd.DataFrame({"user": r.astype(np.int32), "item": c.astype(np.int32)})
    sdf = s.createDataFrame(rows.assign(r=1.0)).repartition(4).cache()
    sdf.count()
    t0 = time.perf_counter()
    model = ALS(rank=K, maxIter=ITERS, regParam=REG, alpha=ALPHA, implicitPrefs=True,
                userCol="user", itemCol="item", ratingCol="r", seed=1, numUserBlocks=4,
                numItemBlocks=4).fit(sdf)
    Uf = model.userFactors.toPandas()
    Vf = model.itemFactors.toPandas()
    secs = (time.perf_counter() - t0) / ITERS
    s.stop()
    U = np.zeros((X.shape[0], K), np.float32)
    V = np.zeros((X.shape[1], K), np.float32)
    U[Uf.id.values] = np.stack(Uf.features)
    V[Vf.id.values] = np.stack(Vf.features)
    return U, V, secs


def als(out, which):
    X, df = matrix_5m(out)
    rows = None
    if which == "spark":
        u, _ = pd.factorize(df.user)
        i, _ = pd.factorize(df.item)
        rows = pd.DataFrame({"user": u.astype(np.int32), "item": i.astype(np.int32)})
    _, _, secs = fit(which, X, rows)
    print(f"ALS {which:<6} {X.nnz} pairs, k {K}: {secs:.2f} s/iteration", flush=True)


def quality(src, which):
    df = pd.read_csv(f"{src}/u.data", sep="\t", names=["user", "item", "rating", "ts"])
    rng = np.random.default_rng(42)
    mask = rng.random(len(df)) < 0.75
    train, test = df[mask], df[~mask]
    users = np.sort(df.user.unique())
    items = np.sort(df.item.unique())
    ui = {u: i for i, u in enumerate(users)}
    ii = {v: i for i, v in enumerate(items)}
    X = sp.csr_matrix((np.ones(len(train), np.float32), (train.user.map(ui), train.item.map(ii))),
                      shape=(len(users), len(items)))
    U, V, _ = fit(which, X)
    S = U.astype(np.float64) @ V.T.astype(np.float64)
    S[X.nonzero()] = -np.inf
    aps, nd = [], []
    for u, rel in test.groupby("user")["item"].apply(set).items():
        top = [items[j] for j in np.argsort(-S[ui[u]], kind="stable")[:10]]
        hits = [1 if i in rel else 0 for i in top]
        prec = [sum(hits[:k + 1]) / (k + 1) for k in range(len(hits)) if hits[k]]
        aps.append(sum(prec) / len(rel))
        dcg = sum(h / np.log2(k + 2) for k, h in enumerate(hits))
        nd.append(dcg / sum(1 / np.log2(k + 2) for k in range(min(len(rel), 10))))
    print(f"ml-100k {which:<6} k {K}, {ITERS} iterations: MAP {np.mean(aps):.4f}  "
          f"NDCG@10 {np.mean(nd):.4f}", flush=True)


def model(out):
    import recs

    X = sp.load_npz(f"{out}/full.npz").tocsr()
    uid = np.load(f"{out}/full-users.npy")
    iid = np.load(f"{out}/full-items.npy")
    t0 = time.perf_counter()
    m = recs.ALS(factors=K, iterations=ITERS, random_state=1).fit(
        X, show_progress=False, user_ids=uid, item_ids=iid)
    m.save(f"{out}/full-als.recs")
    print(f"model: {X.shape[0]} users x {X.shape[1]} items, fit {time.perf_counter() - t0:.1f} s, "
          f"file {os.path.getsize(f'{out}/full-als.recs') / 2**20:.0f} MiB")


class Peaks:
    """The peak RSS of every process whose command line matches, sampled from /proc."""

    def __init__(self, pattern):
        self.pattern, self.peak, self.stop = pattern, {}, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
                    if self.pattern(cmd, int(pid)):
                        for line in open(f"/proc/{pid}/status"):
                            if line.startswith("VmRSS:"):
                                kb = int(line.split()[1])
                                self.peak[pid] = max(self.peak.get(pid, 0), kb)
                except OSError:
                    pass
            time.sleep(0.2)

    def done(self):
        self.stop = True
        self.t.join()
        return sorted(v / 2**10 for v in self.peak.values())


def batch(out, which):
    import recs

    path = f"{out}/full-als.recs"
    uid = np.load(f"{out}/full-users.npy")
    me = os.getpid()
    if which == "one":
        peaks = Peaks(lambda cmd, pid: pid == me)
        m = recs.load(path)
        X = m.user_items
        t0 = time.perf_counter()
        n = 0
        for a in range(0, len(uid), 4096):
            idx = np.arange(a, min(a + 4096, len(uid)))
            m.recommend(idx, X[idx], N=10)
            n += len(idx)
        secs = time.perf_counter() - t0
    elif which == "ray":
        import recs.ray

        ray = ray_init()
        peaks = Peaks(lambda cmd, pid: "MapWorker" in cmd or "_Actor" in cmd)
        t0 = time.perf_counter()
        n = recs.ray.recommend(list(uid), path, k=10, concurrency=2, num_cpus=1).count() // 10
        secs = time.perf_counter() - t0
        ray.shutdown()
    else:
        import recs.spark

        s = spark_session("4g")
        peaks = Peaks(lambda cmd, pid: "pyspark.daemon" in cmd or "pyspark.worker" in cmd)
        users = s.createDataFrame(pd.DataFrame({"user": uid})).repartition(8)
        users.count()
        t0 = time.perf_counter()
        n = recs.spark.recommend(users, path, k=10).count() // 10
        secs = time.perf_counter() - t0
        s.stop()
    rss = peaks.done()
    print(f"batch {which:<5} top 10 for {n} users: {secs:.1f} s = {n / secs:,.0f} users/s; "
          f"peak RSS per worker (MiB): {', '.join(f'{r:.0f}' for r in rss)}", flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"prepare": lambda: prepare(sys.argv[2], sys.argv[3]),
     "als": lambda: als(sys.argv[2], sys.argv[3]),
     "quality": lambda: quality(sys.argv[2], sys.argv[3]),
     "model": lambda: model(sys.argv[2]),
     "batch": lambda: batch(sys.argv[2], sys.argv[3])}[cmd]()
