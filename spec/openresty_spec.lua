-- lua-ecs inside nginx: the same library on cosockets, driven through a real nginx (the
-- LuaJIT build, build-luajit/) on loopback, against the emulator. The example gateway of
-- examples/openresty, the worker never blocked, keep-alive, hostile replies, the phases without
-- cosockets, TLS, and the state all workers share: the quota and the credentials.
local nginx = require "support.nginx"
local E = require "support.emulator"
local cjson = require "cjson"
local scheduler = require "ecs.scheduler"

local R = "cn-hangzhou"
local IMG = "ubuntu_22_04_x64_20G_alibase_20240130.vhd"

local ENV = {
  ALIBABA_CLOUD_ACCESS_KEY_ID = "testid", ALIBABA_CLOUD_ACCESS_KEY_SECRET = "testsecret",
  ECS_EMULATOR_ENDPOINT = E.endpoint,
}
local MAIN = "env ALIBABA_CLOUD_ACCESS_KEY_ID; env ALIBABA_CLOUD_ACCESS_KEY_SECRET; env ECS_EMULATOR_ENDPOINT;"
local PROBE_LOCATIONS = [[
    location = /call { content_by_lua_block { require("probe").call() } }
    location = /fetch { content_by_lua_block { require("probe").fetch() } }
    location = /hostile { content_by_lua_block { require("probe").hostile() } }
    location = /conn { return 200 "$connection_requests"; }
    location = /maps { content_by_lua_block { require("probe").maps() } }
    location = /counts { content_by_lua_block { require("probe").counts() } }
    location = /job { content_by_lua_block { require("probe").job() } }
    location = /ping { content_by_lua_block { ngx.say("pong") } }
    location = /abandon { content_by_lua_block { require("probe").abandon() } }
    location = /wake_race { content_by_lua_block { require("probe").wake_race() } }
    location = /spawn_and_exit { content_by_lua_block { require("probe").spawn_and_exit() } }
    location = /wait_orphan { content_by_lua_block { require("probe").wait_orphan() } }
    location = /killed_fetch { content_by_lua_block { require("probe").killed_fetch() } }
    location = /after_abandon { content_by_lua_block { require("probe").after_abandon() } }
]]

