#!/usr/bin/env bash
# Sweeps N for lifeline and mosquitto (same generator, one server thread,
# interval 1 s) and a detect run for each, then draws with gnuplot:
#   OUT/cpu_vs_n.png     server CPU per million heartbeats against N
#   OUT/rss_vs_n.png     server RSS per connection against N
#   OUT/detect_delay.png distribution (CDF) of detection delays, both servers
# The raw JSON of every run stays in OUT/raw/.
# usage: bench/plots.sh BIN [OUT=docs/img] [SIZES="2000 5000 10000 19000"] [WINDOW=10s]
set -euo pipefail
BIN=$1; OUT=${2:-docs/img}; SIZES=${3:-"2000 5000 10000 19000"}; WINDOW=${4:-10s}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"  # SERVER_CPU, CLIENT_CPU, bench_bin
BENCH=$(bench_bin "$BIN")
mkdir -p "$OUT/raw"
ulimit -n 20000
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

run() {  # run NAME PROTOCOL PORT SCENARIO N [extra bench args] -- server command...
  local name=$1 proto=$2 port=$3 scenario=$4 n=$5; shift 5
  local extra=()
  while [ "$1" != "--" ]; do extra+=("$1"); shift; done
  shift
  "${SERVER_CPU[@]}" "$@" >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  "${CLIENT_CPU[@]}" "$BENCH" "$scenario" --protocol "$proto" --server "127.0.0.1:$port" --server-pid "$pid" \
    -n "$n" --interval 1s --timeout 3s --window "$WINDOW" --sources 4 --json "${extra[@]}" \
    >"$OUT/raw/$name.json" 2>/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
lifeline() { echo "$BIN" --log-level warn serve --listen 127.0.0.1:7777 --threads 1 --interval 1s --timeout 3s; }
mosq() { echo mosquitto -c "$here/mosquitto.conf"; }

for n in $SIZES; do
  echo "capacity N=$n" >&2
  # shellcheck disable=SC2046
  run "lifeline-$n" lifeline 7777 capacity "$n" -- $(lifeline)
  # shellcheck disable=SC2046
  run "mosquitto-$n" mqtt 1883 capacity "$n" -- $(mosq)
done
last=${SIZES##* }
echo "detect N=$last" >&2
# shellcheck disable=SC2046
run lifeline-detect lifeline 7777 detect "$last" --silent 100 --server-tick 50ms -- $(lifeline)
# shellcheck disable=SC2046
run mosquitto-detect mqtt 1883 detect "$last" --silent 100 -- $(mosq)

python3 - "$OUT/raw" "$SIZES" <<'PY'
import json, os, sys
raw, sizes = sys.argv[1], sys.argv[2].split()
load = lambda name: json.load(open(os.path.join(raw, name + ".json")))
with open(os.path.join(raw, "capacity.dat"), "w") as f:
    f.write("# N lifeline_cpu mosquitto_cpu lifeline_rss_b mosquitto_rss_b\n")
    for n in sizes:
        l, m = load("lifeline-" + n), load("mosquitto-" + n)
        f.write("%s %.2f %.2f %d %d\n" % (n, l["cpu_s_per_million"], m["cpu_s_per_million"],
                                          l["rss_per_connection_b"], m["rss_per_connection_b"]))
for server in ("lifeline", "mosquitto"):
    d = load(server + "-detect")
    delays = d.get("delays_ms", [])
    with open(os.path.join(raw, server + "-detect.dat"), "w") as f:
        f.write("# delay_ms cumulative_fraction (bound %.0f ms)\n" % d["bound_ms"])
        for i, v in enumerate(delays):
            f.write("%.1f %.4f\n" % (v, (i + 1) / len(delays)))
    print("%s detect: bound %.0f ms, within %s of %s" % (server, d["bound_ms"], d["within_bound"], d["detected"]))
print(open(os.path.join(raw, "capacity.dat")).read(), end="")
PY

bound_l=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bound_ms"])' "$OUT/raw/lifeline-detect.json")
bound_m=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bound_ms"])' "$OUT/raw/mosquitto-detect.json")
machine="$(nproc) cores, $(uname -r), $(date -u +%F)"
gnuplot <<GP
set terminal pngcairo size 800,480 font ",10"
set key top left
set grid
set xlabel "connections (N), interval 1 s, one server thread"
set output "$OUT/cpu_vs_n.png"
set title "Server CPU per million heartbeats (lower is better) - $machine"
set ylabel "CPU seconds per million heartbeats"
set yrange [0:*]
plot "$OUT/raw/capacity.dat" using 1:2 with linespoints lw 2 title "lifeline", \
     "" using 1:3 with linespoints lw 2 title "mosquitto 2.0"
set output "$OUT/rss_vs_n.png"
set title "Server RSS per connection (lower is better) - $machine"
set ylabel "bytes per connection"
plot "$OUT/raw/capacity.dat" using 1:4 with linespoints lw 2 title "lifeline", \
     "" using 1:5 with linespoints lw 2 title "mosquitto 2.0"
set key bottom right
set output "$OUT/detect_delay.png"
set title "Detection delay of silent connections, N = $last (CDF) - $machine"
set xlabel "delay from the last byte to the server closing the connection (ms)"
set ylabel "fraction detected"
set yrange [0:1.05]
set xrange [0:*]
set arrow from $bound_l, graph 0 to $bound_l, graph 1 nohead dt 2 lc rgb "#1f77b4"
set arrow from $bound_m, graph 0 to $bound_m, graph 1 nohead dt 2 lc rgb "#ff7f0e"
plot "$OUT/raw/lifeline-detect.dat" using 1:2 with steps lw 2 lc rgb "#1f77b4" title "lifeline (bound $bound_l ms dashed)", \
     "$OUT/raw/mosquitto-detect.dat" using 1:2 with steps lw 2 lc rgb "#ff7f0e" title "mosquitto (bound $bound_m ms dashed)"
GP
echo "plots: $OUT/cpu_vs_n.png $OUT/rss_vs_n.png $OUT/detect_delay.png"
