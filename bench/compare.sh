#!/usr/bin/env bash
# lifeline against mosquitto and against the floor (bench/floor.c: the least a
# server can do per keepalive), same generator, same N and interval, same
# pinning, alternating in one run: CPU per heartbeat, RSS per connection,
# RTT, false offlines; then the ratios lifeline / mosquitto and lifeline /
# floor, per run and of the medians.
# usage: bench/compare.sh BIN [CONNECTIONS=19000] [WINDOW=30s] [RUNS=1]
set -euo pipefail
BIN=$1; N=${2:-19000}; WINDOW=${3:-30s}; RUNS=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # SERVER_CPU, CLIENT_CPU, bench_bin
BENCH=$(bench_bin "$BIN")
out=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
ulimit -n 20000
cc -O2 -o "$out/floor" "$here/floor.c"

capacity() {  # capacity NAME PROTOCOL PORT -- server command...
  local name=$1 proto=$2 port=$3; shift 4
  "${SERVER_CPU[@]}" "$@" >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  "${CLIENT_CPU[@]}" "$BENCH" capacity --protocol "$proto" --server "127.0.0.1:$port" --server-pid "$pid" \
    -n "$N" --interval 1s --timeout 3s --window "$WINDOW" --sources 4 --json >"$out/$name.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for run in $(seq "$RUNS"); do
  capacity "lifeline.$run" lifeline 7777 -- "$BIN" --log-level warn serve --listen 127.0.0.1:7777 --threads 1 \
    --interval 1s --timeout 3s
  capacity "mosquitto.$run" mqtt 1883 -- mosquitto -c "$here/mosquitto.conf"
  capacity "floor.$run" mqtt 1884 -- "$out/floor" 1884
done

python3 - "$out" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
servers = ("lifeline", "mosquitto", "floor")
data = {s: [json.load(open(f"{out}/{s}.{r}.json")) for r in range(1, runs + 1)] for s in servers}
rows = [("server CPU s per million heartbeats", "cpu_s_per_million"),
        ("server RSS per connection (B)", "rss_per_connection_b"),
        ("RTT p99 (us)", "rtt_p99_us"),
        ("false offlines", "false_offlines")]
def ratio(a, b):
    return "%.2f" % (a / b) if b else "-"
for r in range(runs):
    print("run %d of %d" % (r + 1, runs))
    print("  %-38s %10s %10s %10s %8s %8s" % ("", "lifeline", "mosquitto", "floor", "l/m", "l/floor"))
    for label, key in rows:
        l, m, f = (data[s][r].get(key) for s in servers)
        if l is None or m is None or f is None:
            continue
        print("  %-38s %10.2f %10.2f %10.2f %8s %8s" % (label, l, m, f, ratio(l, m), ratio(l, f)))
if runs > 1:
    key = "cpu_s_per_million"
    l, m, f = (statistics.median(d[key] for d in data[s]) for s in servers)
    print("medians of %d runs, server CPU s per million heartbeats: lifeline %.2f, mosquitto %.2f, floor %.2f;"
          " lifeline/mosquitto %s, lifeline/floor %s" % (runs, l, m, f, ratio(l, m), ratio(l, f)))
PY
