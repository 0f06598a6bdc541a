#!/usr/bin/env bash
# RP3beta and SAR side by side with their peers on the `bpr-ml100k` split (ml-100k, random
# 75/25, seed 42): recs' `graph_same_split` example writes the split's rows, its top-10 lists
# and fit times; `graph-same-split.py` fits `graph_peers.py`'s RP3beta and Microsoft
# Recommenders' SAR on the same rows and compares lists, metrics and times. Run on an idle
# machine; nothing enters the repo.
# Usage: bash benchmarks/graph-same-split.sh [PYTHON] [DATA_DIR] [REPS]
#   (defaults: $HOME/recs-peers-msr/bin/python, ../shared/datasets, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/recs-peers-msr/bin/python}"
data="${2:-../shared/datasets}"
reps="${3:-5}"
out="$(mktemp -d "${TMPDIR:-/tmp}/graph-same-split-XXXXXX")"
trap 'rm -rf "$out"' EXIT
cargo build --release -q -p recs-neighbors --example graph_same_split
target="${CARGO_TARGET_DIR:-target}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$target/release/examples/graph_same_split" "$data" "$out" "$reps" 2
"$py" benchmarks/graph-same-split.py "$out" "$reps"
