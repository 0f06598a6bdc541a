#!/usr/bin/env bash
# recs on Ray and on Spark beside recs in one process, and recs' ALS on Ray beside Spark
# MLlib's, one after the other on an idle 2-core machine (benchmarks/beyond-one-machine.py
# says what each step measures). Needs one venv with `pip install './crates/recs-py[ray,spark]'`
# and a Java runtime; the 20M-row synthetic file that benchmarks/loader.sh writes
# (${TMPDIR:-/tmp}/recs-loader/synthetic-20000000.csv); nothing enters the repo.
# Usage: bash benchmarks/beyond-one-machine.sh PYTHON SYNTHETIC_20M_CSV [WORK_DIR] [ML100K_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
py="$1"; src="$2"; work="${3:-/tmp/recs-beyond}"; ml="${4:-../shared/datasets/ml-100k}"
export PYSPARK_PYTHON="$py" RAY_USAGE_STATS_ENABLED=0
b=benchmarks/beyond-one-machine.py
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f "$work/full.npz" ] || "$py" $b prepare "$src" "$work"
for w in recs ray spark; do "$py" $b als "$work" $w; done
for w in recs ray spark; do "$py" $b quality "$ml" $w; done
[ -f "$work/full-als.recs" ] || "$py" $b model "$work"
for w in one ray spark; do "$py" $b batch "$work" $w; done
