#!/usr/bin/env bash
# lua-ecs inside nginx as a gateway (1 worker, the LuaJIT build), wrk on the gateway: each
# request is one DescribeRegions call through the cosocket transport. Beside it, the ceiling:
# the same worker proxy_passing one presigned request to the emulator (nginx's own upstream
# code, no Lua); and lua-ecs under Lua 5.4 on the curl transport, same calls, same concurrency.
# Prints RESULT lines for bench/run:
#   RESULT openresty-gateway rate=… cpu_us_per_call=… rss_kb=… failures=…
#   RESULT openresty-proxy   rate=… cpu_us_per_call=… failures=…
#   RESULT openresty-curl    (bench/throughput.lua's fields)
#   bench/openresty.sh EMULATOR_URL (an emulator started with --no-nonce-check) [SECONDS] [CONC]
set -u
cd "$(dirname "$0")/.."
EMU=${1:?usage: bench/openresty.sh EMULATOR_URL [SECONDS] [CONC]}
SECONDS_EACH=${2:-10}
CONC=${3:-50}
LUA=${LUA:-lua5.4}
[ -f build-luajit/ecs/core.so ] || { echo "bench: build the LuaJIT module first (make build-luajit)" >&2; exit 2; }

moddir=/usr/share/nginx/modules
[ -f $moddir/ngx_http_lua_module.so ] || moddir=/usr/lib/nginx/modules
root=$(pwd)
prefix=$(mktemp -d /tmp/lua-ecs-openresty-bench.XXXXXX)
mkdir -p "$prefix/logs"
chmod 755 "$prefix"
port=$(for _ in $(seq 50); do p=$((20000 + RANDOM % 12000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; break; }; done)
emu_hostport=${EMU#http://}
# The presigned request of the proxy location: v1 signs the URL only, so it can be replayed.
presigned=$(LUA_PATH='./?.lua;lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' $LUA bench/presign.lua "$EMU" v1 | head -n 1)
query=${presigned#*\?}
user=""; [ "$(id -u)" = 0 ] && user="user root root;"

cat >"$prefix/nginx.conf" <<EOF
load_module $moddir/ndk_http_module.so;
load_module $moddir/ngx_http_lua_module.so;
$user
worker_processes 1; daemon on; pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
env ECS_BENCH_ENDPOINT;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $prefix; proxy_temp_path $prefix; fastcgi_temp_path $prefix;
  uwsgi_temp_path $prefix; scgi_temp_path $prefix;
  lua_package_path '$root/lua/?.lua;$root/lua/?/init.lua;/usr/share/lua/5.1/?.lua;;';
  lua_package_cpath '$root/build-luajit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;';
  lua_shared_dict ecs 10m;
  keepalive_requests 1000000;
  upstream emulator { server $emu_hostport; keepalive 128; }
  init_by_lua_block {
    gateway_client = require("ecs").client { endpoint = os.getenv("ECS_BENCH_ENDPOINT"), region = "cn-hangzhou",
      access_key_id = "testid", access_key_secret = "testsecret", max_concurrency = 256 }
  }
  server {
    listen 127.0.0.1:$port;
    location = /gateway { content_by_lua_block {
      local res, err = gateway_client:DescribeRegions {}
      if not res then ngx.status = 502; ngx.say(tostring(err)); return end
      ngx.say(#res.Regions.Region)
    } }
    location = /proxy {
      proxy_pass http://emulator/?$query;
      proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
EOF
ECS_BENCH_ENDPOINT=$EMU nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" ||
  { echo "bench: nginx did not start" >&2; exit 2; }
master=$(cat "$prefix/nginx.pid")
cleanup() { kill -QUIT "$master" 2>/dev/null; sleep 0.3; rm -rf "$prefix"; }
trap cleanup EXIT
sleep 0.3
worker=$(pgrep -P "$master" | head -n 1)
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }

# wrk_on PATH NAME: requests/s, CPU of the nginx worker per request, failures.
wrk_on() {
  local path=$1 name=$2 out rps reqs non2xx sockerr c0 c1
  curl -s -f -o /dev/null "http://127.0.0.1:$port$path" || { echo "bench: $path does not answer 200" >&2; return 1; }
  wrk -t1 -c"$CONC" -d2s "http://127.0.0.1:$port$path" >/dev/null 2>&1 # warm-up
  c0=$(cpu_ticks)
  out=$(wrk -t1 -c"$CONC" -d"${SECONDS_EACH}s" "http://127.0.0.1:$port$path" 2>&1)
  c1=$(cpu_ticks)
  rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
  reqs=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
  non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ { print $NF }')
  sockerr=$(printf '%s\n' "$out" | awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }')
  local rss
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$worker/status")
  echo "RESULT openresty-$name rate=${rps:-0} cpu_us_per_call=$(awk -v t=$((c1 - c0)) -v h="$tck" -v n="${reqs:-1}" 'BEGIN { printf "%.1f", t / h / n * 1e6 }') rss_kb=$rss failures=$(( ${non2xx:-0} + ${sockerr:-0} ))"
}

wrk_on /gateway gateway || exit 1
wrk_on /proxy proxy || exit 1
# lua-ecs on the curl transport under Lua 5.4: the same calls at the same concurrency.
calls=20000
LUA_PATH='./?.lua;lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' \
  $LUA bench/throughput.lua "$EMU" v1 "$calls" "$CONC" "$((CONC * 4))" openresty-curl
