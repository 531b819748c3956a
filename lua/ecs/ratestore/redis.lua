-- The Redis rate store: every limiter key (endpoint, region, account,
-- action) keeps its bucket and its adaptive state in one Redis hash that
-- every host of a fleet shares; the decisions are made inside Redis by one
-- script (redis_script.lua: the arithmetic of csrc/throttle.c on Redis'
-- clock). The store speaks RESP over the running task's transport socket
-- (transport:tcp(): ecs.transport.socket in scripts, a cosocket in nginx), so
-- a task waiting for Redis lets every other task run.
--
-- Per process and key, one script call is in flight at a time: the acquires
-- that arrive meanwhile, and the outcomes observed since the last call, go
-- together in the next one (so a call costs at most one command, fewer under
-- load). A throttle or a retry-after hint is sent at once.
--
-- When Redis cannot be reached (refused, timeout, reset, a restart) the store
-- limits in this process instead (ecs.ratestore.local limiters, which have
-- seen every outcome all along), logs one line, tries again with a growing
-- delay (0.1 s to 5 s) and logs one line when Redis is back. A call never
-- fails because of the store.
local core = require "ecs.core"
local scheduler = require "ecs.scheduler"
local script = require "ecs.ratestore.redis_script"

local M = {}

--- Seconds a limiter's hash stays in Redis after its last use.
M.TTL = 300
--- Seconds to connect, and to wait for a reply, before Redis counts as unreachable.
M.CONNECT_TIMEOUT = 0.25
M.TIMEOUT = 0.25
--- Delays between attempts to reach Redis again, in seconds (doubling).
M.BACKOFF_MIN, M.BACKOFF_MAX = 0.1, 5
--- A failure this soon (seconds) after Redis came back continues the doubling instead of
--- starting again at BACKOFF_MIN.
M.FLAP_WINDOW = 30
--- epoch() asks Redis for news when its last reply for the key is older than this (seconds):
--- reservations voided by another host's cut are queued again within about a wait slice.
M.EPOCH_REFRESH = 0.5
--- An acquire that would wait anyway (the last reply put the queue this far ahead, seconds)
--- waits up to half that, at most LINGER_MAX, before asking, so that the acquires of the other
--- tasks of the process go in the same script call (fewer commands; the send times are the same).
M.LINGER_MIN, M.LINGER_MAX = 0.02, 0.25
--- The prefix of the limiters' keys in Redis.
M.KEY_PREFIX = "ecs:rate:"

--- The SHA1 of the script, as EVALSHA names it.
M.SCRIPT_SHA = core.digest("sha1", script)

local now = core.now
local concat, fmt = table.concat, string.format

---------------------------------------------------------------------- URLs

