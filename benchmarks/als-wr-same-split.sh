#!/usr/bin/env bash
# recs' ALS (λ as given, and ALS-WR's λ scaled by each row's count; CG and the exact solve)
# beside Spark MLlib's implicit ALS on one seeded split of ml-100k, one after the other on an
# idle machine. Needs a venv with the recs wheel (`pip install ./crates/recs-py`) and one
# with pyspark, pandas, numpy and scipy (Java 17 on the PATH); nothing enters the repo.
# Usage: bash benchmarks/als-wr-same-split.sh RECS_PYTHON SPARK_PYTHON [ML100K_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
recs_py="$1"; spark_py="$2"; data="${3:-../shared/datasets/ml-100k}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$recs_py" benchmarks/als-wr-same-split.py "$data" recs
PYSPARK_PYTHON="$spark_py" "$spark_py" benchmarks/als-wr-same-split.py "$data" spark
