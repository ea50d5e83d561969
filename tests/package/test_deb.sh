#!/usr/bin/env bash
# The .deb end to end on this machine: build it with CPack, install it with dpkg -i,
# run the installed program and its shipped config, check the systemd unit, build a
# consumer against the installed CMake package and against pkg-config, then purge it.
#   tests/package/test_deb.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
  echo "SKIP: needs root and dpkg (installs a package)"
  exit 77
fi
tmp=$(mktemp -d /tmp/lifeline-deb-XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  dpkg --purge lifeline >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "-- $*"; }

dpkg --purge lifeline >/dev/null 2>&1 || true  # a previous run that crashed
step "cpack"
cpack -G DEB -B "$tmp/pkg" --config "$build/CPackConfig.cmake" >/dev/null
deb=$(ls "$tmp"/pkg/lifeline_*.deb)
version=$(dpkg-deb -f "$deb" Version)
step "dpkg -i $(basename "$deb")"
dpkg -i "$deb" >/dev/null
[ "$(/usr/bin/lifeline --version)" = "$version" ] || /usr/bin/lifeline --version | grep -q "$version" ||
  fail "lifeline --version does not say $version: $(/usr/bin/lifeline --version)"
lifeline serve --help | grep -q -- "--admin-listen" || fail "serve --help lacks --admin-listen"
getent passwd lifeline >/dev/null || fail "no lifeline user after install"
[ -f /etc/lifeline/server.toml ] || fail "no /etc/lifeline/server.toml"
dpkg -L lifeline | grep -q '/share/lifeline/js/lifeline.js$' || fail "the JavaScript client is not in the package"

step "systemd-analyze verify"
unit=$(dpkg -L lifeline | grep '/lifeline.service$')
systemd-analyze verify "$unit" 2>"$tmp/verify.txt" || { cat "$tmp/verify.txt"; fail "systemd-analyze verify $unit"; }
if grep -v "Failed to connect to bus\|No such file or directory.*dbus" "$tmp/verify.txt" | grep -q "lifeline"; then
  cat "$tmp/verify.txt"
  fail "systemd-analyze warns about the unit"
fi

step "the installed program with the shipped config"
lifeline serve --config /etc/lifeline/server.toml --listen 127.0.0.1:0 --data-dir "$tmp/data" \
  --port-file "$tmp/port" 2>"$tmp/serve.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
[ -s "$tmp/port" ] || { cat "$tmp/serve.log"; fail "serve with /etc/lifeline/server.toml did not start"; }
lifeline ls --server "127.0.0.1:$(cat "$tmp/port")" >/dev/null || fail "ls against the installed server"
kill "$server_pid"
wait "$server_pid" || fail "serve did not stop cleanly on SIGTERM"
server_pid=""

step "a consumer with find_package(lifeline)"
cmake -S "$here" -B "$tmp/consumer" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer" -j2 >/dev/null || fail "consumer build with the CMake package"
"$tmp/consumer/consumer" || fail "the CMake consumer"

step "a consumer with pkg-config lifeline"
# shellcheck disable=SC2046
g++ -O1 -o "$tmp/consumer-pc" "$here/consumer.cpp" $(pkg-config --cflags --libs lifeline) ||
  fail "consumer build with pkg-config"
"$tmp/consumer-pc" || fail "the pkg-config consumer"

step "dpkg --purge"
dpkg --purge lifeline >/dev/null
[ ! -e /usr/bin/lifeline ] || fail "/usr/bin/lifeline is still there"
! getent passwd lifeline >/dev/null || fail "the lifeline user is still there"
echo "PASS package.deb"
