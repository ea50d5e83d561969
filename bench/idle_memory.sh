#!/usr/bin/env bash
# Server RSS per idle connection: N clients (in processes of at most 5000, since
# one process may hold 20,000 descriptors here) at interval 10 s.
# usage: bench/idle_memory.sh BIN [CLIENTS=10000]
source "$(dirname "$0")/common.sh"
BIN=$1; N=${2:-10000}; PER=5000
ulimit -n 20000
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
start_server "$BIN" "$tmp/port" --threads 1
sleep 0.3
before=$(rss_kb "$SERVER_PID")
left=$N; i=0
while [ "$left" -gt 0 ]; do
  n=$(( left < PER ? left : PER ))
  "$BIN" agent --id "m$i" -n "$n" -s "127.0.0.1:$PORT" --quiet --interval 10s --timeout 30s >/dev/null 2>&1 &
  left=$((left - n)); i=$((i + 1))
done
wait_online "$BIN" "$PORT" "$N" 120
sleep 3
after=$(rss_kb "$SERVER_PID")
echo "idle_memory clients=$N rss_before_kb=$before rss_after_kb=$after bytes_per_connection=$(( (after - before) * 1024 / N ))"
