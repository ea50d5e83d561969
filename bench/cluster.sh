#!/usr/bin/env bash
# Cluster: a Redis and NODES `lifeline serve --cluster` nodes on this machine,
# N clients spread over them (each lists every node, its own first), default
# interval (10 s). Reports how soon the cluster-wide count is exact, event
# propagation between nodes (p50/p99), Redis CPU and memory per client and,
# with KILL=1, the time until a SIGKILLed node's clients are all back online
# elsewhere and the count is exact again (docs/benchmarks.md "Cluster").
# usage: bench/cluster.sh BIN [N=95000] [NODES=5] [KILL=0] [WINDOW=20s]
set -euo pipefail
BIN=$1; N=${2:-95000}; NODES=${3:-5}; KILL=${4:-0}; WINDOW=${5:-20s}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # start_server, bench_bin
BENCH=$(bench_bin "$BIN")
ulimit -n 20000
dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no \
  --logfile "$dir/redis.log" &
redis_pid=$!; pids+=("$redis_pid")
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

addrs=(); node_pids=()
for i in $(seq 1 "$NODES"); do
  start_server "$BIN" "$dir/n$i.port" --threads 1 --cluster "redis://127.0.0.1:$redis_port" --node-id "n$i"
  pids+=("$SERVER_PID"); node_pids+=("$SERVER_PID"); addrs+=("127.0.0.1:$PORT")
done
kill_flag=(); [ "$KILL" = 1 ] && kill_flag=(--kill)
"$BENCH" cluster --server "$(IFS=,; echo "${addrs[*]}")" --node-pids "$(IFS=,; echo "${node_pids[*]}")" \
  --redis "127.0.0.1:$redis_port" --redis-pid "$redis_pid" -n "$N" --interval 10s --timeout 30s \
  --ramp 4000 --window "$WINDOW" --sources 8 "${kill_flag[@]}"
