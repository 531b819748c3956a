#!/usr/bin/env bash
# Runs bench/asan-load.lua (2,000 DescribeRegions calls from 64 tasks, v1 GET
# and v3 POST) with ecs.core built under AddressSanitizer + UBSan, leak
# detection on, and prints one verdict line: "asan-load: clean" or
# "asan-load: NOT CLEAN (...)". Exit status 0 when clean, 1 when not, 2 when
# it could not run. Build first: make build-asan.
#   bench/asan-load.sh [ENDPOINT]   (without ENDPOINT it starts its own emulator)
set -u
cd "$(dirname "$0")/.."
calls=${ASAN_CALLS:-2000}
conc=${ASAN_CONC:-64}
so=build-asan/ecs/core.so
if [ ! -f "$so" ] || [ ! -x build-asan/asan-lua ]; then
  echo "asan-load: SKIPPED ($so missing: run make build-asan)"
  exit 2
fi
stale=$(find csrc CMakeLists.txt -newer "$so" -type f 2>/dev/null | head -n 3 | tr '\n' ' ')
[ -z "$stale" ] || echo "asan-load: warning: $so is older than $stale(run make build-asan)"

endpoint=${1:-}
if [ -z "$endpoint" ]; then
  . tools/lib/emulator.sh
  trap emulator_stop_all EXIT
  emulator_start endpoint || { echo "asan-load: cannot start the emulator"; exit 2; }
fi

log=$(mktemp /tmp/lua-ecs-asan-load.XXXXXX)
supp=""
[ -f spec/support/lsan.supp ] && supp="suppressions=$PWD/spec/support/lsan.supp:print_suppressions=0"
t0=$(date +%s.%N)
# The instrumented interpreter of make asan (tools/asan-lua.c): no LD_PRELOAD
# for child processes to inherit, and C modules stay mapped for symbolized leaks.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
UBSAN_OPTIONS=print_stacktrace=1 \
LSAN_OPTIONS="$supp" \
LUA_PATH='./?.lua;lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build-asan/?.so;;' \
  build-asan/asan-lua bench/asan-load.lua "$endpoint" "$calls" "$conc" >"$log" 2>&1
rc=$?
t1=$(date +%s.%N)
grep '^RESULT' "$log"
problems=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log")
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
if [ "$rc" -eq 0 ] && [ "$problems" -eq 0 ]; then
  echo "asan-load: clean ($calls calls, $conc tasks, ASan+UBSan+LSan, ${secs}s)"
  rm -f "$log"
  exit 0
fi
if [ "$problems" -eq 0 ]; then
  # No sanitizer report: the load itself failed (a Lua error, failed calls).
  echo "asan-load: FAILED TO RUN (exit $rc, no sanitizer report); log: $log"
  head -n 5 "$log"
  exit 1
fi
echo "asan-load: NOT CLEAN (exit $rc, $problems sanitizer report(s)); log: $log"
grep -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|first failure' "$log" | head -n 40
exit 1
