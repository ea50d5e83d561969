#!/usr/bin/env bash
# make fuzz: runs every libFuzzer target for SECONDS (default 60) on a working
# copy of its seed corpus, with a small malloc limit and a per-input timeout.
# Any crash, leak, OOM or timeout fails the run and leaves the reproducer in
# BUILD/fuzz-artifacts/. New inputs that add coverage stay in
# BUILD/fuzz-corpus/<target>/ (copy the useful ones into fuzz/corpus/).
# usage: fuzz/run.sh BUILD_DIR [SECONDS=60]
set -euo pipefail
BUILD=$1; SECONDS_EACH=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$BUILD/fuzz-artifacts"
status=0
for bin in "$BUILD"/fuzz/lifeline_fuzz_*; do
  name=${bin##*/lifeline_fuzz_}
  [ -x "$bin" ] && [ -d "$here/corpus/$name" ] || continue
  work="$BUILD/fuzz-corpus/$name"
  mkdir -p "$work"
  cp -n "$here/corpus/$name"/* "$work"/ 2>/dev/null || true
  echo "fuzz $name: ${SECONDS_EACH}s"
  if "$bin" "$work" -max_total_time="$SECONDS_EACH" -malloc_limit_mb=64 -rss_limit_mb=1024 -timeout=10 \
       -max_len=8192 -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$name-" \
       >"$BUILD/fuzz-$name.log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$BUILD/fuzz-$name.log" | tr '\n' ' '
    echo "$(grep -oE "cov: [0-9]+" "$BUILD/fuzz-$name.log" | tail -1)"
  else
    echo "fuzz $name FAILED; see $BUILD/fuzz-$name.log and $BUILD/fuzz-artifacts/" >&2
    tail -30 "$BUILD/fuzz-$name.log" >&2
    status=1
  fi
done
exit $status
