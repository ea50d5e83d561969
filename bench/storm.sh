#!/usr/bin/env bash
# Storm: N connections, the server SIGKILLed and restarted 2 s later; time until
# all are back, failed attempts, reconnect rate, listen-queue overflows.
# usage: bench/storm.sh BIN [CONNECTIONS=19000] [PROTOCOL=lifeline]
set -euo pipefail
BIN=$1; N=${2:-19000}; PROTO=${3:-lifeline}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # SERVER_CPU, CLIENT_CPU, bench_bin
BENCH=$(bench_bin "$BIN")
ulimit -n 20000
if [ "$PROTO" = mqtt ]; then
  server="${SERVER_CPU[*]} mosquitto -c $here/mosquitto.conf"; port=1883
else
  server="${SERVER_CPU[*]} $BIN --log-level warn serve --listen 127.0.0.1:7777 --threads 1 --interval 1s --timeout 3s"
  port=7777
fi
"${CLIENT_CPU[@]}" "$BENCH" storm --protocol "$PROTO" --server "127.0.0.1:$port" --server-cmd "$server" \
  -n "$N" --interval 1s --timeout 3s --restart-after 2s --sources 4 2>/dev/null
