#!/usr/bin/env bash
# Memory of N `recs serve` processes serving one model file at once, each after 200
# recommendations (seen items excluded) for users spread over the model: the sum of their PSS
# (/proc/PID/smaps_rollup) and of their RSS, the file read into each process (the default)
# and mapped (`--mmap`).
# Usage: bash benchmarks/mmap-pss-serve.sh RECS_BINARY MODEL.recs USER_IDS.npy PYTHON
set -euo pipefail
recs="$1"; model="$2"; ids="$3"; py="$4"
for n in 1 4; do
  for mode in read mapped; do
    pids=()
    for i in $(seq 1 "$n"); do
      flag=$([ "$mode" = mapped ] && echo --mmap || true)
      "$recs" serve --model "$model" $flag \
        --addr "127.0.0.1:$((18800 + i))" --threads 1 >/dev/null 2>&1 &
      pids+=($!)
    done
    "$py" - "$n" "$ids" <<'PY'
import sys, time, urllib.request, numpy as np
n, ids = int(sys.argv[1]), np.load(sys.argv[2])
for i in range(1, n + 1):
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{18800 + i}/healthz", timeout=1).read()
            break
        except Exception:
            time.sleep(0.1)
    for u in ids[:: max(1, len(ids) // 200)][:200]:
        urllib.request.urlopen(f"http://127.0.0.1:{18800 + i}/v1/recommend?user={u}&k=10").read()
PY
    pss=0; rss=0
    for p in "${pids[@]}"; do
      pss=$((pss + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup)))
      rss=$((rss + $(awk '/^Rss:/ {print $2}' /proc/$p/smaps_rollup)))
    done
    echo "recs serve, $mode, $n process(es): PSS $((pss / 1024)) MiB in all ($((pss / 1024 / n)) each), RSS $((rss / 1024)) MiB in all"
    kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  done
done
