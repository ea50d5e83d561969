#!/usr/bin/env bash
# Thread scaling, as far as 2 cores can show it: server CPU per heartbeat with
# --threads 1 and --threads 2 at the same rate, alternating in one run (RUNS
# of each). Nothing is shared between shards on the heartbeat path, so the
# two should cost the same per heartbeat; throughput scaling itself needs
# cores for the server's threads and more for the generator (see
# docs/benchmarks.md, "Thread scaling", for the command on 4+ cores).
# The server gets CPU 0 as in every other script: with --threads 2 both shards
# share it, which is the cost of two loops on one core, not of scaling.
# usage: bench/threads.sh BIN [CONNECTIONS=19000] [WINDOW=20s] [RUNS=3]
set -euo pipefail
BIN=$1; N=${2:-19000}; WINDOW=${3:-20s}; RUNS=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # SERVER_CPU, CLIENT_CPU, bench_bin
BENCH=$(bench_bin "$BIN")
out=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
ulimit -n 20000

run() {  # run THREADS I
  local threads=$1 i=$2
  "${SERVER_CPU[@]}" "$BIN" --log-level warn serve --listen 127.0.0.1:0 --port-file "$out/port" \
    --threads "$threads" --interval 1s --timeout 3s >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
  "${CLIENT_CPU[@]}" "$BENCH" capacity --server "127.0.0.1:$(cat "$out/port")" --server-pid "$pid" \
    -n "$N" --interval 1s --timeout 3s --window "$WINDOW" --sources 4 --json >"$out/t$threads.$i.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$out/port"
}

for i in $(seq "$RUNS"); do run 1 "$i"; run 2 "$i"; done

python3 - "$out" "$RUNS" <<'PY'
import json, statistics, sys
d, runs = sys.argv[1], int(sys.argv[2])
load = lambda t: [json.load(open("%s/t%d.%d.json" % (d, t, i))) for i in range(1, runs + 1)]  # noqa: E731
one, two = load(1), load(2)
key = "cpu_s_per_million"
fmt = lambda xs: " / ".join("%.2f" % x for x in xs)  # noqa: E731
print("server CPU s per million heartbeats: --threads 1: %s; --threads 2: %s; ratio of medians %.2f" %
      (fmt([r[key] for r in one]), fmt([r[key] for r in two]),
       statistics.median(r[key] for r in two) / statistics.median(r[key] for r in one)))
print("heartbeats answered /s: --threads 1: %s; --threads 2: %s" %
      (fmt([r["answered_per_s"] for r in one]), fmt([r["answered_per_s"] for r in two])))
PY
