-- Endpoints and background jobs inside nginx (LuaJIT) for spec/openresty_spec.lua: calls through
-- lua-ecs, raw requests through its cosocket transport, hostile HTTP replies to parse, and the
-- multi-worker jobs (shared quota, shared credentials) whose counts go to lua_shared_dict probe.
local cjson = require "cjson.safe"
local ecs = require "ecs"

local P = {}

local function json_reply(t, status)
  ngx.status = status or 200
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(t))
end

local function err_table(err)
  return { ok = false, code = err.code, message = err.message, http_status = err.http_status,
           attempts = err.attempts, retryable = err.retryable }
end

local ENDPOINT = os.getenv("ECS_EMULATOR_ENDPOINT")

-- Clients by their query (endpoint, max_attempts, ...), made once per worker.
local clients = {}
local function client_from_args(args)
  local key = cjson.encode(args)
  local c = clients[key]
  if not c then
    c = ecs.client {
      region = "cn-hangzhou", endpoint = args.endpoint or ENDPOINT,
      access_key_id = "testid", access_key_secret = "testsecret",
      max_attempts = tonumber(args.max_attempts), timeout = tonumber(args.timeout),
      signature_version = args.signature, method = args.method,
    }
    clients[key] = c
  end
  return c
end

--- GET /call?action=DescribeRegions[&endpoint=…]: one call through lua-ecs.
function P.call()
  local args = ngx.req.get_uri_args()
  local action = args.action or "DescribeRegions"
  args.action = nil
  local attempts = {}
  local res, err = client_from_args(args):call(action, action == "DescribeRegions" and {} or
    { RegionId = "cn-hangzhou" }, { on_response = function(info)
      attempts[#attempts + 1] = info.code or info.status
    end })
  if not res then
    local out = err_table(err)
    out.seen = attempts
    return json_reply(out)
  end
  json_reply { ok = true, request_id = res.RequestId, seen = attempts }
end

--- GET /fetch?url=…[&timeout=s][&n=2]: raw requests through the cosocket transport.
function P.fetch()
  local args = ngx.req.get_uri_args()
  local transport = require("ecs.scheduler").transport()
  local out = {}
  for i = 1, tonumber(args.n) or 1 do
    local r = transport:request { method = "GET", url = args.url, headers = {},
                                  timeout = tonumber(args.timeout) or 2, connect_timeout = 1 }
    out[i] = { status = r.status, body = r.body, error_code = r.error_code, error = r.error,
               too_large = r.too_large, maybe_sent = r.maybe_sent, hint = r.hint,
               has_head = r.head ~= nil and r.head:find("^HTTP/1%.1") ~= nil }
  end
  json_reply(out)
end

local pad = ("X-Pad: " .. ("a"):rep(1000) .. "\r\n")
--- The replies of /hostile?case=…, written raw to the connection.
P.CASES = {
  length = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
  chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
  to_close = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
  interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  http10 = "HTTP/1.0 200 OK\r\n\r\nold",
  not_http = "SSH-2.0-OpenSSH_9.2\r\n\r\n",
  bad_length = "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello",
  two_lengths = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
  short_body = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello",
  bad_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
  chunk_overrun = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
  long_chunk_line = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. ("0"):rep(3000) .. "5\r\nhello\r\n0\r\n\r\n",
  huge_head = "HTTP/1.1 200 OK\r\n" .. pad:rep(70) .. "\r\n",
  endless_head = "HTTP/1.1 200 OK\r\n" .. pad:rep(100),
  huge_length = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\nhello",
  huge_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nhello",
  bad_header = "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
  unknown_coding = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
  cut_head = "HTTP/1.1 200 OK\r\nContent-Len",
  nothing = "",
  silent = false, -- never answers
  error_json = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 19\r\nx-acs-request-id: r1\r\n\r\n{\"Code\":\"Busy\",\"M\"}",
}

--- GET /hostile?case=…: writes the case's bytes on the raw connection, then closes it.
function P.hostile()
  local bytes = P.CASES[ngx.var.arg_case]
  local sock = assert(ngx.req.socket(true))
  if ngx.var.arg_case == "drip" then
    -- a byte every 0.3 s: every read waits less than a timeout, the whole reply far more
    sock:send("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n")
    for _ = 1, 20 do
      if not sock:send("x") then break end
      ngx.sleep(0.3)
    end
  elseif bytes == false then
    ngx.sleep(5)
  elseif bytes and bytes ~= "" then
    sock:send(bytes)
    if ngx.var.arg_case == "endless_head" then ngx.sleep(1) end
  end
  ngx.exit(444)
end

-- One client with a single concurrency slot, kept by the worker across requests.
local single_slot
local function single_slot_client()
  single_slot = single_slot or ecs.client { region = "cn-hangzhou", endpoint = ENDPOINT,
    access_key_id = "testid", access_key_secret = "testsecret", max_concurrency = 1 }
  return single_slot
end

--- GET /abandon: starts a call in a light thread, then ends the request at once (nginx kills
--- the thread while it holds the client's only slot).
function P.abandon()
  local client = single_slot_client()
  ngx.thread.spawn(function() client:DescribeInstances {} end)
  ngx.sleep(0.1) -- the call holds the slot and waits for its reply
  ngx.say("abandoned")
  ngx.exit(200)
end

--- GET /after_abandon: a call on the same client once garbage is collected.
function P.after_abandon()
  collectgarbage("collect")
  collectgarbage("collect")
  local res, err = single_slot_client():DescribeRegions({}, { deadline = 2 })
  if not res then return json_reply(err_table(err)) end
  json_reply { ok = true }
end

-- ---- the Redis rate store over cosockets (ECS_RATE_STORE names the Redis) ----

local function redis_limiter()
  local store = require("ecs.ratestore").resolve(os.getenv("ECS_RATE_STORE"))
  return store:limiter("probe\0redis", { rate = 10, adaptive = true })
end

--- GET /redis_throttle: this box reports a throttle with a 2 s hint to the shared limiter.
function P.redis_throttle()
  redis_limiter():observe(require("ecs.core").now(), "throttled", 2)
  ngx.sleep(0.2) -- the report goes out in a light thread of its own
  json_reply { ok = true }
end

--- GET /redis_acquire: the wait this box gets from the shared limiter.
function P.redis_acquire()
  json_reply { wait = redis_limiter():acquire(require("ecs.core").now()) }
end

--- GET /redis_killed_waiter: a task queued behind another's script call is killed (its
--- request ended) before the call's reply; a later acquire of the key must still be answered.
function P.redis_killed_waiter()
  local core = require "ecs.core"
  local store = require("ecs.ratestore").resolve(os.getenv("ECS_RATE_STORE"))
  local limiter = store:limiter("probe\0killed-" .. ngx.now(), { rate = 1000, adaptive = true })
  local first = ngx.thread.spawn(function() return limiter:acquire(core.now()) end) -- sends
  local queued = ngx.thread.spawn(function() return limiter:acquire(core.now()) end) -- waits
  ngx.thread.kill(queued)
  ngx.thread.wait(first)
  local t0 = ngx.now()
  local wait = limiter:acquire(core.now())
  ngx.update_time()
  json_reply { seconds = ngx.now() - t0, wait = wait }
end

--- GET /redis_call: a call whose limiter lives in Redis.
function P.redis_call()
  local client = ecs.client { region = "cn-hangzhou", endpoint = ENDPOINT, access_key_id = "testid",
    access_key_secret = "testsecret", rate_store = os.getenv("ECS_RATE_STORE") }
  local res, err = client:DescribeRegions {}
  if not res then return json_reply(err_table(err)) end
  json_reply { ok = true }
end

-- A task of one request that another request waits for.
local orphan

--- GET /spawn_and_exit: starts a long task, then ends the request (nginx ends the task's thread).
function P.spawn_and_exit()
  orphan = ecs.spawn(function() ngx.sleep(30) return "finished" end)
  ngx.say("exiting")
  ngx.exit(200)
end

--- GET /wait_orphan: waits for that task (garbage is collected meanwhile: the task is settled
--- once its ended thread is).
function P.wait_orphan()
  local collector = ngx.thread.spawn(function()
    for _ = 1, 40 do
      collectgarbage("collect")
      ngx.sleep(0.05)
    end
  end)
  local t0 = ngx.now()
  local ok, err = orphan:wait()
  ngx.update_time()
  ngx.thread.kill(collector)
  json_reply { ok = ok, err = err, seconds = ngx.now() - t0 }
end

--- GET /wake_race: a wake that comes as the waiter's time runs out (its timer expires while
--- the waking thread runs without yielding): the waiter must get the wake, not a timeout and
--- then a stale unit.
function P.wake_race()
  local S = require "ecs.scheduler"
  local waiter
  local got = {}
  local thread = ngx.thread.spawn(function()
    waiter = S.current()
    got.first = S.suspend_for(0.02)
    local t0 = ngx.now()
    got.second = S.suspend_for(0.2)
    ngx.update_time()
    got.second_after = ngx.now() - t0
  end)
  local t0 = ngx.now()
  repeat ngx.update_time() until ngx.now() - t0 >= 0.06
  got.woken = S.wake(waiter, "the wake's value")
  ngx.thread.wait(thread)
  json_reply { first = tostring(got.first), second = tostring(got.second), woken = got.woken,
               second_after = got.second_after }
end

--- GET /killed_fetch: a credentials fetch started by a light thread that nginx kills mid-fetch;
--- then, in the same worker, a fetch must still come (not wait for the dead one for ever).
local killed_provider
function P.killed_fetch()
  local refresh = require "ecs.credentials.refresh"
  if not killed_provider then
    local Slow = refresh.class {}
    function Slow:fetch()
      ngx.sleep(0.3)
      return { access_key_id = "id", access_key_secret = "secret", expiration = ngx.time() + 3600 }
    end
    killed_provider = refresh.init(setmetatable({}, Slow), "slow provider")
  end
  local thread = ngx.thread.spawn(function() killed_provider:get() end)
  ngx.sleep(0.05)
  ngx.thread.kill(thread)
  local t0 = ngx.now()
  local creds, err = killed_provider:get()
  ngx.update_time()
  json_reply { ok = creds ~= nil, err = err and tostring(err), seconds = ngx.now() - t0 }
end

--- Tries a call and records the error under the running phase's name (for the phase specs).
---@param dict_key string
function P.try_call(dict_key)
  local client = ecs.client { region = "cn-hangzhou", endpoint = ENDPOINT,
                              access_key_id = "testid", access_key_secret = "testsecret" }
  local ok, err = pcall(client.DescribeRegions, client, {})
  ngx.shared.probe:set(dict_key, ok and "no error" or tostring(err))
end

-- ---- jobs every worker runs when the spec asks (/job?name=…) ----

local function count(key, by) ngx.shared.probe:incr(key, by or 1, 0) end

local JOBS = {}

-- n calls from each worker, `concurrency` at a time, counting attempts, throttles and failures;
-- with `rate`, the action's configured rate (req/s, for all workers together).
function JOBS.burst(n, concurrency, action, rate)
  local client = ecs.client {
    region = "cn-hangzhou", endpoint = ENDPOINT, access_key_id = "testid", access_key_secret = "testsecret",
    max_concurrency = concurrency, rate_limits = rate and { [action] = rate } or nil,
    adaptive = not rate, -- a configured rate alone: what the shared bucket does, unaided
    on_response = function(info)
      count("attempts")
      if info.throttled then count("throttled") end
    end,
  }
  local per_task = math.ceil(n / concurrency)
  local tasks = {}
  for t = 1, concurrency do
    tasks[t] = ecs.spawn(function()
      for _ = 1, per_task do
        local res, err = client:call(action, {})
        if res then count("ok") else count("failed"); ngx.log(ngx.ERR, "burst: ", tostring(err)) end
      end
    end)
  end
  for _, t in ipairs(tasks) do t:wait() end
end

-- Worker 0 reports a throttle (with a 2 s hint) to a limiter; then every worker records the rate
-- and the wait it sees for that key.
function JOBS.cut()
  local core = require "ecs.core"
  local limiter = require("ecs.ratestore").default():limiter("probe\0key", { rate = 10, adaptive = true })
  local id = ngx.worker.id()
  if id == 0 then limiter:observe(core.now(), "throttled", 2) end
  ngx.sleep(0.3)
  ngx.shared.probe:set("rate_" .. id, limiter:rate())
  ngx.shared.probe:set("wait_" .. id, limiter:acquire(core.now()))
end

-- Calls for `seconds` with credentials from AssumeRole (the emulator's STS), counting calls.
function JOBS.creds(seconds)
  local client = ecs.client {
    region = "cn-hangzhou", endpoint = ENDPOINT,
    credentials = ecs.credentials.ram_role_arn {
      access_key_id = "testid", access_key_secret = "testsecret",
      role_arn = "acs:ram::123456789012:role/probe", sts_endpoint = ENDPOINT,
    },
  }
  local ends = ngx.now() + seconds
  while ngx.now() < ends do
    local res, err = client:DescribeRegions {}
    if res then count("ok") else count("failed"); ngx.log(ngx.ERR, "creds: ", tostring(err)) end
    ngx.sleep(0.02)
    ngx.update_time()
  end
end

--- init_worker_by_lua: polls for a job the spec starts, runs it once in every worker.
function P.worker()
  local started = {}
  ngx.timer.every(0.05, function(premature)
    if premature then return end
    local dict = ngx.shared.probe
    local job, id = dict:get("job"), dict:get("job_id")
    if not job or started[id] then return end
    started[id] = true
    local args = cjson.decode(dict:get("job_args") or "[]") or {}
    local ok, err = pcall(JOBS[job], unpack(args))
    if not ok then ngx.log(ngx.ERR, "job ", job, ": ", tostring(err)); count("job_errors") end
    count("workers_done")
  end)
end

--- GET /job?name=…&args=[json] starts a job in every worker; GET /counts reads the counters.
function P.job()
  local dict = ngx.shared.probe
  dict:flush_all()
  dict:set("job_args", ngx.unescape_uri(ngx.var.arg_args or "[]"))
  dict:set("job", ngx.var.arg_name)
  dict:set("job_id", ngx.now() .. ":" .. math.random())
  json_reply { started = ngx.var.arg_name }
end

function P.counts()
  local dict = ngx.shared.probe
  local out = {}
  for _, k in ipairs(dict:get_keys(0)) do out[k] = dict:get(k) end
  json_reply(out)
end

--- GET /phase: what the phase probes recorded.
function P.phase_results()
  P.counts()
end

--- GET /maps: whether libcurl is mapped into this worker.
function P.maps()
  local f = io.open("/proc/self/maps", "rb")
  local maps = f and f:read("*a") or ""
  if f then f:close() end
  json_reply { pid = ngx.worker.pid(), libcurl = maps:find("libcurl", 1, true) ~= nil,
               ecs_core = maps:find("ecs/core.so", 1, true) ~= nil }
end

return P
