#!/usr/bin/env bash
# Runs the busted suite (under Lua 5.4 by default) with the in-tree modules,
# against an emulator it starts and stops itself, and prints one summary line.
#   spec/run.sh [busted args...]     LUA=luajit BUILD=build-luajit spec/run.sh --tags core
set -u
cd "$(dirname "$0")/.."
LUA=${LUA:-lua5.4}
BUILD=${BUILD:-build}

# Without an emulator given, run again under a fresh one (tools/with-emulator
# starts it on a free port and stops it afterwards).
if [ -z "${ECS_EMULATOR_ENDPOINT:-}" ] && [ -x emulator/ecs-emulator ] && [ -z "${NO_EMULATOR:-}" ]; then
  exec tools/with-emulator spec/run.sh "$@"
fi

export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;"
export LUA_CPATH="$BUILD/?.so;;"
log=$(mktemp)
"$LUA" /usr/bin/busted -o plainTerminal "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# busted: "N successes / N failures / N errors / N pending : T seconds"
line=$(grep -E '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n 1)
rm -f "$log"
if [ -z "$line" ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
set -- $line
passed=$1 failed=$(( $4 + $7 )) skipped=${10}
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
