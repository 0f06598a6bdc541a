#!/usr/bin/env bash
# RP3beta and SAR at scale, 2 threads: recs on the 20M-row synthetic file (138k users ×
# 26.7k items, `load_bench` generates it), then recs and the peers side by side on every
# EVERY-th user of the same file (by id number) (the peers hold dense items² matrices: graph_peers.py's
# RP3beta builds `W` dense in float64, Recommenders' SAR its similarity dense). Peak memory
# is /usr/bin/time -v's maximum resident set of each whole process, loading included.
# Data stays under ${TMPDIR:-/tmp}; nothing enters the repo.
# Usage: bash benchmarks/graph-scale.sh [CSV] [PYTHON] [EVERY]
#   (defaults: /tmp/synthetic-20m.csv, $HOME/recs-peers-msr/bin/python, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
csv="${1:-${TMPDIR:-/tmp}/synthetic-20m.csv}"
py="${2:-$HOME/recs-peers-msr/bin/python}"
every="${3:-10}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p recs-data --example load_bench
cargo build --release -q -p recs-neighbors --example graph_scale
[ -f "$csv" ] || "$target/release/examples/load_bench" "$csv" 20000000
peer="$(mktemp "${TMPDIR:-/tmp}/graph-peer-XXXXXX.py")"
trap 'rm -f "$peer"' EXIT
cat > "$peer" <<'PY'
import sys, time
import numpy as np, pandas as pd, scipy.sparse as sp
path, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
df = pd.read_csv(path)
df.columns = ["userID", "itemID", "rating", "ts"]
df = df[df.userID.str.lstrip("u").astype(int) % n == 0].drop_duplicates(["userID", "itemID"], keep="last")
df["rating"] = df.rating.astype(np.float32)
t0 = time.perf_counter()
if model == "rp3beta":
    u = df.userID.astype("category").cat.codes.values; i = df.itemID.astype("category").cat.codes.values
    X = sp.csr_matrix((np.ones(len(df)), (u, i)))
    deg_u = np.asarray(X.sum(1)).ravel(); deg_i = np.asarray(X.sum(0)).ravel()
    Pui = sp.diags(1 / np.maximum(deg_u, 1)) @ X
    Piu = sp.diags(1 / np.maximum(deg_i, 1)) @ X.T.tocsr()
    W = (Piu @ Pui).toarray() / np.power(np.maximum(deg_i, 1), 0.6)[None, :]
    np.fill_diagonal(W, 0.0)
    for r in range(W.shape[0]):
        W[r, np.argpartition(-W[r], 100)[100:]] = 0.0
    W = sp.csr_matrix(W)
else:
    from recommenders.models.sar import SAR
    m = SAR(col_user="userID", col_item="itemID", col_rating="rating", col_timestamp="ts",
            similarity_type="jaccard", timedecay_formula=model == "sar-decay", normalize=False)
    m.fit(df[["userID", "itemID", "rating", "ts"]])
print(f"peer {model}: {len(df)} rows, fit {time.perf_counter() - t0:.2f} s", flush=True)
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
run() { /usr/bin/time -v "$@" 2>&1 | grep -E "^(recs|peer|loaded)|Maximum resident" ; }
for m in rp3beta sar sar-decay; do run "$target/release/examples/graph_scale" "$csv" "$m" 2; done
for m in rp3beta sar sar-decay; do
  run "$target/release/examples/graph_scale" "$csv" "$m" 2 "$every"
  OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 run "$py" "$peer" "$csv" "$m" "$every"
done
