-- A stream socket on the ecs.loop event loop with the interface of OpenResty's
-- ngx.socket.tcp (the subset clients of other services use: connect, send,
-- receive, settimeouts, setkeepalive, getreusedtimes, close), so that one
-- client (the Redis rate store) runs in scripts and inside nginx alike. The C
-- socket (csrc/socket.c) never blocks: where it would, the running task waits
-- for the loop to report readiness, as it waits for a transfer or a timer.
local scheduler = require "ecs.scheduler"

local M = {}

--- The timeouts of a new socket, in milliseconds (ngx's default lua_socket_*_timeout is 60 s).
M.DEFAULT_TIMEOUT = 60000
--- Idle connections kept per address by setkeepalive (ngx's default pool size is 30).
M.POOL_SIZE = 30

--- A stream socket with the cosocket interface.
---@class ecs.Socket
local Socket = {}
Socket.__index = Socket

-- Idle connections of each transport, by address: setkeepalive puts one
-- there, connect takes it again. Weak keys: a transport gone takes its pool.
local pools = setmetatable({}, { __mode = "k" })

local TIMED_OUT = scheduler.TIMED_OUT
local READY = {}

--- A socket of transport's loop (transport:tcp() makes them).
---@param transport ecs.Transport the curl transport (its loop and callbacks)
---@return ecs.Socket
function M.new(transport)
  return setmetatable({ transport = transport, connect_ms = M.DEFAULT_TIMEOUT,
    send_ms = M.DEFAULT_TIMEOUT, read_ms = M.DEFAULT_TIMEOUT }, Socket)
end

-- Waits until the C socket may be read ("r") or written ("w"), at most ms
-- milliseconds; true, or nil and "timeout".
local function wait(self, what, ms)
  local task = scheduler.current()
  if not task then error("ecs socket: used outside a task (inside ecs.run, or ecs.spawn)", 3) end
  local sock = self.sock
  local id = sock:wait(what)
  local callbacks = self.transport.callbacks
  callbacks[id] = function() scheduler.wake(task, READY) end
  local value = scheduler.suspend_for(ms / 1000)
  if value == TIMED_OUT then
    sock:unwait()
    callbacks[id] = nil
    return nil, "timeout"
  end
  return true
end

--- Sets the connect, send and read timeouts, in milliseconds (0 or nil keeps one as it is).
---@param connect_ms? number
---@param send_ms? number
---@param read_ms? number
---@return nil
function Socket:settimeouts(connect_ms, send_ms, read_ms)
  for name, v in pairs { connect_ms = connect_ms, send_ms = send_ms, read_ms = read_ms } do
    if v ~= nil then
      if type(v) ~= "number" or not (v >= 0 and v <= 1e9) then
        error(("settimeouts: %s must be milliseconds >= 0 (got %s)"):format(name, tostring(v)), 2)
      end
      if v > 0 then self[name] = v end
    end
  end
end

--- Sets all three timeouts at once, in milliseconds.
---@param ms number
---@return nil
function Socket:settimeout(ms)
  self:settimeouts(ms, ms, ms)
end

--- Connects to host:port, or to a unix socket given as "unix:/path"; reuses an idle connection
--- that setkeepalive kept in the same pool (opts.pool, default the address). Returns 1, or nil
--- and a message ("connection refused", "timeout", ...).
---@param host string an address, a host name, or "unix:/path"
---@param port? integer|{pool?: string} the port, or (unix sockets) the options
---@param opts? {pool?: string}
---@return integer|nil ok
---@return string|nil err
function Socket:connect(host, port, opts)
  if type(host) ~= "string" or host == "" then error("connect: host must be a string", 2) end
  local unix = host:find("^unix:") ~= nil
  if unix and type(port) == "table" then port, opts = nil, port end
  if not unix and (type(port) ~= "number" or port % 1 ~= 0) then
    error("connect: port must be an integer", 2)
  end
  if self.sock then self:close() end
  local name = opts and opts.pool or (unix and host or (host .. ":" .. port))
  self.name = name
  local pool = pools[self.transport]
  local idle = pool and pool[name]
  while idle and #idle > 0 do
    local entry = table.remove(idle)
    if entry.sock:alive() then
      self.sock, self.reused = entry.sock, entry.reused + 1
      return 1
    end
    entry.sock:close() -- closed by the peer while idle
  end
  local sock = self.transport.loop:socket()
  local ok, err = sock:connect(host, port)
  if ok == false then
    ok, err = wait({ transport = self.transport, sock = sock }, "w", self.connect_ms)
    if ok then ok, err = sock:connected() end
  end
  if not ok then
    sock:close()
    return nil, err
  end
  self.sock, self.reused = sock, 0
  return 1
end

--- How many times this connection was taken from the keepalive pool (0: a new one).
---@return integer|nil count nil when not connected
---@return string|nil err
function Socket:getreusedtimes()
  if not self.sock then return nil, "closed" end
  return self.reused
end

--- Sends data (a string, or an array of strings); returns the bytes sent, or nil and a message.
---@param data string|string[]
---@return integer|nil bytes
---@return string|nil err
function Socket:send(data)
  if type(data) == "table" then data = table.concat(data) end
  if type(data) ~= "string" then error("send: data must be a string or an array of strings", 2) end
  local sock = self.sock
  if not sock then return nil, "closed" end
  local from, len = 1, #data
  while true do
    local n, err = sock:send(data, from)
    if not n then return nil, err end
    from = from + n
    if from > len then return len end
    local ok, werr = wait(self, "w", self.send_ms)
    if not ok then return nil, werr end
  end
end

--- Receives a line ("*l", without CR and LF), n bytes, or everything until the peer closes
--- ("*a"). Returns the data, or nil, a message ("timeout", "closed", ...) and what arrived.
--- Unlike a cosocket, a timeout leaves what arrived in the socket (the partial result is ""),
--- so that a later receive goes on where this one stopped.
---@param pattern? "*l"|"*a"|integer
---@return string|nil data
---@return string|nil err
---@return string|nil partial
function Socket:receive(pattern)
  local sock = self.sock
  if not sock then return nil, "closed" end
  pattern = pattern or "*l"
  while true do
    local data, err, partial = sock:receive(pattern)
    if data then return data end
    if data == nil then return nil, err, partial end
    local ok, werr = wait(self, "r", self.read_ms)
    if not ok then return nil, werr, "" end
  end
end

--- Puts the connection in the pool of idle ones of its address (at most `size`, default 30),
--- for a later connect to the same address; the socket object itself is then closed.
---@param timeout_ms? number ignored (kept for the cosocket signature): idle connections stay
---@param size? integer
---@return integer|nil ok
---@return string|nil err
function Socket:setkeepalive(timeout_ms, size)
  local _ = timeout_ms
  local sock = self.sock
  if not sock then return nil, "closed" end
  self.sock = nil
  if not sock:alive() then
    sock:close()
    return nil, "connection in dubious state"
  end
  local pool = pools[self.transport]
  if not pool then
    pool = {}
    pools[self.transport] = pool
  end
  local idle = pool[self.name]
  if not idle then
    idle = {}
    pool[self.name] = idle
  end
  if #idle >= (size or M.POOL_SIZE) then
    sock:close()
  else
    idle[#idle + 1] = { sock = sock, reused = self.reused }
  end
  return 1
end

--- Closes the connection.
---@return integer|nil ok
---@return string|nil err
function Socket:close()
  local sock = self.sock
  if not sock then return nil, "closed" end
  self.sock = nil
  sock:close()
  return 1
end

return M
