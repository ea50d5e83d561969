#!/usr/bin/env bash
# What TLS costs the server, side by side with plain TCP in one run: RSS per
# idle connection (as measured, and after malloc_trim() returns the allocator's
# free pages, which is what the connections really hold), and server CPU per
# handshake. Certificates are made on the fly (openssl CLI).
# usage: bench/tls_cost.sh BIN [CLIENTS=4000]
source "$(dirname "$0")/common.sh"
BIN=$(realpath "$1"); N=${2:-4000}
ulimit -n 20000
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 1 -subj /CN=bench-ca 2>/dev/null
openssl req "${ec[@]}" -keyout srv.key -out srv.csr -subj /CN=bench 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" > srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile srv.ext 2>/dev/null

for mode in plain tls; do
  server_tls=(); client_tls=(); LS_ARGS=""
  if [ "$mode" = tls ]; then
    server_tls=(--tls-cert srv.pem --tls-key srv.key); client_tls=(--tls-ca ca.pem); LS_ARGS="--tls-ca ca.pem"
  fi
  export LS_ARGS
  start_server "$BIN" "$tmp/port" --threads 1 "${server_tls[@]}"
  sleep 0.3
  before=$(rss_kb "$SERVER_PID"); read -r u0 s0 < <(cpu_ticks "$SERVER_PID")
  "$BIN" agent --id "$mode" -n "$N" -s "127.0.0.1:$PORT" --quiet --interval 10s --timeout 30s \
    --connect-timeout 30s "${client_tls[@]}" >/dev/null 2>&1 &
  agent=$!
  wait_online "$BIN" "$PORT" "$N" 180
  sleep 2
  after=$(rss_kb "$SERVER_PID"); read -r u1 s1 < <(cpu_ticks "$SERVER_PID")
  gdb -p "$SERVER_PID" -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1 || true
  trimmed=$(rss_kb "$SERVER_PID")
  hz=$(getconf CLK_TCK)
  echo "tls_cost mode=$mode clients=$N bytes_per_connection=$(( (after - before) * 1024 / N ))" \
       "after_trim=$(( (trimmed - before) * 1024 / N ))" \
       "server_cpu_us_per_connect=$(( (u1 + s1 - u0 - s0) * 1000000 / hz / N ))"
  kill "$agent" "$SERVER_PID"; wait "$agent" "$SERVER_PID" 2>/dev/null
done
