#!/usr/bin/env bash
# Measures the emulator alone: DescribeRegions (signature v1, GET) with wrk against one worker.
# The URL is presigned once by lua-ecs (client:prepare), so the emulator runs with its nonce
# check off (--no-nonce-check, a benchmark-only switch): every request is still parsed,
# time-checked and signature-verified in full.
#   emulator/tools/bench-describe-regions.sh [seconds] [connections]
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -f build/ecs/core.so ] || { echo "build lua-ecs first (make build)" >&2; exit 1; }
. tools/lib/emulator.sh
trap emulator_stop_all EXIT
emulator_start url --no-nonce-check --workers 1
signed=$(EP="$url" LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 -e '
  local ecs = require "ecs"
  local c = ecs.client { endpoint = os.getenv("EP"), access_key_id = "testid",
    access_key_secret = "testsecret", signature_version = "v1", method = "GET" }
  print((c:prepare("DescribeRegions", {})).url)')
code=$(curl -s -o /dev/null -w '%{http_code}' "$signed")
[ "$code" = 200 ] || { echo "presigned DescribeRegions answered $code" >&2; exit 1; }
echo "wrk -t1 -c$conns -d${secs}s <presigned DescribeRegions URL>   (emulator: 1 worker, nonce check off)"
wrk -t1 -c"$conns" -d"${secs}s" --latency "$signed"
