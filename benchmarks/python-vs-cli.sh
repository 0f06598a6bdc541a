#!/usr/bin/env bash
# BPR on ml-100k from Python (examples/python/quickstart.py) and from the CLI (`recs train`),
# side by side in one run, interleaved, REPS times each, at 1 thread and at the default.
# Usage: RECS_DATA_MIRROR=../shared/datasets PY=/path/to/venv/bin/python \
#        bash benchmarks/python-vs-cli.sh [REPS]
# Needs: the wheel installed in $PY's venv, target/release/recs built.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
py=${PY:-python3}
recs=target/release/recs
out=$(mktemp -d)
for threads in 1 0; do
  for r in $(seq "$reps"); do
    "$py" examples/python/quickstart.py --models BPR --threads "$threads" --json 2>/dev/null \
      | "$py" -c "import json,sys; d=json.load(sys.stdin)['BPR']; print('python', $threads, d['fit_seconds'], d['metrics']['map@10'], d['recommend_single_ms_per_user'], d['recommend_batch_seconds'])"
    "$recs" train --model bpr --dataset ml-100k --threads "$threads" --quiet --out "$out/m.recs" \
      | awk -v t="$threads" '/^trained/ {for(i=1;i<=NF;i++) if($i=="in") s=$(i+1)} /^map@10/ {m=$2} END {print "cli", t, s, m}'
  done
done | "$py" -c "
import sys, statistics as st
rows = [l.split() for l in sys.stdin if l.strip()]
for t in ('1', '0'):
    for who in ('python', 'cli'):
        r = [x for x in rows if x[0] == who and x[1] == t]
        fit = [float(x[2]) for x in r]
        line = f'{who:<7} threads={t}: fit median {st.median(fit):.3f} s (min {min(fit):.3f}, n={len(fit)}), MAP@10 {r[0][3]}'
        if who == 'python':
            line += f', recommend {st.median(float(x[4]) for x in r):.3f} ms/user one at a time, {st.median(float(x[5]) for x in r)*1e3:.1f} ms for all test users batched'
        print(line)
    p = st.median(float(x[2]) for x in rows if x[0] == 'python' and x[1] == t)
    c = st.median(float(x[2]) for x in rows if x[0] == 'cli' and x[1] == t)
    print(f'        threads={t}: python / cli fit time = {p / c:.3f}')
"
rm -rf "$out"
