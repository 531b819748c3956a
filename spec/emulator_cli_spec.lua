-- emulator/ecs-emulator: start, stop, status, TLS, port handling. Each spec starts its own
-- instances on its own ports and always stops them.
local E = require "support.emulator"

local CLI = E.shq(E.CLI)

local function start(args)
  local out, rc = E.sh(CLI .. " start " .. args .. " 2>&1")
  return out, rc
end

local function stop(port)
  return E.sh(CLI .. " stop --port " .. port .. " 2>&1")
end

-- the master (from the pid file) and its worker processes
local function procs(master)
  -- zombies (exited, not yet reaped by init) do not count
  local out = E.sh("ps -o stat= -p " .. master .. " 2>/dev/null; ps -o stat= --ppid " .. master .. " 2>/dev/null")
  local n = 0
  for st in out:gmatch("%S+") do if not st:match("^Z") then n = n + 1 end end
  return n
end

local function master_of(dir)
  return tonumber((E.readfile(dir .. "/nginx.pid") or ""):match("%d+"))
end

describe("ecs-emulator CLI", function()
  local started = {}
  after_each(function()
    for _, port in ipairs(started) do stop(port) end
    started = {}
  end)

  it("starts on a chosen port, prints the URL first, reports status, stops without leftovers", function()
    local port = E.free_port()
    local out, rc = start("--port " .. port .. " --speed 0")
    table.insert(started, port)
    assert.are.equal(0, rc, out)
    local url = out:match("^([^\n]+)")
    assert.are.equal("http://127.0.0.1:" .. port, url)
    local res = E.http("GET", url .. "/__emulator/health")
    assert.are.equal(200, res.status)
    assert.are.equal(0, res.json.settings.speed)
    local st, src = E.sh(CLI .. " status --port " .. port)
    assert.are.equal(0, src)
    assert.matches("running " .. url, st, 1, true)
    local dir = st:match("state_dir=(%S+)")
    local master = master_of(dir)
    assert.are.equal(2, procs(master)) -- master and one worker
    local so, stop_rc = stop(port)
    assert.are.equal(0, stop_rc, so)
    assert.are.equal(0, procs(master))
    assert.is_false(require("support.shell").listening(port))
    local _, src2 = E.sh(CLI .. " status --port " .. port)
    assert.are_not.equal(0, src2)
    local _, again = stop(port)
    assert.are_not.equal(0, again)
  end)

  it("refuses to start twice on a port, whatever the state dir", function()
    local port = E.free_port()
    local _, rc = start("--port " .. port)
    table.insert(started, port)
    assert.are.equal(0, rc)
    local out, rc2 = start("--port " .. port)
    assert.are_not.equal(0, rc2)
    assert.matches("already running on port " .. port, out, 1, true)
    -- an emulator started with its own state dir is found by port too
    local busy = E.free_port()
    local tmp = E.sh("mktemp -d"):gsub("%s+$", "")
    local _, rc3 = start("--port " .. busy .. " --state-dir " .. E.shq(tmp))
    table.insert(started, busy)
    assert.are.equal(0, rc3)
    local out4, rc4 = start("--port " .. busy)
    assert.are_not.equal(0, rc4)
    assert.matches("already running on port " .. busy, out4, 1, true)
    stop(busy)
    E.sh("rm -rf " .. E.shq(tmp))
  end)

  it("says so clearly when a foreign program holds the port", function()
    -- nginx itself holds a port here, outside the emulator's registry
    local port = E.free_port()
    local tmp = E.sh("mktemp -d"):gsub("%s+$", "")
    E.sh("mkdir -p " .. tmp .. "/logs && printf 'pid %s/nginx.pid; error_log %s/logs/e.log; events {} " ..
      "http { access_log off; client_body_temp_path %s; server { listen 127.0.0.1:%d; return 204; } }' " ..
      tmp .. " " .. tmp .. " " .. tmp .. " " .. port .. " > " .. tmp .. "/n.conf")
    local _, nrc = E.sh("nginx -p " .. tmp .. " -c " .. tmp .. "/n.conf -e " .. tmp .. "/logs/e.log 2>/dev/null")
    assert.are.equal(0, nrc)
    local out, rc = start("--port " .. port)
    E.sh("kill $(cat " .. tmp .. "/nginx.pid); sleep 0.2; rm -rf " .. E.shq(tmp))
    assert.are_not.equal(0, rc)
    assert.matches("port " .. port .. " is already in use", out, 1, true)
  end)

  it("picks a free loopback port by itself", function()
    local out, rc = start("")
    assert.are.equal(0, rc, out)
    local port = out:match("^http://127%.0%.0%.1:(%d+)\n")
    assert.truthy(port, out)
    table.insert(started, port)
    assert.are.equal(200, E.http("GET", "http://127.0.0.1:" .. port .. "/__emulator/health").status)
  end)

  it("serves TLS with a fresh CA printed as ca_file=", function()
    local port = E.free_port()
    local out, rc = start("--tls --port " .. port)
    table.insert(started, port)
    assert.are.equal(0, rc, out)
    local url, ca = out:match("^([^\n]+)\nca_file=([^\n]+)")
    assert.are.equal("https://127.0.0.1:" .. port, url)
    assert.truthy(E.readfile(ca):find("BEGIN CERTIFICATE", 1, true))
    local res = E.http("GET", url .. "/__emulator/health", nil, nil, "--cacert " .. E.shq(ca))
    assert.are.equal(200, res.status)
    -- and signed calls go through over TLS
    local req = E.prepare("DescribeRegions", {}, { endpoint = url, v = "v3" })
    res = E.http(req.method, req.url, req.headers, req.body, "--cacert " .. E.shq(ca))
    assert.are.equal(200, res.status, res.body)
    -- without the CA the certificate is not trusted
    local bad = E.http("GET", url .. "/__emulator/health")
    assert.are_not.equal(0, bad.curl_rc)
  end)

  it("runs several workers and keeps a state dir where asked", function()
    local port = E.free_port()
    local tmp = E.sh("mktemp -d"):gsub("%s+$", "")
    local out, rc = start("--port " .. port .. " --workers 2 --state-dir " .. E.shq(tmp))
    table.insert(started, port)
    assert.are.equal(0, rc, out)
    assert.truthy(E.readfile(tmp .. "/nginx.conf"):find("worker_processes 2;", 1, true))
    local res = E.http("GET", "http://127.0.0.1:" .. port .. "/__emulator/health")
    assert.are.equal(2, res.json.workers)
    local master = master_of(tmp)
    assert.are.equal(3, procs(master))
    local so = E.sh(CLI .. " stop --state-dir " .. E.shq(tmp))
    assert.matches("stopped", so)
    started = {}
    assert.are.equal(0, procs(master))
    E.sh("rm -rf " .. E.shq(tmp))
  end)

  it("rejects bad options", function()
    local out, rc = start("--port nope")
    assert.are_not.equal(0, rc)
    assert.matches("--port", out, 1, true)
    out, rc = start("--frobnicate")
    assert.are_not.equal(0, rc)
    assert.matches("unknown option", out, 1, true)
  end)
end)
