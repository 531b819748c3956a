-- A name lookup that never gets an answer must not freeze the event loop: other tasks keep
-- running and the call ends by its connect_timeout. The script runs in a network namespace of
-- its own (unshare --net), where the nameservers of /etc/resolv.conf are addresses of the
-- loopback interface and a UDP socket on each (node's dgram) takes the queries and never
-- answers: nothing leaves the machine, and the resolver's configuration is left as it is.
local emu = require "support.emulator"

local ROOT = emu.ROOT
local shq = emu.shq

local SCRIPT = [[
local ecs = require "ecs"
local c = ecs.client { endpoint = "http://ecs.stall.test:8080", region = "cn-hangzhou",
  access_key_id = "a", access_key_secret = "b", connect_timeout = 1, timeout = 5, max_attempts = 1 }
local ticks, gap, done = 0, 0, false
local took, code, message
ecs.run(function()
  ecs.spawn(function()
    local last = ecs.now()
    while not done do
      ecs.sleep(0.1)
      local now = ecs.now()
      if now - last > gap then gap = now - last end
      last, ticks = now, ticks + 1
    end
  end)
  local t0 = ecs.now()
  local _, err = c:call("DescribeRegions", {})
  took, code, message = ecs.now() - t0, err.code, err.message
  done = true
end)
print(("took=%.2f ticks=%d gap=%.2f code=%s message=%s"):format(took, ticks, gap, code, message))
]]

local SILENT = [[
const addrs = process.argv.slice(2);
let bound = 0;
for (const a of addrs) {
  const s = require('dgram').createSocket('udp4');
  s.on('message', () => {});   // takes every query, answers none
  s.bind(53, a, () => { if (++bound === addrs.length) console.log('listening'); });
}
]]

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Runs the script in fresh namespaces; silent: whether a DNS server takes the queries
-- (else nothing listens and lookups fail at once).
local function run(silent)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. shq(dir)))
  write(dir .. "/stall.lua", SCRIPT)
  write(dir .. "/silent.js", SILENT)
  -- the IPv4 nameservers (glibc's default when none: 127.0.0.1), as loopback addresses
  local inner = table.concat({
    "ip link set lo up",
    "ns=$(awk '$1 == \"nameserver\" && $2 ~ /^[0-9.]+$/ { print $2 }' /etc/resolv.conf 2>/dev/null)",
    "[ -n \"$ns\" ] || ns=127.0.0.1",
    "for a in $ns; do ip addr add \"$a/32\" dev lo 2>/dev/null; done",
    silent and ("node " .. shq(dir .. "/silent.js") .. " $ns > " .. shq(dir .. "/node.log") .. " 2>&1 & "
      .. "for i in $(seq 1 50); do grep -q listening " .. shq(dir .. "/node.log") .. " && break; sleep 0.1; done") or "true",
    "cd " .. shq(ROOT),
    "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 " .. shq(dir .. "/stall.lua"),
  }, "; ")
  -- root needs no user namespace (and may not make one, e.g. inside a chroot)
  local as_root = emu.sh("id -u"):match("^0") ~= nil
  local out, rc = emu.sh("unshare " .. (as_root and "" or "--map-root-user ") .. "--net sh -c "
    .. shq(inner) .. " 2>&1")
  os.execute("rm -rf " .. shq(dir))
  assert.are.equal(0, rc, out)
  local took, ticks, gap, code, message = out:match("took=([%d.]+) ticks=(%d+) gap=([%d.]+) code=(%S+) message=([^\n]*)")
  assert(took, "no result line in:\n" .. out)
  return tonumber(took), tonumber(ticks), tonumber(gap), code, message
end

describe("a stalled DNS lookup", function()
  it("never freezes the loop: a 0.1 s ticker keeps running and the call ends by its connect_timeout", function()
    local took, ticks, gap, code, message = run(true)
    assert.is_true(took >= 0.9 and took <= 1.5, "the call took " .. took .. " s")
    assert.is_true(gap <= 0.5, "the loop stood still for " .. gap .. " s")
    assert.is_true(ticks >= 7, "only " .. ticks .. " ticks")
    assert.are.equal("Transport.Timeout", code)
    assert.are.equal("cannot resolve ecs.stall.test within the connect_timeout of 1 s", message)
  end)

  it("a name that cannot be resolved is Transport.ResolveFailed naming the host", function()
    local took, _, _, code, message = run(false)
    assert.is_true(took < 1, "took " .. took)
    assert.are.equal("Transport.ResolveFailed", code)
    assert.are.equal("cannot resolve ecs.stall.test", message)
  end)
end)
