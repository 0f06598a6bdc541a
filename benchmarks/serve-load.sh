#!/usr/bin/env bash
# Load benchmark of `recs serve` (a benchmark, not a test): wrk on loopback, client and
# server on the same 2 cores, each run bounded in time (wrk -d) and so in request count.
#
#   benchmarks/serve-load.sh [ml100k|foldin|20m|soak|burst|all]   (default: ml100k foldin)
#
# Installs wrk outside the repository (apt-get), builds `recs` in release mode, trains the
# models under $WORK (default /tmp/recs-serve-bench), and prints wrk's latency
# distribution plus the server's RSS. Data: ml-100k through $RECS_DATA_DIR /
# $RECS_DATA_MIRROR as everywhere; the 20M synthetic file from recs-data's load_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/recs-serve-bench}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-64}
SOAK_SECONDS=${SOAK_SECONDS:-180}
mkdir -p "$WORK"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# RECS_BIN=target/debug/recs uses the dev build (opt-level 2, dependencies 3) instead
if [ -n "${RECS_BIN:-}" ]; then RECS=$(realpath "$RECS_BIN"); else
  cargo build --release -q -p recs-cli; RECS=$PWD/target/release/recs; fi
PORT=${PORT:-18480}
BASE=http://127.0.0.1:$PORT

start_server() { # args: model flags…; sets SERVER_PID, prints startup time
  local t0; t0=$(date +%s.%N)
  "$RECS" serve --addr 127.0.0.1:$PORT "$@" > "$WORK/serve.out" 2> "$WORK/serve.err" &
  SERVER_PID=$!
  until grep -q listening "$WORK/serve.out" 2>/dev/null; do
    kill -0 $SERVER_PID 2>/dev/null || { cat "$WORK/serve.err"; exit 1; }
    sleep 0.05
  done
  echo "startup (process start to listening): $(echo "$(date +%s.%N) - $t0" | bc) s"
  echo "RSS after start: $(rss) MiB"
}
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$SERVER_PID/status; }
stop_server() { kill -TERM $SERVER_PID; wait $SERVER_PID || true; }

