#!/usr/bin/env bash
# recs-neighbors at scale, on 2 threads:
#  - ItemKNN BM25 (K 100) on the 20M-row synthetic file (138k users × 26.7k items, ≈12M
#    distinct pairs; `load_bench` generates it), beside implicit's BM25Recommender on the
#    same file, binarized the same way, one process each, back to back;
#  - EASE on 20,000 items (ml-20m's item count after Steck's filtering): a seeded power-law
#    matrix from recs-data's generator, 138,493 users, 10M draws, f32 (and f64 when asked).
# Fit seconds are printed by each program; peak memory is /usr/bin/time -v's maximum
# resident set (the whole process: loading included) and the programs' own VmHWM lines.
# Data stays under ${TMPDIR:-/tmp}; nothing enters the repo.
# Usage: bash benchmarks/neighbors-scale.sh [CSV] [PYTHON] [EASE_DTYPES]
#   (defaults: /tmp/synthetic-20m.csv, /tmp/recs-venv/bin/python, "f32")
set -euo pipefail
cd "$(dirname "$0")/.."
csv="${1:-${TMPDIR:-/tmp}/synthetic-20m.csv}"
py="${2:-/tmp/recs-venv/bin/python}"
dtypes="${3:-f32}"
cargo build --release -q -p recs-data --example load_bench
cargo build --release -q -p recs-neighbors --example itemknn_scale --example ease_scale
[ -f "$csv" ] || target/release/examples/load_bench "$csv" 20000000
peer="$(mktemp "${TMPDIR:-/tmp}/bm25-peer-XXXXXX.py")"
trap 'rm -f "$peer"' EXIT
cat > "$peer" <<'PY'
import resource, sys, time
import numpy as np, pandas as pd, scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1], usecols=[0, 1])
u = df.iloc[:, 0].astype("category").cat.codes.values; i = df.iloc[:, 1].astype("category").cat.codes.values
X = sp.csr_matrix((np.ones(len(df), dtype=np.float32), (u, i)))
X.sum_duplicates(); X.data[:] = 1.0
del df, u, i
print(f"loaded {X.shape[0]} users x {X.shape[1]} items, nnz {X.nnz} in {time.perf_counter()-t0:.1f} s", flush=True)
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
m = BM25Recommender(K=100, K1=1.2, B=0.75, num_threads=2)
t0 = time.perf_counter(); m.fit(X, show_progress=False); t = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"implicit BM25Recommender K 100: fit {t:.2f} s (2 threads), similarity nnz {m.similarity.nnz}, peak RSS {peak:.0f} MiB (after loading {loaded:.0f} MiB)", flush=True)
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in 1 2; do
  /usr/bin/time -v target/release/examples/itemknn_scale "$csv" bm25 100 2 2>&1 \
    | grep -E "recs ItemKNN|loaded|Maximum resident"
  /usr/bin/time -v "$py" "$peer" "$csv" 2>&1 | grep -E "implicit BM25|loaded|Maximum resident"
done
for dtype in $dtypes; do
  /usr/bin/time -v target/release/examples/ease_scale 20000 "$dtype" 2 10000000 2>&1 \
    | grep -E "recs EASE|generated|Maximum resident"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