--- A URL with its password replaced by ****, for messages and logs.
---@param url string
---@return string
local function redact(url)
  local scheme, rest = url:match("^(%a[%w+.-]*://)(.*)$")
  if not scheme then return "(not a URL)" end
  -- The userinfo ends at the last @ before the query: a password written without
  -- percent-encoding may hold / or @. user:password@ keeps the user; a lone userinfo
  -- (redis://secret@host) may be the password.
  local query_at = rest:find("[?#]") or (#rest + 1)
  local authority, query = rest:sub(1, query_at - 1), rest:sub(query_at)
  local last_at = authority:match(".*()@")
  if last_at then
    local user = authority:sub(1, last_at - 1):match("^([^:/]*):")
    authority = (user and (user .. ":****") or "****") .. authority:sub(last_at)
  end
  -- A password parameter runs to the end (an & in it is not a separator to trust).
  query = query:gsub("([?&]password=).*$", "%1****")
  return scheme .. authority .. query
end
M.redact = redact

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function bad(url, why)
  error(("rate_store: bad URL %s: %s (expected redis://[:password@]host[:port][/db] or "
    .. "unix:///path[?db=n][&password=...])"):format(redact(url), why), 0)
end

local function parse_db(url, s)
  if not s:match("^%d+$") or #s > 5 then bad(url, "the database must be a number (0, 1, ...)") end
  return tonumber(s)
end

---@class ecs.RedisAddress
---@field host? string
---@field port? integer
---@field path? string a unix socket
---@field db integer
---@field user? string
---@field password? string
---@field url string the URL with its password masked

--- Parses a rate store URL: redis://[[user]:password@]host[:port][/db] or
--- unix:///path[?db=n][&password=...][&user=...]. Raises a message naming the URL (with its
--- password masked) and what is wrong with it.
---@param url string
---@return ecs.RedisAddress address
function M.parse(url)
  if type(url) ~= "string" then error("rate_store: the URL must be a string", 0) end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then bad(url, "no scheme (redis:// or unix://)") end
  scheme = scheme:lower()
  local a = { db = 0, url = redact(url) }
  if scheme == "rediss" then bad(url, "TLS (rediss://) is not supported; use redis:// on a trusted network") end
  if scheme == "unix" then
    local path, query = rest:match("^([^?#]*)%??([^#]*)$")
    if not path or path:sub(1, 1) ~= "/" or #path < 2 then
      bad(url, "the socket path must be absolute (unix:///run/redis.sock)")
    end
    a.path = unescape(path)
    for pair in query:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]+)=(.*)$")
      if k == "db" then a.db = parse_db(url, v)
      elseif k == "password" then a.password = unescape(v)
      elseif k == "user" or k == "username" then a.user = unescape(v)
      else bad(url, "an unknown parameter (only db, password and user)") end
    end
    return a
  end
  if scheme ~= "redis" then bad(url, "unsupported scheme '" .. scheme .. "'") end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  local userinfo, hostport = authority:match("^(.*)@([^@]*)$")
  if not userinfo then hostport = authority end
  if userinfo then
    local user, password = userinfo:match("^([^:]*):(.*)$")
    if not user then bad(url, "a password is given as :password@ (or user:password@)") end
    if password == "" then bad(url, "the password is empty") end
    a.user = user ~= "" and unescape(user) or nil
    a.password = unescape(password)
  end
  local host, port = hostport:match("^%[([%x:.]+)%]:?(%d*)$")
  if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
  if not host then bad(url, "the port must be a number") end
  if host == "" then bad(url, "no host") end
  if not host:match("^[%w.:-]+$") then bad(url, "the host '" .. host .. "' is not a host name or address") end
  if hostport:match(":$") then bad(url, "the port must be a number") end
  a.host = host
  a.port = port ~= "" and tonumber(port) or 6379
  if a.port < 1 or a.port > 65535 then bad(url, "the port must be 1 to 65535") end
  if path ~= "" and path ~= "/" then
    local db, extra = path:match("^/([^/?#]*)(.*)$")
    if extra ~= "" then bad(url, "nothing may follow the database number") end
    a.db = parse_db(url, db)
  end
  return a
end

---------------------------------------------------------------------- RESP

