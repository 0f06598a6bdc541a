# Memory of N Python workers serving one model file at once: each loads the model and ranks
# 2,000 users with their training items filtered (touching every factor page), then all report their RSS and PSS
# (/proc/self/smaps_rollup: PSS divides each shared page among the processes that map it)
# while all are alive. RECS_MMAP=0 reads the file into each worker's memory (how model files
# were opened before they were mapped); otherwise the file is mapped and the factors are
# read in place, one copy in the page cache for every worker.
# Usage: python mmap-pss.py MODEL.recs WORKERS mapped|read
import multiprocessing as mp
import os
import sys


def rollup():
    out = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if parts[0] in ("Rss:", "Pss:", "Pss_File:", "Pss_Anon:", "Shared_Clean:"):
            out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return out


def worker(path, mode, barrier, queue):
    os.environ["RECS_MMAP"] = "0" if mode == "read" else "1"
    import numpy as np

    import recs

    recs.set_num_threads(1)
    m = recs.load(path)
    users = np.arange(0, m._fitted().n_users, max(1, m._fitted().n_users // 2000))
    # what the batch workers do: each user's training items filter, as the model records them
    m._fitted().recommend(users, 10, own_seen=True)
    barrier.wait()
    queue.put(rollup())
    barrier.wait()


if __name__ == "__main__":
    path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(path, mode, barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    rows = [queue.get() for _ in range(n)]
    for p in procs:
        p.join()
    pss = sum(r["Pss"] for r in rows)
    rss = sum(r["Rss"] for r in rows)
    anon = sum(r.get("Pss_Anon", 0) for r in rows)
    filed = sum(r.get("Pss_File", 0) for r in rows)
    print(f"{mode:<6} {n} worker(s): PSS {pss:7.0f} MiB in all ({pss / n:5.0f} each: "
          f"{anon / n:4.0f} private memory, {filed / n:4.0f} file pages), RSS {rss:7.0f} MiB "
          f"in all; file {os.path.getsize(path) / 2**20:.0f} MiB", flush=True)
