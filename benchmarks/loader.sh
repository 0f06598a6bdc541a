#!/usr/bin/env bash
# The delimited loader before and after the csv crate, and Parquet, on the same 20M-row
# synthetic data: user, item, rating read (the timestamp column skipped), one
# process per load, old and new back to back, each measured three times.
# Data goes under ${TMPDIR:-/tmp}/recs-loader (≈ 420 MB CSV + the Parquet file); nothing
# enters the repo. Usage: bash benchmarks/loader.sh [ROWS]   (about 5 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-20000000}"
work="${TMPDIR:-/tmp}/recs-loader"
mkdir -p "$work"
cargo build --release -q -p recs-data --example loader_bench
bench=target/release/examples/loader_bench
csv="$work/synthetic-$rows.csv"
pq="$work/synthetic-$rows.parquet"
[ -f "$csv" ] && [ -f "$pq" ] || "$bench" gen "$csv" "$pq" "$rows"
ls -l "$csv" "$pq"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in 1 2 3; do
  for mode in old new; do "$bench" "$mode" "$csv"; done
  "$bench" parquet "$pq"
done
"$bench" file "$csv"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
