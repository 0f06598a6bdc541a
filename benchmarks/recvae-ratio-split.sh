#!/usr/bin/env bash
# RecVAE per epoch on a random 75 % of ml-100k: Cornac's own `fit` as users run it (its 50
# epochs each end with an NDCG@100 over the training users), then `recs train` on the same
# rows at the same defaults (no validation, 50 epochs). Run on an idle machine.
# Usage: bash benchmarks/recvae-ratio-split.sh [PYTHON] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/recs-peers/bin/python}"
data="${2:-../shared/datasets}"
out="$(mktemp -d "${TMPDIR:-/tmp}/recvae-ratio-XXXXXX")"
trap 'rm -rf "$out"' EXIT
cargo build --release -q -p recs-cli
target="${CARGO_TARGET_DIR:-target}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" benchmarks/recvae-ratio-split.py "$data" "$out/train.csv"
"$target/release/recs" train --model recvae --input "$out/train.csv" --split none --out "$out/m.recs"
