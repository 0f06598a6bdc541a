#!/usr/bin/env bash
# RecVAE on ml-100k's held-out-users protocol (`recvae-ml100k`), recs beside Cornac's RecVAE on
# the same split, and recs' Mult-VAE on it: test Recall@20, Recall@50, NDCG@100 (mean ± sd
# over seeds 1-5) and train seconds per epoch. Run on an idle machine; nothing enters the repo.
# Usage: bash benchmarks/recvae-same-split.sh [PYTHON] [DATA_DIR]
#   (defaults: $HOME/recs-peers/bin/python, ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/recs-peers/bin/python}"
data="${2:-../shared/datasets}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
RECS_DATA_MIRROR="$data" cargo xtask reproduce recvae-ml100k --seed 1 --seeds 5
RECS_DATA_MIRROR="$data" cargo xtask reproduce multvae-ml100k --seed 1 --seeds 5
"$py" benchmarks/recvae-same-split.py "$data" --shipped 1 2 3 4 5