-- GETs sent at once from this process (lua-ecs's own curl transport); the responses in order.
local function get_all(urls, delay_last)
  return scheduler.run(function()
    local transport = scheduler.transport()
    local tasks = {}
    for i, url in ipairs(urls) do
      tasks[i] = scheduler.spawn(function()
        if delay_last and i == #urls then scheduler.sleep(delay_last) end
        return transport:request { method = "GET", url = url, headers = {}, timeout = 60, connect_timeout = 5 }
      end)
    end
    local out = {}
    for i, t in ipairs(tasks) do out[i] = t:wait() end
    return out
  end)
end

local function get(url)
  return get_all({ url })[1]
end

-- The nginx servers of the running block, for their Lua errors in failure messages.
local live = {}
local function start(opts)
  local server = nginx.start(opts)
  live[#live + 1] = server
  return server
end

local function lua_errors()
  local out = {}
  for _, server in ipairs(live) do
    for line in server.log():gmatch("[^\n]+") do
      if line:find("[lua]", 1, true) or line:find("lua entry thread", 1, true) then out[#out + 1] = line end
    end
  end
  return table.concat(out, "\n")
end

local function get_json(url)
  local r = get(url)
  assert(r.status == 200, "GET " .. url .. ": " .. tostring(r.status or r.error) .. "\n" .. lua_errors())
  return cjson.decode(r.body), r
end

local function header(r, name)
  return r.head:match("\r\n" .. name .. ":%s*([^\r\n]*)")
end

-- Waits until pred() holds (polling), at most `seconds`.
local function eventually(pred, seconds)
  local ends = os.time() + seconds
  while os.time() <= ends do
    local v = pred()
    if v then return v end
    E.sh("sleep 0.2")
  end
  return pred()
end

local function run_instances(n, tag_value)
  local sg = E.ok("CreateSecurityGroup", { RegionId = R, SecurityGroupName = "or-sg" }).SecurityGroupId
  return E.ok("RunInstances", { RegionId = R, ImageId = IMG, InstanceType = "ecs.g6.large", SecurityGroupId = sg,
    Amount = n, ["Tag.1.Key"] = "app", ["Tag.1.Value"] = tag_value }).InstanceIdSets.InstanceIdSet
end

describe("OpenResty: lua-ecs in one nginx worker", function()
  local server
  setup(function()
    E.reset { speed = 0 }
    server = start {
      env = ENV, main = MAIN,
      http = [[
  lua_shared_dict gateway_cache 1m;
  lua_shared_dict probe 1m;
  init_by_lua_block {
    require("gateway").init { cache_ttl = 5,
      client = { region = "cn-hangzhou", endpoint = os.getenv("ECS_EMULATOR_ENDPOINT") } }
    require("probe").try_call("init")
  }
  init_worker_by_lua_block { require("probe").try_call("init_worker") }
]],
      server = PROBE_LOCATIONS .. [[
    location = /instances { content_by_lua_block { require("gateway").instances() } }
    location = /phases {
      set_by_lua_block $ignored { require("probe").try_call("set") return "" }
      header_filter_by_lua_block { require("probe").try_call("header_filter") }
      body_filter_by_lua_block { if ngx.arg[2] then require("probe").try_call("body_filter") end }
      log_by_lua_block { require("probe").try_call("log") }
      content_by_lua_block { ngx.say("ok") }
    }
]],
    }
  end)
  teardown(function()
    if server then server.stop() end
    E.control("DELETE", "faults")
  end)

  it("calls ECS from content_by_lua on cosockets, and never loads libcurl", function()
    local res = get_json(server.url .. "/call?action=DescribeRegions")
    assert.is_true(res.ok, res.message)
    local v3 = get_json(server.url .. "/call?action=DescribeZones&signature=v3&method=POST")
    assert.is_true(v3.ok, v3.message)
    local maps = get_json(server.url .. "/maps")
    assert.is_true(maps.ecs_core)
    assert.is_false(maps.libcurl)
  end)

  it("retries as in scripts: two 503s, then the reply (the same pipeline, on cosockets)", function()
    assert.are.equal(200, (E.control("POST", "faults", { action = "DescribeRegions", kind = "503", count = 2 })))
    local res = get_json(server.url .. "/call?action=DescribeRegions&signature=v3")
    E.control("DELETE", "faults")
    assert.is_true(res.ok, res.message)
    assert.are.same({ "ServiceUnavailable", "ServiceUnavailable", 200 }, res.seen)
  end)

  it("the example gateway lists instances by tag, and answers repeats from its cache", function()
    local web = run_instances(3, "web")
    run_instances(2, "db")
    local body, r = get_json(server.url .. "/instances?tag=app:web")
    assert.are.equal(3, body.count)
    assert.are.equal("miss", header(r, "X%-Cache"))
    local ids = {}
    for _, inst in ipairs(body.instances) do ids[inst.id] = true end
    for _, id in ipairs(web) do assert.is_true(ids[id], id) end
    local again, r2 = get_json(server.url .. "/instances?tag=app:web")
    assert.are.equal("hit", header(r2, "X%-Cache"))
    assert.are.same(body, again)
    assert.are.equal(2, get_json(server.url .. "/instances?tag=app:db").count)
    assert.are.equal(400, get(server.url .. "/instances?tag=nocolon").status)
  end)

  it("answers 200 concurrent gateway requests, every one", function()
    local urls = {}
    for i = 1, 200 do urls[i] = server.url .. "/instances?tag=load:" .. i end
    local answers = get_all(urls)
    local ok = 0
    for _, r in ipairs(answers) do
      if r.status == 200 and cjson.decode(r.body).count == 0 then ok = ok + 1 end
    end
    assert.are.equal(200, ok)
  end)

  it("never blocks the worker: /ping answers at once while 20 requests wait on a 2 s reply", function()
    assert.are.equal(200, (E.control("POST", "faults",
      { action = "DescribeInstances", kind = "slow", delay_ms = 2000, count = 20 })))
    local urls = {}
    for i = 1, 20 do urls[i] = server.url .. "/instances?tag=slow:" .. i end
    urls[21] = server.url .. "/ping"
    local answers = get_all(urls, 0.3) -- the ping goes once the 20 are waiting
    E.control("DELETE", "faults")
    assert.are.equal("pong\n", answers[21].body)
    assert.is_true(answers[21].latency < 0.05, ("/ping took %.3f s"):format(answers[21].latency))
    for i = 1, 20 do
      assert.are.equal(200, answers[i].status)
      assert.is_true(answers[i].latency >= 1.9, ("request %d took %.3f s"):format(i, answers[i].latency))
    end
  end)

  it("gives back the concurrency slot of a call whose request ended (ngx.exit) mid-call", function()
    assert.are.equal(200, (E.control("POST", "faults",
      { action = "DescribeInstances", kind = "slow", delay_ms = 3000, count = 1 })))
    assert.are.equal("abandoned\n", get(server.url .. "/abandon").body)
    local res = get_json(server.url .. "/after_abandon")
    E.control("DELETE", "faults")
    assert.is_true(res.ok, res.message)
  end)

  it("a wake that comes as a wait times out is the waiter's, never lost to a later wait", function()
    local r = get_json(server.url .. "/wake_race")
    assert.is_true(r.woken)
    assert.are.equal("the wake's value", r.first)
    assert.are.equal("ecs.scheduler.TIMED_OUT", r.second)
    assert.is_true(r.second_after >= 0.15, "the second wait returned after " .. r.second_after .. " s")
  end)

  it("task:wait() returns an error for a task whose request nginx ended", function()
    assert.are.equal("exiting\n", get(server.url .. "/spawn_and_exit").body)
    local r = get_json(server.url .. "/wait_orphan")
    assert.is_nil(r.ok)
    assert.matches("ended by nginx", r.err, 1, true)
    assert.is_true(r.seconds < 2, "the wait took " .. r.seconds .. " s")
  end)

  it("a credentials fetch outlives the request that started it (nginx killed its thread)", function()
    local r = get_json(server.url .. "/killed_fetch")
    assert.is_true(r.ok, r.err)
    assert.is_true(r.seconds < 1, "the next get took " .. r.seconds .. " s")
  end)

  it("keeps connections alive: later requests reuse the first one", function()
    local out = get_json(server.url .. "/fetch?n=3&url=" .. server.url .. "/conn")
    assert.are.same({ "1", "2", "3" }, { out[1].body, out[2].body, out[3].body })
  end)

  describe("reads hostile replies as the curl transport does", function()
    local function fetch(case, timeout)
      local out = get_json(("%s/fetch?timeout=%s&url=%s/hostile%%3Fcase%%3D%s"):format(server.url,
        timeout or 2, server.url, case))
      return out[1]
    end
    it("reads Content-Length, chunked (extensions, trailers), to-close, 1xx and HTTP/1.0 replies", function()
      local r = fetch("length")
      assert.are.same({ 200, "hello", true }, { r.status, r.body, r.has_head })
      assert.are.equal("hello world", fetch("chunked").body)
      assert.are.equal("until the end", fetch("to_close").body)
      assert.are.equal("ok", fetch("interim").body)
      assert.are.equal("old", fetch("http10").body)
      local e = fetch("error_json")
      assert.are.same({ 503, '{"Code":"Busy","M"}' }, { e.status, e.body })
    end)
    it("calls malformed framing a BadResponse", function()
      for _, case in ipairs { "not_http", "bad_length", "two_lengths", "short_body", "bad_chunk",
                              "chunk_overrun", "long_chunk_line", "bad_header", "unknown_coding" } do
        local r = fetch(case)
        assert.are.equal("Transport.BadResponse", r.error_code, case .. ": " .. tostring(r.error))
        assert.is_nil(r.status, case)
      end
    end)
    it("refuses replies over the limits (64 KB of headers, 64 MB of body) as too large", function()
      for _, case in ipairs { "huge_head", "endless_head", "huge_length", "huge_chunk" } do
        local r = fetch(case)
        assert.are.equal("Transport.BadResponse", r.error_code, case .. ": " .. tostring(r.error))
        assert.is_true(r.too_large, case)
      end
    end)
    it("reports a connection closed before a reply as a Reset, and silence as a Timeout", function()
      for _, case in ipairs { "nothing", "cut_head" } do
        local r = fetch(case)
        assert.are.equal("Transport.Reset", r.error_code, case .. ": " .. tostring(r.error))
        assert.is_true(r.maybe_sent, case)
      end
      local t = fetch("silent", 0.5)
      assert.are.equal("Transport.Timeout", t.error_code)
      -- a byte every 0.3 s: the attempt's timeout bounds the whole reply, not each read
      local started = os.time()
      local d = fetch("drip", 1)
      assert.are.equal("Transport.Timeout", d.error_code)
      assert.is_true(os.time() - started <= 3, "the drip took " .. (os.time() - started) .. " s")
    end)
  end)

  it("names a failed lookup (no resolver), a refused connection, and gives the fix", function()
    local res = get_json(server.url .. "/call?max_attempts=1&endpoint=http://ecs-emulator.invalid")
    assert.are.equal("Transport.ResolveFailed", res.code)
    assert.matches("resolver", res.message)
    local port = nginx.free_port()
    local refused = get_json(server.url .. "/call?max_attempts=1&endpoint=http://127.0.0.1:" .. port)
    assert.are.equal("Transport.ConnectFailed", refused.code)
    assert.matches("127.0.0.1:" .. port, refused.message, 1, true)
  end)

  it("raises in phases without cosockets, naming the phase and ngx.timer.at", function()
    assert.are.equal(200, get(server.url .. "/phases").status)
    local seen = eventually(function()
      local c = get_json(server.url .. "/counts")
      return c.log and c
    end, 5)
    for _, phase in ipairs { "init", "init_worker", "set", "header_filter", "body_filter", "log" } do
      local message = seen[phase]
      assert.is_string(message, phase)
      assert.matches("nginx's " .. phase .. " phase", message, 1, true)
      assert.matches("ngx.timer.at(0,", message, 1, true)
    end
  end)
end)

describe("OpenResty: TLS on cosockets", function()
  local tls_url, tls_ca, port
  local trusting, plain
  setup(function()
    port = nginx.free_port()
    local out = E.sh(("%s start --tls --speed 0 --port %d"):format(E.CLI, port))
    tls_url = out:match("(https://[^\r\n]+)")
    tls_ca = out:match("ca_file=([^\r\n]+)")
    assert(tls_url and tls_ca, "TLS emulator did not start: " .. out)
    trusting = start { env = ENV, main = MAIN, server = PROBE_LOCATIONS,
      http = "  lua_ssl_trusted_certificate " .. tls_ca .. ";" }
    plain = start { env = ENV, main = MAIN, server = PROBE_LOCATIONS, shared_dict = false }
  end)
  teardown(function()
    if trusting then trusting.stop() end
    if plain then plain.stop() end
    E.sh(("%s stop --port %d"):format(E.CLI, port))
  end)

  it("verifies the server against lua_ssl_trusted_certificate: accepted with it", function()
    local res = get_json(trusting.url .. "/call?endpoint=" .. tls_url)
    assert.is_true(res.ok, res.message)
  end)

  it("refuses an untrusted certificate, with a hint naming lua_ssl_trusted_certificate", function()
    local res = get_json(plain.url .. "/call?max_attempts=1&endpoint=" .. tls_url)
    assert.are.equal("Transport.TLS", res.code)
    assert.matches("lua_ssl_trusted_certificate", res.message, 1, true)
  end)

  it("without lua_shared_dict ecs, limiters are per worker and one warning says so", function()
    assert.is_true(get_json(plain.url .. "/call").ok)
    assert.is_true(get_json(plain.url .. "/call?action=DescribeZones").ok)
    local _, n = plain.log():gsub("no `lua_shared_dict ecs`", "")
    assert.are.equal(1, n)
  end)
end)

describe("OpenResty: two workers share state through lua_shared_dict ecs", function()
  local server
  setup(function()
    E.reset { speed = 0 }
    server = start {
      env = ENV, main = MAIN, workers = 2, server = PROBE_LOCATIONS,
      http = "  lua_shared_dict probe 1m;\n  init_worker_by_lua_block { require('probe').worker() }",
    }
  end)
  teardown(function()
    if server then server.stop() end
    E.reset { speed = 0 }
  end)

  local function run_job(name, args, seconds)
    get_json(server.url .. "/job?name=" .. name .. "&args=" .. cjson.encode(args))
    local counts = eventually(function()
      local c = get_json(server.url .. "/counts")
      return (c.workers_done or 0) >= 2 and c
    end, seconds)
    assert.is_table(counts, name .. " did not finish in time")
    assert.is_nil(counts.job_errors)
    return counts
  end

  it("a throttle seen by one worker cuts the rate of all, and its server hint holds all back", function()
    local c = run_job("cut", {}, 10)
    assert.is_true(c.rate_0 < 10, "no cut")
    assert.are.equal(c.rate_0, c.rate_1)
    for _, id in ipairs { 0, 1 } do
      assert.is_true(c["wait_" .. id] > 1.5, ("worker %d waits %.3f s"):format(id, c["wait_" .. id]))
    end
  end)

  it("one quota for all workers: 400 calls at 20 req/s, at most 5% throttled, none failed", function()
    -- Each worker is told the account's rate: kept per worker, they would send twice that.
    assert.are.equal(200, (E.control("POST", "quotas", { action = "DescribeRegions", rate = 20, burst = 20 })))
    local started = os.time()
    local c = run_job("burst", { 200, 8, "DescribeRegions", 20 }, 90)
    assert.is_true(os.time() - started >= 17, "400 calls at 20 req/s took under 17 s")
    assert.are.equal(400, c.ok)
    assert.is_nil(c.failed)
    local throttled = c.throttled or 0
    assert.is_true(throttled <= 0.05 * c.attempts,
      ("%d of %d attempts throttled"):format(throttled, c.attempts))
  end)

  it("one credentials fetch per refresh for all workers", function()
    assert.are.equal(200, (E.control("POST", "config", { sts_lifetime = 3 })))
    E.control("DELETE", "stats")
    local seconds = 8
    local c = run_job("creds", { seconds }, 30)
    assert.is_nil(c.failed)
    assert.is_true(c.ok > 100, "calls: " .. tostring(c.ok))
    local fetches = E.stats().sts.AssumeRole
    -- 3-second credentials are refreshed when a fifth of their life is left: one fetch on first
    -- use, then one about every 2.4 s for the whole nginx (each worker on its own: twice that).
    local most = math.ceil(seconds / 2.4)
    assert.is_true(fetches >= 2 and fetches <= most,
      ("%d AssumeRole requests in %d s"):format(fetches, seconds))
  end)
end)

describe("OpenResty: several nginx share one quota through a Redis rate store (cosockets)", function()
  local redis_support = require "support.redis"
  local redis, box_a, box_b
  setup(function()
    redis = redis_support.start()
    local env = { ECS_RATE_STORE = redis.url }
    for k, v in pairs(ENV) do env[k] = v end
    local opts = { env = env, main = MAIN .. " env ECS_RATE_STORE;", server = PROBE_LOCATIONS .. [[
    location = /redis_throttle { content_by_lua_block { require("probe").redis_throttle() } }
    location = /redis_acquire { content_by_lua_block { require("probe").redis_acquire() } }
    location = /redis_call { content_by_lua_block { require("probe").redis_call() } }
    location = /redis_killed_waiter { content_by_lua_block { require("probe").redis_killed_waiter() } }
]] }
    box_a = start(opts)
    box_b = start(opts)
  end)
  teardown(function()
    if box_a then box_a.stop() end
    if box_b then box_b.stop() end
    if redis then redis:stop() end
  end)

  it("calls with the limiter in Redis, set from ECS_RATE_STORE", function()
    local res = get_json(box_a.url .. "/redis_call")
    assert.is_true(res.ok, res.message)
    assert.matches("ecs:rate:DescribeRegions:", redis:cli("--scan --pattern 'ecs:rate:*'"), 1, true)
  end)

  it("a task killed while queued for a script call does not stall the key's later acquires", function()
    local r = get_json(box_a.url .. "/redis_killed_waiter")
    assert.is_true(r.seconds < 3, ("the next acquire took %.3f s"):format(r.seconds))
  end)

  it("a throttle and its hint reported by one nginx hold the other back", function()
    assert.are.equal(0, get_json(box_b.url .. "/redis_acquire").wait)
    assert.is_true(get_json(box_a.url .. "/redis_throttle").ok)
    local wait = get_json(box_b.url .. "/redis_acquire").wait
    assert.is_true(wait > 1.5, ("box B waits %.3f s"):format(wait))
  end)
end)
