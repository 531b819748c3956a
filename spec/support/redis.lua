-- A throwaway redis-server (Debian's /usr/bin/redis-server) for the specs: on
-- a free 127.0.0.1 port, in a temporary directory, with no persistence; it can
-- be killed and started again on the same port (the rate store's fallback),
-- and is stopped by the spec that started it.
local M = {}

M.SERVER = os.getenv("REDIS_SERVER") or "/usr/bin/redis-server"
M.CLI = os.getenv("REDIS_CLI") or "/usr/bin/redis-cli"

local shell = require "support.shell"
local sh, shq, listening = shell.sh, shell.shq, shell.listening
M.sh = sh

local function sleep(s) os.execute("sleep " .. s) end

local Server = {}
Server.__index = Server

-- redis-cli against this server, as a shell command prefix.
function Server:cli_command()
  local parts = { M.CLI, "-h 127.0.0.1", "-p", self.port }
  if self.password then parts[#parts + 1] = "--no-auth-warning -a " .. shq(self.password) end
  return table.concat(parts, " ")
end

--- Runs a redis-cli command (a string of arguments); returns its output without the last newline.
function Server:cli(args)
  local out = sh(self:cli_command() .. " " .. args)
  return (out:gsub("\n$", ""))
end

function Server:running()
  return self:cli("PING") == "PONG"
end

-- Starts redis-server on self.port; true when it answers PING.
function Server:launch()
  local args = { M.SERVER, "--port", self.port, "--bind 127.0.0.1", "--save ''", "--appendonly no",
    "--dir", shq(self.dir), "--daemonize yes", "--pidfile", shq(self.dir .. "/redis.pid"),
    "--logfile", shq(self.dir .. "/redis.log"), "--protected-mode no" }
  if self.password then args[#args + 1] = "--requirepass " .. shq(self.password) end
  if self.unixsocket then
    args[#args + 1] = "--unixsocket " .. shq(self.unixsocket) .. " --unixsocketperm 700"
  end
  sh(table.concat(args, " "))
  for _ = 1, 100 do
    if self:running() then return true end
    sleep(0.05)
  end
  return false
end

local function pid_of(self)
  local f = io.open(self.dir .. "/redis.pid")
  if not f then return nil end
  local pid = tonumber(f:read("*a"):match("%d+"))
  f:close()
  return pid
end

--- Kills the server (SIGKILL: as a crash) and waits until it is gone.
function Server:kill()
  local pid = pid_of(self)
  if pid then
    os.execute("kill -CONT " .. pid .. " 2>/dev/null")
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    -- (not kill -0: where nobody reaps the daemon, it lingers as a zombie)
    for _ = 1, 100 do
      local f = io.open("/proc/" .. pid .. "/stat")
      local stat = f and f:read("*a") or ""
      if f then f:close() end
      if not f or stat:match("^%d+ %b() Z") then break end
      sleep(0.02)
    end
  end
  os.remove(self.dir .. "/redis.pid")
end

--- Freezes the server (SIGSTOP): connections are accepted by the kernel, nothing is answered.
function Server:pause()
  local pid = assert(pid_of(self), "redis-server is not running")
  os.execute("kill -STOP " .. pid)
end

--- Lets a paused server go on (SIGCONT).
function Server:resume()
  local pid = assert(pid_of(self), "redis-server is not running")
  os.execute("kill -CONT " .. pid)
end

--- Starts the server again on the same port (after kill).
function Server:restart()
  assert(self:launch(), "redis-server did not start again on port " .. self.port)
end

--- Stops the server and removes its directory.
function Server:stop()
  self:kill()
  os.execute("rm -rf " .. shq(self.dir))
end

--- Starts a server: opts.password (requirepass), opts.unixsocket (true: a socket in its directory).
--- The object has url (redis://127.0.0.1:port/0), port, unixsocket, password.
function M.start(opts)
  opts = opts or {}
  assert(io.open(M.SERVER), "redis-server is not installed (" .. M.SERVER .. "): tools/install-deps")
  local dir = sh("mktemp -d /tmp/lua-ecs-redis.XXXXXX"):gsub("%s+$", "")
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  for _ = 1, 20 do
    local port = math.random(20000, 32000)
    -- a port nobody listens on (redis-server would fail to bind, and we would retry anyway)
    if not listening(port) then
      local self = setmetatable({ port = port, dir = dir, password = opts.password,
        unixsocket = opts.unixsocket and (dir .. "/redis.sock") or nil }, Server)
      if self:launch() then
        self.url = "redis://127.0.0.1:" .. port .. "/0"
        return self
      end
      self:kill()
    end
  end
  os.execute("rm -rf " .. shq(dir))
  error("cannot start redis-server on a free port")
end

--- A free port nobody listens on (for "connection refused").
M.free_port = shell.free_port

return M