# A wrk script: GET /v1/recommend?k=10 for a user drawn at random from the model's ids.
users_lua() { # $1 model file -> $WORK/users.lua
  curl -s "$BASE/v1/models" > /dev/null
  python3 - "$1" > "$WORK/users.lua" <<'PY'
import json, struct, sys
# the user ids are a tensor of the model file (safetensors: u64 header length, JSON header)
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
def tensor(name):
    t = h[name]; a, b = t['data_offsets']; f.seek(8 + n + a); return f.read(b - a)
raw = tensor('data.user_ids'); offs = struct.unpack('<%dQ' % (len(tensor('data.user_ids.offsets')) // 8), tensor('data.user_ids.offsets'))
ids = [raw[offs[i]:offs[i + 1]].decode() for i in range(len(offs) - 1)]
print('local ids = {' + ','.join('"%s"' % i for i in ids[:200000]) + '}')
print('math.randomseed(42)')
print('request = function() return wrk.format("GET", "/v1/recommend?k=10&user=" .. ids[math.random(#ids)]) end')
print('done = function(summary, latency, requests) io.write(string.format("p50 %.3f ms  p99 %.3f ms  max %.3f ms  errors %d non2xx %d\\n", latency:percentile(50)/1000, latency:percentile(99)/1000, latency.max/1000, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status)) end')
PY
}

ml100k() {
  echo "== BPR on ml-100k: GET /v1/recommend?k=10, $CONNS connections, $DURATION"
  [ -f "$WORK/bpr.recs" ] || "$RECS" train --model bpr --dataset ml-100k --quiet --out "$WORK/bpr.recs" >/dev/null
  start_server --model "$WORK/bpr.recs"
  users_lua "$WORK/bpr.recs"
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/users.lua" "$BASE"
  echo "RSS after load: $(rss) MiB"
  stop_server
}

foldin() {
  echo "== Mult-VAE on ml-100k: POST /v1/recommend fold-in (20 items), $CONNS connections, $DURATION"
  [ -f "$WORK/multvae.recs" ] || "$RECS" train --model multvae --dataset ml-100k --quiet --out "$WORK/multvae.recs" >/dev/null
  start_server --model "$WORK/multvae.recs"
  cat > "$WORK/foldin.lua" <<'LUA'
math.randomseed(7)
request = function()
  local t = {}
  for i = 1, 20 do t[i] = '"' .. math.random(1682) .. '"' end
  return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"}, '{"items": [' .. table.concat(t, ",") .. '], "k": 10}')
end
done = function(summary, latency, requests) io.write(string.format("p50 %.3f ms  p99 %.3f ms  max %.3f ms  errors %d non2xx %d\n", latency:percentile(50)/1000, latency:percentile(99)/1000, latency.max/1000, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status)) end
LUA
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/foldin.lua" "$BASE"
  echo "RSS after load: $(rss) MiB"
  stop_server
}

big() {
  echo "== BPR on the 20M-interaction synthetic file: startup, RSS, GET /v1/recommend?k=10"
  local csv=${SYNTH:-/tmp/synthetic-20m.csv}
  [ -f "$csv" ] || cargo run --release -q -p recs-data --example load_bench -- "$csv"
  [ -f "$WORK/bpr-20m.recs" ] || "$RECS" train --model bpr --input "$csv" --split none --epochs 1 --quiet --out "$WORK/bpr-20m.recs"
  ls -la "$WORK/bpr-20m.recs"
  start_server --model "$WORK/bpr-20m.recs"
  users_lua "$WORK/bpr-20m.recs"
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/users.lua" "$BASE"
  echo "RSS after load: $(rss) MiB"
  stop_server
}

soak() {
  echo "== soak: BPR ml-100k, $SOAK_SECONDS s of GETs at 16 connections, a reload every 3 s"
  [ -f "$WORK/bpr.recs" ] || "$RECS" train --model bpr --dataset ml-100k --quiet --out "$WORK/bpr.recs" >/dev/null
  cp "$WORK/bpr.recs" "$WORK/live.recs"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/admin.token"
  start_server --model "$WORK/live.recs" --admin-token-file "$WORK/admin.token"
  users_lua "$WORK/live.recs"
  wrk -t1 -c16 -d"${SOAK_SECONDS}s" --latency -s "$WORK/users.lua" "$BASE" > "$WORK/soak.wrk" &
  local w=$! n=0 failed=0 r
  while kill -0 $w 2>/dev/null; do
    sleep 3
    r=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $(cat "$WORK/admin.token")" "$BASE/v1/reload" || true)
    [ "$r" = 200 ] || failed=$((failed + 1))
    n=$((n + 1))
    [ $((n % 10)) = 0 ] && echo "  after $n reloads: RSS $(rss) MiB"
  done
  cat "$WORK/soak.wrk"
  echo "reloads: $n, failed: $failed; RSS at the end: $(rss) MiB"
  curl -s "$BASE/metrics" | grep -E '^recs_(model_reloads_total|http_request_errors_total)'
  stop_server
}

# ids of a model file (its `data.user_ids` tensor), one per line, to $WORK/ids.txt
model_ids() {
  python3 - "$1" > "$WORK/ids.txt" <<'PY'
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
def tensor(name):
    t = h[name]; a, b = t['data_offsets']; f.seek(8 + n + a); return f.read(b - a)
raw = tensor('data.user_ids'); offs = struct.unpack('<%dQ' % (len(tensor('data.user_ids.offsets')) // 8), tensor('data.user_ids.offsets'))
print('\n'.join(raw[offs[i]:offs[i + 1]].decode() for i in range(len(offs) - 1)))
PY
}
cpu_ticks() { awk '{print $14 + $15}' /proc/$SERVER_PID/stat; }

# A burst of the largest batch requests (1000 users, k 1000) against EASE on ml-latest-small
# (9,066 items: about a second of scoring per request) with --timeout-ms 300: the answers'
# statuses, then 1 s after the burst a simple GET's latency, and the server's CPU in 0.5 s
# windows after the burst (idle is under 5 %); then a second burst with SIGTERM in its
# middle, and how long the server takes to exit.
burst() {
  local small=${SMALL:-../shared/datasets/ml-latest-small-2016/ratings.csv}
  echo "== burst: EASE on ml-latest-small, ${BURST_SECONDS:-20} s of batch POSTs (1000 users, k 1000) at $CONNS connections, --timeout-ms 300"
  [ -f "$WORK/ease-small.recs" ] || "$RECS" train --model ease --input "$small" --split none --quiet --out "$WORK/ease-small.recs" >/dev/null
  start_server --model "$WORK/ease-small.recs" --timeout-ms 300
  model_ids "$WORK/ease-small.recs"
  python3 - "$WORK/ids.txt" > "$WORK/batch.lua" <<'PY'
import json, sys
ids = open(sys.argv[1]).read().split()
users = [ids[i % len(ids)] for i in range(1000)]
body = json.dumps({"users": users, "k": 1000})
print('local body = %s' % json.dumps(body))
print('request = function() return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"}, body) end')
print('local codes = {}')
print('response = function(status, headers, b) codes[status] = (codes[status] or 0) + 1 end')
print('done = function(summary, latency, requests) io.write(string.format("requests %d, p50 %.1f ms, max %.1f ms, socket errors %d, non-2xx %d\\n", summary.requests, latency:percentile(50)/1000, latency.max/1000, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status)) end')
PY
  local first; first=$(head -1 "$WORK/ids.txt")
  wrk -t1 -c"$CONNS" -d"${BURST_SECONDS:-20}s" -s "$WORK/batch.lua" "$BASE"
  local end_ns; end_ns=$(date +%s%N)
  local c0; c0=$(cpu_ticks)
  local hz; hz=$(getconf CLK_TCK)
  for w in 1 2 3 4 5 6; do
    sleep 0.5
    local c1; c1=$(cpu_ticks)
    echo "  CPU $(( (w - 1) * 500 ))-$(( w * 500 )) ms after the burst: $(( (c1 - c0) * 100 * 2 / hz )) % of one core"
    c0=$c1
    [ $w = 2 ] && echo "  a simple GET 1 s after the burst: $(curl -s -o /dev/null -w '%{http_code} in %{time_total} s' "$BASE/v1/recommend?user=$first&k=10")"
  done
  echo "== SIGTERM 5 s into a second burst (grace 5 s)"
  wrk -t1 -c"$CONNS" -d20s -s "$WORK/batch.lua" "$BASE" > /dev/null 2>&1 &
  local w=$!
  sleep 5
  local t0; t0=$(date +%s%N)
  kill -TERM $SERVER_PID
  wait $SERVER_PID || true
  echo "  the server exited $(( ($(date +%s%N) - t0) / 1000000 )) ms after SIGTERM"
  kill $w 2>/dev/null || true
  wait $w 2>/dev/null || true
}

what=${1:-default}
case $what in
  ml100k) ml100k ;;
  foldin) foldin ;;
  20m) big ;;
  soak) soak ;;
  burst) burst ;;
  all) ml100k; foldin; big; soak; burst ;;
  default) ml100k; foldin ;;
  *) echo "usage: $0 [ml100k|foldin|20m|soak|burst|all]"; exit 2 ;;
esac
