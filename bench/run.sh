#!/usr/bin/env bash
# make bench: every benchmark against the release build, results one per line.
# usage: bench/run.sh BUILD_DIR
set -euo pipefail
BIN=$1/apps/lifeline/lifeline
here=$(dirname "$0")
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1048576)}' /proc/meminfo) GiB, $(uname -r); $(date -u +%FT%TZ)"
"$here/idle_memory.sh" "$BIN" 10000
"$here/heartbeat_cpu.sh" "$BIN" 2000 100 8
"$here/websocket.sh" "$BIN" 19000 20s 3
if [[ -x $1/bench/lifeline_micro_bench ]]; then
  "$1/bench/lifeline_micro_bench" --benchmark_min_time=0.2
else
  echo "micro-benchmarks: skipped, $1/bench/lifeline_micro_bench not built (configure with -DLIFELINE_BUILD_BENCH=ON, e.g. cmake --preset bench)"
fi
if command -v mosquitto >/dev/null; then
  "$here/compare.sh" "$BIN" 19000 20s 3
  "$here/tls.sh" "$BIN" 19000 20s
  "$here/threads.sh" "$BIN" 19000 20s 3
  echo "storm, lifeline:"; "$here/storm.sh" "$BIN" 19000 lifeline
  echo "storm, mosquitto:"; "$here/storm.sh" "$BIN" 19000 mqtt
  "$here/plots.sh" "$BIN" "${PLOTS_DIR:-$1/plots}"
  echo "cluster, 5 nodes:"; "$here/cluster.sh" "$BIN" 95000 5 0 20s
  echo "cluster, 5 nodes, one killed:"; "$here/cluster.sh" "$BIN" 75000 5 1 10s
else
  echo "compare, tls, threads, storm, plots: skipped (mosquitto not installed; scripts/bootstrap bench installs it)"
fi
