#!/usr/bin/env bash
# RecVAE at the ml-20m shape (multvae_scale's generator: 136,677 users × 20,108 items, 10M
# draws), recs' native engine beside Cornac's RecVAE (CPU) on the same file: seconds per
# epoch (3 encoder passes + 1 decoder pass, Cornac's defaults, batch 500) and peak RSS (GNU
# time's maximum resident set). Run on an idle machine; nothing enters the repo.
# Usage: bash benchmarks/recvae-scale.sh [PYTHON] [RECS_EPOCHS] [CORNAC_EPOCHS]
#   (defaults: $HOME/recs-peers/bin/python, 2, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/recs-peers/bin/python}"
recs_epochs="${2:-2}"
cornac_epochs="${3:-1}"
csv="${TMPDIR:-/tmp}/recs-recvae-scale.csv"
cargo build --release -q -p recs-vae --example multvae_scale
target="${CARGO_TARGET_DIR:-target}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "recs peak RSS %M KiB, %e s wall" \
  "$target/release/examples/multvae_scale" --model recvae --epochs "$recs_epochs" --csv "$csv"
/usr/bin/time -f "cornac peak RSS %M KiB, %e s wall" \
  "$py" benchmarks/recvae_cornac_scale.py "$csv" "$cornac_epochs"
