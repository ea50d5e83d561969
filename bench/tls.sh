#!/usr/bin/env bash
# TLS at scale, in one run, with one ECDSA P-256 certificate made on the fly:
#  1. capacity: lifeline over TCP, lifeline over TLS and mosquitto over TLS
#     (the same certificate): RSS per idle connection, CPU per heartbeat, and
#     the server's CPU per connection made during the ramp (the handshake);
#  2. storm: N TLS clients, the server SIGKILLed and restarted 2 s later,
#     once with --tls-ticket-key-file (tickets survive the restart: resumed
#     handshakes) and once without (new random keys: full handshakes); the
#     time until all are back, resumptions counted by clients and server, and
#     the server's CPU per reconnection for each.
# usage: bench/tls.sh BIN [CONNECTIONS=19000] [WINDOW=20s]
set -euo pipefail
BIN=$(realpath "$1"); N=${2:-19000}; WINDOW=${3:-20s}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # SERVER_CPU, CLIENT_CPU, bench_bin
BENCH=$(bench_bin "$BIN")
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
ulimit -n 20000
cd "$tmp"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 1 -subj /CN=bench-ca 2>/dev/null
openssl req "${ec[@]}" -keyout srv.key -out srv.csr -subj /CN=bench 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" > srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile srv.ext 2>/dev/null
openssl rand -hex 32 > tickets
# mosquitto started as root drops to its own user: let it read the files.
chmod 755 "$tmp"; chmod 644 ./*.pem ./*.key
cat > mosquitto-tls.conf <<CONF
listener 8883 127.0.0.1
cafile $tmp/ca.pem
certfile $tmp/srv.pem
keyfile $tmp/srv.key
allow_anonymous true
max_connections -1
persistence false
log_dest none
CONF
lifeline_tls=(--tls-cert srv.pem --tls-key srv.key)

capacity() {  # capacity NAME PROTOCOL PORT BENCH-ARGS -- server command...
  local name=$1 proto=$2 port=$3 extra=$4; shift 5
  "${SERVER_CPU[@]}" "$@" >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  # shellcheck disable=SC2086
  "${CLIENT_CPU[@]}" "$BENCH" capacity --protocol "$proto" --server "127.0.0.1:$port" --server-pid "$pid" $extra \
    -n "$N" --interval 1s --timeout 3s --window "$WINDOW" --sources 4 --ramp 800 --connect-timeout 30s \
    --json >"$name.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
serve=("$BIN" --log-level warn serve --listen 127.0.0.1:7777 --threads 1 --interval 1s --timeout 3s)
capacity lifeline-tcp lifeline 7777 "" -- "${serve[@]}"
capacity lifeline-tls lifeline 7777 "--tls --tls-ca ca.pem" -- "${serve[@]}" "${lifeline_tls[@]}"
capacity mosquitto-tls mqtt 8883 "--tls --tls-ca ca.pem" -- mosquitto -c mosquitto-tls.conf

storm() {  # storm NAME SERVE-ARGS...
  local name=$1; shift
  "${CLIENT_CPU[@]}" "$BENCH" storm --server 127.0.0.1:7777 --tls --tls-ca ca.pem --server-metrics 127.0.0.1:7778 \
    --server-cmd "${SERVER_CPU[*]} ${serve[*]} ${lifeline_tls[*]} --admin-listen 127.0.0.1:7778 --insecure-admin $*" \
    -n "$N" --interval 1s --timeout 3s --restart-after 2s --sources 4 --ramp 800 --connect-timeout 30s \
    --json >"$name.json" 2>/dev/null
}
storm storm-resumed --tls-ticket-key-file tickets
storm storm-full

python3 - <<'PY'
import json
c = {n: json.load(open(n + ".json")) for n in ("lifeline-tcp", "lifeline-tls", "mosquitto-tls")}
print("%-46s %12s %12s %14s" % ("capacity", "lifeline tcp", "lifeline tls", "mosquitto tls"))
for label, key in (("server RSS per idle connection (B)", "rss_per_connection_b"),
                   ("server CPU s per million heartbeats", "cpu_s_per_million"),
                   ("server CPU per connection made (us)", "ramp_cpu_us_per_connection"),
                   ("established", "established"), ("false offlines", "false_offlines")):
    print("%-46s %12.0f %12.0f %14.0f" % (label, *(c[n].get(key, float("nan")) for n in c)))
lt, mt = c["lifeline-tls"]["rss_per_connection_b"], c["mosquitto-tls"]["rss_per_connection_b"]
print("TLS RSS per connection, lifeline / mosquitto: %.2f (target <= 1.0, and lifeline <= 10240 B)" % (lt / mt))
s = {n: json.load(open(n + ".json")) for n in ("storm-resumed", "storm-full")}
print("%-46s %14s %14s" % ("storm (SIGKILL, restart after 2 s)", "ticket keys", "no ticket keys"))
for label, key in (("all back", "all_back"), ("all online after the restart (ms)", "back_after_restart_ms"),
                   ("reconnections", "reconnects"), ("TLS resumed, clients' count", "tls_resumed_clients"),
                   ("TLS handshakes, clients' count", "tls_handshakes_clients"),
                   ("TLS resumed, server's count", "tls_resumed_server"),
                   ("TLS handshakes, server's count", "tls_handshakes_server"),
                   ("server CPU per reconnection (us)", "server_cpu_us_per_reconnect")):
    print("%-46s %14s %14s" % (label, *(s[n].get(key, "-") for n in s)))
r, f = s["storm-resumed"], s["storm-full"]
if r.get("tls_handshakes_server"):
    print("resumed share, server's count: %.1f %% (target >= 95 %%)" %
          (100.0 * r["tls_resumed_server"] / r["tls_handshakes_server"]))
if r.get("server_cpu_us_per_reconnect") and f.get("server_cpu_us_per_reconnect"):
    print("server CPU per reconnection, resumed / full: %.2f (target <= 0.25)" %
          (r["server_cpu_us_per_reconnect"] / f["server_cpu_us_per_reconnect"]))
PY
