#!/usr/bin/env bash
# WebSocket sessions against TCP sessions on the same server build, same
# generator, same N and interval, alternating in one run (RUNS of each):
# server CPU per heartbeat and RSS per idle connection, medians and ratios.
# Targets (issue "Browsers"): ws <= 1.3x the CPU and <= 1.5x the RSS of tcp.
# Before each measurement the server has had one connection of the kind
# measured, so one-time costs (code paged in, OpenSSL's SHA-1 set up for the
# handshake) are not counted per connection.
# usage: bench/websocket.sh BIN [CONNECTIONS=19000] [WINDOW=20s] [RUNS=3]
set -euo pipefail
BIN=$1; N=${2:-19000}; WINDOW=${3:-20s}; RUNS=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # SERVER_CPU, CLIENT_CPU, bench_bin
BENCH=$(bench_bin "$BIN")
out=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
ulimit -n 20000

warm() {  # warm PORT tcp|ws: one connection of that kind, handshake done, then closed
  python3 - "$1" "$2" <<'PY'
import socket, sys
port, kind = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if kind == "ws":
    s.sendall(b"GET /lifeline HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 101"), "no 101"
s.close()
PY
}

run() {  # run tcp|ws I
  local kind=$1 i=$2
  "${SERVER_CPU[@]}" "$BIN" --log-level warn serve --listen 127.0.0.1:0 --port-file "$out/port" \
    --ws-listen 127.0.0.1:0 --ws-port-file "$out/wsport" --threads 1 --interval 1s --timeout 3s >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
  local port; port=$(cat "$out/port"); [ "$kind" = ws ] && port=$(cat "$out/wsport")
  warm "$port" "$kind"
  "${CLIENT_CPU[@]}" "$BENCH" capacity --transport "$kind" --server "127.0.0.1:$port" --server-pid "$pid" \
    -n "$N" --interval 1s --timeout 3s --window "$WINDOW" --sources 4 --json >"$out/$kind.$i.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$out/port" "$out/wsport"
}

for i in $(seq "$RUNS"); do run tcp "$i"; run ws "$i"; done

python3 - "$out" "$RUNS" <<'PY'
import json, statistics, sys
d, runs = sys.argv[1], int(sys.argv[2])
def load(kind):
    return [json.load(open("%s/%s.%d.json" % (d, kind, i))) for i in range(1, runs + 1)]
tcp, ws = load("tcp"), load("ws")
print("%-38s %-26s %-26s %s" % ("", "tcp (runs)", "ws (runs)", "ratio of medians"))
for label, key, target in (("server CPU s per million heartbeats", "cpu_s_per_million", 1.3),
                           ("server RSS per connection (B)", "rss_per_connection_b", 1.5)):
    t = [r[key] for r in tcp]
    w = [r[key] for r in ws]
    ratio = statistics.median(w) / statistics.median(t)
    fmt = lambda xs: " / ".join("%.2f" % x if x < 100 else "%.0f" % x for x in xs)  # noqa: E731
    print("%-38s %-26s %-26s %.2fx (target <= %.1fx)" % (label, fmt(t), fmt(w), ratio, target))
for kind, rs in (("tcp", tcp), ("ws", ws)):
    fo = [r.get("false_offlines", 0) for r in rs]
    print("%s: established %s, false offlines %s" % (kind, [r["established"] for r in rs], fo))
PY
