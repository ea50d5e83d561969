# Shared helpers for the bench scripts: start a server, wait for its port and
# for N clients online, read a process's RSS and CPU. Sourced, not run.
set -euo pipefail

# The server on CPU 0, the generator on the others. On loopback a packet's
# receive processing runs on the sending CPU, so with both everywhere the
# server is charged part of the generator's traffic and the reverse,
# differently from run to run. Pinned, each side pays for what it sends (the
# server: delivering its replies), the same way for every server measured.
# LIFELINE_BENCH_PIN=0 turns it off.
SERVER_CPU=(); CLIENT_CPU=()
if [ "${LIFELINE_BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_CPU=(taskset -c 0); CLIENT_CPU=(taskset -c "1-$(( $(nproc) - 1 ))")
fi

# The load generator, lifeline-bench, is built next to the lifeline program;
# LIFELINE_BENCH overrides where it is.
bench_bin() {  # bench_bin BIN
  echo "${LIFELINE_BENCH:-$(dirname "$1")/lifeline-bench}"
}

start_server() {  # start_server BIN PORTFILE ARGS... ; sets SERVER_PID and PORT
  local bin=$1 portfile=$2; shift 2
  rm -f "$portfile"
  "$bin" --log-level warn serve --listen 127.0.0.1:0 --port-file "$portfile" "$@" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
  [ -s "$portfile" ] || { echo "server did not start" >&2; exit 1; }
  PORT=$(cat "$portfile")
}

online_count() {  # online_count BIN PORT  (LS_ARGS: extra ls options, e.g. --tls-ca)
  # shellcheck disable=SC2086
  "$1" ls -s "127.0.0.1:$2" --json ${LS_ARGS:-} 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["online"])' 2>/dev/null || echo 0
}

wait_online() {  # wait_online BIN PORT N DEADLINE_S
  local end=$((SECONDS + $4))
  while [ "$(online_count "$1" "$2")" != "$3" ]; do
    [ $SECONDS -lt $end ] || { echo "only $(online_count "$1" "$2") of $3 online after $4 s" >&2; exit 1; }
    sleep 0.3
  done
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }  # utime stime, in clock ticks
busiest_thread_ticks() {  # the largest utime+stime of one thread of PID: with --threads 1, the I/O thread
  cat /proc/"$1"/task/*/stat 2>/dev/null | awk '{t = $14 + $15; if (t > m) m = t} END {print m + 0}'
}