--- A command as RESP (an array of bulk strings).
---@param args (string|number)[]
---@return string
local function command(args)
  local parts = { "*" .. #args .. "\r\n" }
  for i = 1, #args do
    local s = tostring(args[i])
    parts[#parts + 1] = "$" .. #s .. "\r\n" .. s .. "\r\n"
  end
  return concat(parts)
end
M.command = command

-- The largest bulk string and array a reply of the store's script may hold (anything larger
-- is not one of its replies).
local MAX_BULK, MAX_ITEMS = 1024 * 1024, 1024

--- Reads one RESP reply: a string, an integer, false (nil bulk), an array, or { err = "..." } for
--- an error reply; nil and a message when the socket failed.
---@param sock ecs.Socket
---@return any reply
---@return string|nil err
local function read_reply(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local kind, rest = line:sub(1, 1), line:sub(2)
  if kind == "+" then return rest end
  if kind == "-" then return { err = rest } end
  if kind == ":" then return tonumber(rest) end
  if kind == "$" then
    local n = rest:match("^%-?%d+$") and tonumber(rest)
    if not n or n > MAX_BULK then return nil, "bad reply from Redis" end
    if n < 0 then return false end
    local data, rerr = sock:receive(n + 2)
    if not data then return nil, rerr end
    return data:sub(1, n)
  end
  if kind == "*" then
    local n = rest:match("^%-?%d+$") and tonumber(rest)
    if not n or n > MAX_ITEMS then return nil, "bad reply from Redis" end
    if n < 0 then return false end
    local list = {}
    for i = 1, n do
      local v, verr = read_reply(sock)
      if v == nil then return nil, verr end
      list[i] = v
    end
    return list
  end
  return nil, "bad reply from Redis (not RESP)"
end
M.read_reply = read_reply

---------------------------------------------------------------------- store

--- A store of limiters kept in Redis.
---@class ecs.RedisStore
---@field url string the URL, its password masked
---@field mode "shared"|"fallback" where the limiters decide now
---@field stats {commands: integer, round_trips: integer, acquires: integer, observations: integer, fallbacks: integer}
local Store = {}
Store.__index = Store

--- A limiter whose state is kept in Redis (in this process while Redis cannot be reached).
---@class ecs.RedisLimiter
local Limiter = {}
Limiter.__index = Limiter

local isyieldable = scheduler.isyieldable

-- What a queued acquire is woken with to send the next batch itself.
local FLUSH = setmetatable({}, { __tostring = function() return "FLUSH" end })

--- Sends payload (encoded commands, `count` replies expected) on a connection of the running
--- task's transport: a kept one, or a new one, which first authenticates and selects the
--- database. Returns the replies, or nil, a message and "config" when Redis refused the
--- handshake (a wrong password, a database out of range), else "io".
---@param payload string RESP
---@param count integer
---@return table|nil replies
---@return string|nil err
---@return "config"|"io"|nil kind
function Store:exchange(payload, count)
  local transport = scheduler.transport()
  if not transport or not transport.tcp then return nil, "no socket transport here", "io" end
  local stats = self.stats
  for try = 1, 2 do
    local sock = transport:tcp()
    sock:settimeouts(self.connect_ms, self.timeout_ms, self.timeout_ms)
    local ok, err
    -- The pool is the store's own: a kept connection is authenticated as this URL says.
    if self.address.path then
      ok, err = sock:connect("unix:" .. self.address.path, { pool = self.pool })
    else
      ok, err = sock:connect(self.address.host, self.address.port, { pool = self.pool })
    end
    if not ok then return nil, err, "io" end
    local reused = (sock:getreusedtimes() or 0) > 0
    local handshake = reused and 0 or self.handshake_count
    local bytes
    bytes, err = sock:send(reused and payload or (self.handshake .. payload))
    stats.round_trips = stats.round_trips + 1
    stats.commands = stats.commands + count + handshake
    local replies = {}
    if bytes then
      for i = 1, handshake + count do
        local reply
        reply, err = read_reply(sock)
        if reply == nil then break end
        if i <= handshake then
          if type(reply) == "table" and reply.err then
            sock:close()
            return nil, reply.err, "config"
          end
        else
          replies[#replies + 1] = reply
        end
      end
    end
    if #replies == count then
      sock:setkeepalive()
      return replies
    end
    sock:close()
    -- A kept connection may have died while idle (a Redis restart): once more on a new one
    -- (not after a timeout: Redis is slow, and a second wait would double the call's).
    if not reused or try == 2 or err == "timeout" then return nil, err or "no reply", "io" end
  end
end

-- The error of a reply, as a message and its kind ("config" for what a
-- restart of Redis will not cure).
local function reply_error(reply)
  local e = reply.err
  if e:find("^NOAUTH") or e:find("^WRONGPASS") or e:find("^NOPERM") then return e, "config" end
  return e, "script"
end

--- Connects and loads the script: true, or nil, a message and its kind.
---@return boolean|nil ok
---@return string|nil err
---@return string|nil kind
function Store:probe()
  local replies, err, kind = self:exchange(command { "SCRIPT", "LOAD", script }, 1)
  if not replies then return nil, err, kind end
  local reply = replies[1]
  if type(reply) == "table" and reply.err then return nil, reply_error(reply) end
  if reply ~= M.SCRIPT_SHA then return nil, "SCRIPT LOAD returned an unexpected SHA1", "script" end
  return true
end

-- Every limiter's epoch changes: reservations made under the other state are void.
local function bump_all(self)
  for _, limiter in pairs(self.limiters) do limiter.gen = limiter.gen + 1 end
end

--- Redis failed: limit in this process until it is back (logged once).
---@param err any
---@return nil
function Store:fail(err)
  if self.mode == "shared" then
    self.mode = "fallback"
    self.stats.fallbacks = self.stats.fallbacks + 1
    -- A Redis that keeps failing soon after it came back is tried less and less often.
    self.backoff = now() - self.back_at < M.FLAP_WINDOW and math.min(self.backoff * 2, M.BACKOFF_MAX)
      or M.BACKOFF_MIN
    self.retry_at = now() + self.backoff
    self.log(("ecs: rate store %s unavailable (%s); limiting in this process until it is back")
      :format(self.url, tostring(err)))
    bump_all(self)
  end
end

--- In fallback, tries Redis again when the delay is over, in a task of its own.
---@return nil
function Store:maybe_reconnect()
  if self.reconnecting or now() < self.retry_at or not scheduler.current() then return end
  self.reconnecting = true
  scheduler.spawn(function()
    local ok, result = pcall(self.probe, self)
    self.reconnecting = false
    if ok and result == true then
      self.mode = "shared"
      self.back_at = now()
      self.log(("ecs: rate store %s is back; limits are shared again"):format(self.url))
      bump_all(self)
    else
      self.backoff = math.min(self.backoff * 2, M.BACKOFF_MAX)
      self.retry_at = now() + self.backoff
    end
  end)
end

--- The limiter of a key, made from config on first use (the interface of ecs.ratestore.local).
---@param key string endpoint, region, account and action, joined by "\0"
---@param config {rate?: number, burst?: number, adaptive: boolean}
---@return ecs.RedisLimiter limiter
function Store:limiter(key, config)
  local limiter = self.limiters[key]
  if limiter then return limiter end
  local action = key:match("([^%z]*)$")
  -- The key names the action; the digest covers endpoint, region and account (no AccessKeyId
  -- in Redis).
  local rkey = M.KEY_PREFIX .. action .. ":" .. core.digest("sha256", key):sub(1, 24)
  local adaptive = config.adaptive ~= false
  -- The arguments every script call of the key starts with (after EVALSHA and the SHA1).
  local head = { "1", rkey, tostring(math.floor(M.TTL * 1000)),
    fmt("%.17g", config.rate or 0), fmt("%.17g", config.burst or 0), adaptive and "1" or "0", "" }
  limiter = setmetatable({
    store = self, key = key, rkey = rkey, config = config, head = head,
    -- the same, RESP-encoded once
    head_resp = command(head):gsub("^%*%d+\r\n", ""),
    -- this process's limiter: it sees every outcome, and decides while Redis is away
    fallback = core.limiter { rate = config.rate, burst = config.burst, adaptive = adaptive },
    queue = {}, obs = {}, flushing = false, urgent = false, busy_until = 0, lingering = nil,
    -- task -> { from, to }: the epoch a task saw before its acquire whose reply changed it
    views = setmetatable({}, { __mode = "k" }),
    gen = 0, remote_epoch = nil, fallback_epoch = 0, last_reply = now(), info = nil,
  }, Limiter)
  self.limiters[key] = limiter
  return limiter
end

-- The variable arguments of a script call, RESP-encoded: the observations
-- (throttled, age, retry_after, reserved age) and the count of acquires.
local function bulk(s) return "$" .. #s .. "\r\n" .. s .. "\r\n" end
local function tail_args(obs, count, t0)
  local parts = { bulk(tostring(math.floor(#obs / 4))) }
  for i = 1, #obs, 4 do
    parts[#parts + 1] = bulk(obs[i])
    parts[#parts + 1] = bulk(fmt("%.9f", math.max(0, t0 - obs[i + 1])))
    parts[#parts + 1] = bulk(fmt("%.9g", obs[i + 2]))
    parts[#parts + 1] = bulk(obs[i + 3] and fmt("%.9f", math.max(0, t0 - obs[i + 3])) or "")
  end
  parts[#parts + 1] = bulk(tostring(count))
  return concat(parts), 2 + #obs
end

local SHA_RESP = bulk("EVALSHA") .. bulk(M.SCRIPT_SHA)

--- One script call for this limiter: the pending observations and `count` acquires. The
--- reply's fields (strings), or nil, a message and its kind.
---@param obs table flattened observations (throttled, time, retry_after, reserved_at)
---@param count integer acquires
---@param t0 number now, for the observations' ages
---@return string[]|nil fields
---@return string|nil err
---@return string|nil kind
function Limiter:evaluate(obs, count, t0)
  local store = self.store
  local tail, tail_count = tail_args(obs, count, t0)
  local n = "*" .. (2 + #self.head + tail_count) .. "\r\n"
  local replies, err, kind = store:exchange(n .. SHA_RESP .. self.head_resp .. tail, 1)
  if not replies then return nil, err, kind end
  local reply = replies[1]
  if type(reply) == "table" and reply.err and reply.err:find("^NOSCRIPT") then
    -- Redis restarted (or flushed its scripts): EVAL loads the script with the same call.
    replies, err, kind = store:exchange(n .. bulk("EVAL") .. bulk(script) .. self.head_resp .. tail, 1)
    if not replies then return nil, err, kind end
    reply = replies[1]
  end
  if type(reply) == "table" and reply.err then return nil, reply_error(reply) end
  local fields = {}
  if type(reply) == "string" then
    for f in reply:gmatch("%S+") do fields[#fields + 1] = f end
  end
  if #fields ~= 7 + count then return nil, "unexpected script reply", "script" end
  return fields
end

--- Sends the queued acquires (the running task's first among them) and the pending
--- observations in one script call, and hands each its send time.
---@return nil
function Limiter:flush()
  local store = self.store
  local batch, obs = self.queue, self.obs
  self.queue, self.obs, self.urgent = {}, {}, false
  local reply, err, kind
  if store.mode == "shared" then
    local t0 = now()
    local ok, r, e, k = pcall(self.evaluate, self, obs, #batch, t0)
    if ok then reply, err, kind = r, e, k else err, kind = r, "bug" end
    if reply and store.latencies then store.latencies[#store.latencies + 1] = now() - t0 end
  end
  local t1 = now()
  local me = scheduler.current()
  if reply then
    local stats = store.stats
    stats.acquires = stats.acquires + #batch
    stats.observations = stats.observations + math.floor(#obs / 4)
    self.last_reply = t1
    local epoch = reply[1]
    if epoch ~= self.remote_epoch then
      if self.remote_epoch ~= nil then self.gen = self.gen + 1 end
      self.remote_epoch = epoch
    end
    -- The batch's send times are priced in the reply's epoch: to its own tasks a change that
    -- the reply brought is not news (they would queue again, and waste the tokens they hold).
    local gen, views = self.gen, self.views
    for i = 1, #batch do
      local entry = batch[i]
      if entry.seen ~= gen then views[entry.task] = { from = gen, to = entry.seen } end
    end
    self.info = reply
    -- How far ahead the queue reaches now: later acquires would wait at least that long.
    local ahead = 0
    if reply[2] == "1" then
      local tokens, fill = tonumber(reply[5]) or 0, tonumber(reply[3]) or 1
      if tokens < 0 and fill > 0 then ahead = -tokens / fill end
    end
    for i = 1, #batch do
      local w = tonumber(reply[7 + i]) or 0
      if w > ahead then ahead = w end
    end
    self.busy_until = t1 + ahead
    for i = 1, #batch do
      local entry = batch[i]
      entry.wait, entry.replied, entry.send_at = tonumber(reply[7 + i]) or 0, t1, true
      if entry.task ~= me and not entry.abandoned then scheduler.wake(entry.task) end
    end
  else
    if store.mode == "shared" then store:fail(err) end
    if kind == "config" and not store.config_error then store.config_error = err end
    for i = 1, #batch do
      local entry = batch[i]
      entry.fallback = true
      if entry.task ~= me and not entry.abandoned then scheduler.wake(entry.task) end
    end
  end
  self.flushing = false
  -- The next batch is sent by its first task (so that no task waits on
  -- others' round trips), or by a task of its own for observations alone. A task
  -- that cannot be woken (nginx ended its request) leaves the queue.
  local queue = self.queue
  while #queue > 0 do
    self.flushing, self.flush_started = true, now()
    if scheduler.wake(queue[1].task, FLUSH) then return end
    self.flushing = false
    table.remove(queue, 1)
  end
  if self.urgent and store.mode == "shared" then
    self:spawn_flush()
  end
end

--- Sends the batch, after lingering while the queue is far ahead anyway (a throttle or a hint
--- observed meanwhile ends the linger).
---@return nil
function Limiter:linger_and_flush()
  local ahead = self.busy_until - now()
  if ahead > M.LINGER_MIN and scheduler.current() and isyieldable() then
    self.lingering = scheduler.current()
    scheduler.suspend_for(math.min(ahead / 2, M.LINGER_MAX))
    self.lingering = nil
  end
  self:flush()
end

--- Sends what is pending from a task of its own (a throttle, a hint, a refresh of the epoch).
---@return nil
function Limiter:spawn_flush()
  self.flushing, self.flush_started = true, now()
  local ok = pcall(scheduler.spawn, function() self:flush() end)
  if not ok then self.flushing = false end
end

--- Reserves a send time: seconds to wait from `t`. May wait for Redis (the task yields).
---@param t number now, on core.now()'s clock
---@return number seconds
function Limiter:acquire(t)
  local store = self.store
  if store.mode == "shared" and scheduler.current() and isyieldable() then
    local task = scheduler.current()
    local entry = { task = task, seen = self:epoch_of(task) }
    local queue = self.queue
    queue[#queue + 1] = entry
    -- A flush that has run for longer than any round trip may take lost its task (nginx ends
    -- a request's light threads where they wait): this task takes over.
    if self.flushing and now() - self.flush_started > store.stale_flush then self.flushing = false end
    if self.flushing then
      local woken = scheduler.suspend_for(store.stale_flush)
      if woken == FLUSH then
        self:linger_and_flush()
      elseif woken == scheduler.TIMED_OUT and not entry.send_at and not entry.fallback then
        -- No reply in time (the batch's task is gone, or Redis hangs): decide in this process.
        for i = #queue, 1, -1 do
          if queue[i] == entry then table.remove(queue, i) end
        end
        entry.abandoned = true -- a late reply must not wake this task from another wait
        return self.fallback:acquire(t)
      end
    else
      self.flushing, self.flush_started = true, now()
      self:linger_and_flush()
    end
    if entry.send_at then
      -- Redis' wait counts from the script's run; the reply came at entry.replied.
      local wait = entry.wait
      if wait <= 0 then return 0 end
      return wait + (entry.replied - t)
    end
  elseif store.mode ~= "shared" then
    store:maybe_reconnect()
  end
  return self.fallback:acquire(t)
end

--- The epoch as the task sees it: the one it saw before its last acquire, when that acquire's
--- reply changed it and nothing changed since.
---@param task ecs.Task|nil
---@return integer
function Limiter:epoch_of(task)
  local view = task and self.views[task]
  if view then
    if view.from == self.gen then return view.to end
    self.views[task] = nil
  end
  return self.gen
end

--- A number that changes when the reservations made before are void (a cut, a large
--- recovery, a switch between Redis and this process). No round trip: it is the last reply's,
--- refreshed in the background when that is older than EPOCH_REFRESH.
---@return integer
function Limiter:epoch()
  local store = self.store
  if store.mode == "shared" then
    if not self.flushing and now() - self.last_reply > M.EPOCH_REFRESH and scheduler.current() then
      self:spawn_flush()
    end
  else
    store:maybe_reconnect()
    local e = self.fallback:epoch()
    if e ~= self.fallback_epoch then
      self.fallback_epoch = e
      self.gen = self.gen + 1
    end
  end
  return self:epoch_of(scheduler.current())
end

--- Records an attempt's outcome: sent with the next script call; a throttle or a server hint
--- at once. This process's own limiter sees it too (it decides while Redis is away).
---@param t number now
---@param outcome "ok"|"throttled"
---@param retry_after? number seconds (x-acs-retry-after)
---@param reserved_at? number when the attempt's send time was reserved
---@return nil
function Limiter:observe(t, outcome, retry_after, reserved_at)
  self.fallback:observe(t, outcome, retry_after, reserved_at)
  local store = self.store
  if store.mode ~= "shared" then return end
  local throttled = outcome == "throttled"
  local hint = type(retry_after) == "number" and retry_after == retry_after and retry_after or 0
  local obs = self.obs
  local n = #obs
  obs[n + 1], obs[n + 2], obs[n + 3] = throttled and "1" or "0", t, hint
  obs[n + 4] = type(reserved_at) == "number" and reserved_at or false
  if (throttled or hint > 0) then
    if self.lingering then
      scheduler.wake(self.lingering) -- the batch goes now, with this observation
    elseif self.flushing then
      self.urgent = true
    elseif scheduler.current() then
      self:spawn_flush()
    end
  end
end

--- The fill rate (req/s) of the last reply, or nil when unlimited.
---@return number|nil
function Limiter:rate()
  if self.store.mode ~= "shared" or not self.info then return self.fallback:rate() end
  return self.info[2] == "1" and tonumber(self.info[3]) or nil
end

--- The state of the last reply (or of this process's limiter in fallback), as core.limiter's
--- state() gives it.
---@param t? number now
---@return table
function Limiter:state(t)
  local info = self.info
  if self.store.mode ~= "shared" or not info then return self.fallback:state(t) end
  local enabled = info[2] == "1"
  return { enabled = enabled, rate = enabled and tonumber(info[3]) or nil,
    burst = enabled and tonumber(info[4]) or nil, tokens = enabled and tonumber(info[5]) or nil,
    measured_rate = tonumber(info[6]), last_max_rate = tonumber(info[7]), shared = true }
end

--- How many limiters the store holds.
---@return integer
function Store:count()
  local n = 0
  for _ in pairs(self.limiters) do n = n + 1 end
  return n
end

--- The store's URL (password masked) and mode.
---@return string
function Store:__tostring()
  return ("ecs.ratestore.redis (%s, %s)"):format(self.url, self.mode)
end

-- Stores by URL, so that the clients of a process share one (and its connection).
local stores = {}

---@class ecs.RedisStoreOptions
---@field log? fun(line: string) the fallback's lines (default: io.stderr)
---@field timeout? number seconds to wait for a reply (default M.TIMEOUT)
---@field connect_timeout? number seconds to connect (default M.CONNECT_TIMEOUT)
---@field check? boolean check the connection now (default: outside any task and nginx)
---@field record_latency? boolean store.latencies gets each script call's round trip (seconds)

--- A Redis store for url. Outside any task and outside nginx the connection is checked at once:
--- a refused password or database raises (naming the URL, never the password); an unreachable
--- server does not (the store starts in this process and reconnects later).
---@param url string redis://[[user]:password@]host[:port][/db] or unix:///path[?db=n][&password=...]
---@param opts? ecs.RedisStoreOptions
---@return ecs.RedisStore store
function M.new(url, opts)
  local address = M.parse(url)
  if opts == nil and stores[url] then return stores[url] end
  opts = opts or {}
  local handshake, handshake_count = {}, 0
  if address.password then
    handshake[#handshake + 1] = command(address.user and { "AUTH", address.user, address.password }
      or { "AUTH", address.password })
    handshake_count = handshake_count + 1
  end
  if address.db ~= 0 then
    handshake[#handshake + 1] = command { "SELECT", tostring(address.db) }
    handshake_count = handshake_count + 1
  end
  local where = address.path or (address.host .. ":" .. address.port)
  local self = setmetatable({
    url = address.url, address = address, mode = "shared",
    pool = ("ecs-redis:%s/%d/%s"):format(where, address.db,
      core.digest("sha256", (address.user or "") .. "\0" .. (address.password or "")):sub(1, 16)),
    handshake = concat(handshake), handshake_count = handshake_count,
    connect_ms = (opts.connect_timeout or M.CONNECT_TIMEOUT) * 1000,
    timeout_ms = (opts.timeout or M.TIMEOUT) * 1000,
    -- Longer than any flush can take (a reconnect, the handshake, EVALSHA then EVAL, each
    -- bounded by the timeouts, and the linger): a flush older than this lost its task.
    stale_flush = 2 * ((opts.connect_timeout or M.CONNECT_TIMEOUT) + 2 * (opts.timeout or M.TIMEOUT))
      + M.LINGER_MAX,
    log = opts.log or function(line) io.stderr:write(line, "\n") end,
    limiters = setmetatable({}, { __mode = "v" }),
    backoff = M.BACKOFF_MIN, retry_at = 0, reconnecting = false, back_at = -math.huge,
    stats = { commands = 0, round_trips = 0, acquires = 0, observations = 0, fallbacks = 0 },
    latencies = opts.record_latency and {} or nil,
  }, Store)
  local check = opts.check
  if check == nil then check = not require("ecs.transport").in_nginx() and scheduler.current() == nil end
  if check then
    local ok, err, kind = scheduler.run(function() return self:probe() end)
    if not ok then
      if kind == "config" or kind == "script" then
        error(("rate_store %s: Redis refused the connection: %s"):format(self.url, tostring(err)), 0)
      end
      self:fail(err)
    end
  end
  -- The password is needed for the handshake only, which holds it encoded.
  address.password = nil
  if opts.log == nil and opts.timeout == nil and opts.connect_timeout == nil and not opts.record_latency then
    stores[url] = self
  end
  return self
end

return M
