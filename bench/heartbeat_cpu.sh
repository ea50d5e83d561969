#!/usr/bin/env bash
# Server CPU per heartbeat: N clients at interval I, one I/O thread, CPU from
# /proc over a measurement window. Clients share the machine's cores.
# usage: bench/heartbeat_cpu.sh BIN [CLIENTS=2000] [INTERVAL_MS=100] [WINDOW_S=8]
# HB_ALL=1: everything of issue 11 switched on as well: the admin API with an
# event stream open, /metrics and the first page of /v1/clients fetched every
# second, history in a temporary --data-dir, and an --on-online hook.
# HB_CLUSTER=1: the server is a cluster node (--cluster, a redis-server of its own).
source "$(dirname "$0")/common.sh"
BIN=$1; N=${2:-2000}; IV=${3:-100}; WIN=${4:-8}
ulimit -n 20000
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
extra=()
if [ "${HB_ALL:-0}" = 1 ]; then
  extra=(--admin-listen 127.0.0.1:0 --insecure-admin --admin-port-file "$tmp/admin" --data-dir "$tmp/data"
         --on-online true)
fi
if [ "${HB_CLUSTER:-0}" = 1 ]; then
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --logfile "$tmp/redis.log" &
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  extra+=(--cluster "redis://127.0.0.1:$rport" --node-id hb)
fi
start_server "$BIN" "$tmp/port" --threads 1 --interval "${IV}ms" --timeout "$((IV * 10))ms" --min-interval 50ms \
  "${extra[@]}"
half=$((N / 2))
"$BIN" agent --id c1 -n "$half" -s "127.0.0.1:$PORT" --interval "${IV}ms" --timeout "$((IV * 10))ms" -q >/dev/null 2>&1 &
"$BIN" agent --id c2 -n "$((N - half))" -s "127.0.0.1:$PORT" --interval "${IV}ms" --timeout "$((IV * 10))ms" -q >/dev/null 2>&1 &
wait_online "$BIN" "$PORT" "$N" 60
if [ "${HB_ALL:-0}" = 1 ]; then
  admin="http://127.0.0.1:$(cat "$tmp/admin")"
  curl -sN "$admin/v1/events?snapshot=1" >/dev/null &
  (while sleep 1; do curl -s "$admin/metrics" >/dev/null; curl -s "$admin/v1/clients?limit=100" >/dev/null; done) &
fi
sleep 2
read -r u0 s0 < <(cpu_ticks "$SERVER_PID"); io0=$(busiest_thread_ticks "$SERVER_PID"); t0=$(date +%s.%N)
sleep "$WIN"
read -r u1 s1 < <(cpu_ticks "$SERVER_PID"); io1=$(busiest_thread_ticks "$SERVER_PID"); t1=$(date +%s.%N)
python3 - "$u0" "$s0" "$u1" "$s1" "$t0" "$t1" "$N" "$IV" "$io0" "$io1" <<'PY'
import os, sys
u0, s0, u1, s1 = map(int, sys.argv[1:5]); t0, t1 = map(float, sys.argv[5:7]); n, iv = map(int, sys.argv[7:9])
io0, io1 = map(int, sys.argv[9:11])
hz = os.sysconf("SC_CLK_TCK"); el = t1 - t0
user, sys_ = (u1 - u0) / hz, (s1 - s0) / hz
beats = n * el / (iv / 1000)
# io_us_per_heartbeat: the I/O thread alone (the busiest thread; the process's other
# threads, such as the admin API's, are in us_per_heartbeat only).
print("heartbeat_cpu clients=%d interval_ms=%d window_s=%.1f cpu_s=%.2f user_s=%.2f sys_s=%.2f heartbeats=%d us_per_heartbeat=%.2f io_us_per_heartbeat=%.2f"
      % (n, iv, el, user + sys_, user, sys_, beats, (user + sys_) / beats * 1e6, (io1 - io0) / hz / beats * 1e6))
PY
