#!/usr/bin/env bash
# Model file v2 at scale (the model-API issue, point 6): a BPR model trained by `recs train`
# on the 20M-row synthetic file, `recs recommend` for one user (wall seconds, peak RSS), and
# a 100M-draw synthetic model (1M users x 200k items) written and read through the registry.
# Everything it writes goes under ${TMPDIR:-/tmp}/recs-modelfile-v2; nothing enters the repo.
# Usage: bash benchmarks/modelfile-v2.sh   (about 10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${TMPDIR:-/tmp}/recs-modelfile-v2"
mkdir -p "$work"
cargo build --release -q -p recs-cli --bin recs
cargo build --release -q -p recs-data --example load_bench
cargo build --release -q -p recs-registry --example modelfile_scale
recs=target/release/recs
csv="$work/synthetic-20m.csv"
[ -f "$csv" ] || target/release/examples/load_bench "$csv" 20000000 no-timestamps
model="$work/bpr-20m.recs"
/usr/bin/time -f "train: %e s wall, %M KiB peak RSS" \
  "$recs" train --model bpr --input "$csv" --epochs 3 --quiet --out "$model"
ls -l "$model"
user=$(sed -n 2p "$csv" | cut -d, -f1)
for run in 1 2 3; do
  /usr/bin/time -f "recommend (run $run): %e s wall, %M KiB peak RSS" \
    "$recs" recommend --model "$model" --user "$user" -k 10 > "$work/recommend.txt"
done
cat "$work/recommend.txt"
/usr/bin/time -f "modelfile_scale: %e s wall, %M KiB peak RSS" \
  target/release/examples/modelfile_scale 1000000 200000 100000000 32
