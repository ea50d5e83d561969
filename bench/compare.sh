#!/usr/bin/env bash
# lifeline against mosquitto, same generator, same N and interval, one run:
# capacity (CPU per heartbeat, RSS per connection, false offlines),
# then the ratios lifeline / mosquitto.
# usage: bench/compare.sh BIN [CONNECTIONS=19000] [WINDOW=30s]
set -euo pipefail
BIN=$1; N=${2:-19000}; WINDOW=${3:-30s}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # SERVER_CPU, CLIENT_CPU, bench_bin
BENCH=$(bench_bin "$BIN")
out=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
ulimit -n 20000

capacity() {  # capacity NAME PROTOCOL PORT -- server command...
  local name=$1 proto=$2 port=$3; shift 4
  "${SERVER_CPU[@]}" "$@" >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  "${CLIENT_CPU[@]}" "$BENCH" capacity --protocol "$proto" --server "127.0.0.1:$port" --server-pid "$pid" \
    -n "$N" --interval 1s --timeout 3s --window "$WINDOW" --sources 4 --json >"$out/$name.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

capacity lifeline lifeline 7777 -- "$BIN" --log-level warn serve --listen 127.0.0.1:7777 --threads 1 --interval 1s --timeout 3s
capacity mosquitto mqtt 1883 -- mosquitto -c "$here/mosquitto.conf"

python3 - "$out/lifeline.json" "$out/mosquitto.json" <<'PY'
import json, sys
l, m = (json.load(open(p)) for p in sys.argv[1:3])
def pick(d, *keys):
    for k in keys:
        if k in d:
            return d[k]
    raise KeyError(keys[0])
rows = [("server CPU s per million heartbeats", ("cpu_s_per_million",)),
        ("server RSS per connection (B)", ("rss_per_connection_b",)),
        ("RTT p99 (us)", ("rtt_p99_us",)),
        ("false offlines", ("false_offlines",))]
print("%-40s %12s %12s %8s" % ("", "lifeline", "mosquitto", "ratio"))
for label, keys in rows:
    try:
        a, b = pick(l, *keys), pick(m, *keys)
    except KeyError:
        continue
    ratio = "%.2f" % (a / b) if b else "-"
    print("%-40s %12.2f %12.2f %8s" % (label, a, b, ratio))
PY
