#!/usr/bin/env bash
# What liblifeline.so (or lifeline.dll) exports: exactly the ll_* functions
# lifeline.h declares (nothing of the C++ libraries linked into it), under the
# soname liblifeline.so.1.
set -euo pipefail
lib=$1 header=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

if [[ "$lib" == *.dll ]]; then
  soname=$(basename "$lib")
  exported=$(x86_64-w64-mingw32-objdump -p "$lib" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' |
             sed -n 's/^\s*\[ *[0-9]*\] //p' | sort -u)
else
  soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  [ "$soname" = "liblifeline.so.1" ] || fail "soname is '$soname', want liblifeline.so.1"
  exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort -u)
fi
declared=$(grep -o 'LL_API [^;]*\bll_[a-z_]*(' "$header" | grep -o 'll_[a-z_]*($' | tr -d '(' | sort -u)
[ -n "$declared" ] || fail "no LL_API declarations found in $header"

stray=$(comm -23 <(echo "$exported") <(echo "$declared"))
[ -z "$stray" ] || fail "exported but not declared in lifeline.h: $(echo $stray | head -c 600)"
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
[ -z "$missing" ] || fail "declared in lifeline.h but not exported: $missing"
echo "PASS: $(echo "$declared" | wc -l) ll_* functions exported by $soname, nothing else"
