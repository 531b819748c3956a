-- Inside nginx: the transport on ngx.socket.tcp (keep-alive pools per endpoint, TLS through
-- sslhandshake with verification on) and the runtime the scheduler runs on there: a task is
-- the running light thread (or request, or timer), ecs.spawn starts a light thread, waiting is
-- on ngx.semaphore and ngx.sleep. One call never blocks a worker: every wait yields to nginx.
-- Loaded only inside nginx (transport/init.lua), so libcurl is never loaded there.
local core = require "ecs.core"
local http = require "ecs.transport.http"

local ngx = ngx

local M = {}

-- The phases where cosockets (and ngx.sleep, ngx.thread) are available.
local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

-- Whether the running code may use cosockets (the phase allows them).
local function can_wait()
  return COSOCKET_PHASES[ngx.get_phase()] == true
end

-- The error of a call made where nginx cannot wait, naming the phase and the way out.
local function phase_error(what, level)
  error(("%s: cannot run in nginx's %s phase, where cosockets are unavailable; "
    .. "run it from a request handler (rewrite, access, content) or a timer: "
    .. "ngx.timer.at(0, function() ... end)"):format(what, ngx.get_phase()), level + 1)
end

local warned_no_dict = {}
--- The shared dict all workers keep lua-ecs state in (`lua_shared_dict ecs`), or nil (logged
--- once per purpose: without it, that state is per worker).
---@param purpose string what would be shared ("rate limits", "credentials")
---@return table|nil dict
function M.shared_dict(purpose)
  local dict = ngx.shared and ngx.shared.ecs
  if dict then return dict end
  if not warned_no_dict[purpose] then
    warned_no_dict[purpose] = true
    ngx.log(ngx.WARN, "lua-ecs: no `lua_shared_dict ecs` in nginx.conf: ", purpose,
      " are kept per worker (add `lua_shared_dict ecs 10m;` to share them)")
  end
  return nil
end

-- ---- the transport ------------------------------------------------------------------------

M.KEEPALIVE_IDLE = 60000 -- ms a pooled connection may stay idle
M.POOL_SIZE = 64          -- pooled connections per endpoint and worker

--- The HTTP transport on cosockets (one per worker).
---@class ecs.CosocketTransport
local Transport = {}
Transport.__index = Transport

-- scheme://host -> { scheme, hostname, port, host, address, tls }, parsed once.
local origins = {}

local function split_url(url)
  local scheme, host, target = url:match("^(https?)://([^/?#]+)(.*)$")
  if not scheme then return nil end
  local origin = origins[scheme .. host]
  if not origin then
    local connect_to
    local hostname, port = host:match("^%[(.-)%]:?(%d*)$")
    if hostname then
      connect_to = "[" .. hostname .. "]" -- nginx takes an IPv6 address in brackets
    else
      hostname, port = host:match("^([^:]+):?(%d*)$")
      if not hostname then return nil end
      connect_to = hostname
    end
    port = tonumber(port) or (scheme == "https" and 443 or 80)
    origin = {
      scheme = scheme, hostname = hostname, port = port, host = host, connect_to = connect_to,
      address = connect_to .. ":" .. port, tls = scheme == "https",
    }
    origins[scheme .. host] = origin
  end
  if target == "" then target = "/" elseif target:sub(1, 1) == "?" then target = "/" .. target end
  return origin, target
end

-- TLS sessions to resume, per pool.
local sessions = {}
local warned_ca_file = false

-- A failed attempt, in the shape the curl transport reports: the stable code, the detail, how
-- far it got. `hint` says how to fix the configuration, where that is the likely cause.
local function failure(started, code, detail, maybe_sent, resolved, connected, hint, too_large)
  return {
    error_code = code, error = detail, maybe_sent = maybe_sent, resolved = resolved,
    connected = connected, hint = hint, too_large = too_large, latency = core.now() - started,
  }
end

local function connect_failure(started, err)
  err = tostring(err)
  if err:find("no resolver defined", 1, true) then
    return failure(started, "Transport.ResolveFailed", err, false, false, false,
      "nginx has no `resolver` for host names (add `resolver <dns server>;` to nginx.conf)")
  elseif err:find("could not be resolved", 1, true) then
    if err:find("timed out", 1, true) then
      return failure(started, "Transport.Timeout", err, false, false, false)
    end
    return failure(started, "Transport.ResolveFailed", err, false, false, false)
  elseif err == "timeout" then
    return failure(started, "Transport.Timeout", err, false, true, false)
  end
  return failure(started, "Transport.ConnectFailed", err, false, true, false)
end

-- Milliseconds left before `ends`, at least 1 (a cosocket timeout of 0 means "the default").
local function ms_left(ends)
  local left = (ends - core.now()) * 1000
  if left < 1 then return 1 end
  return math.floor(left)
end

-- One exchange on one connection. Returns the response, or nil, the failure and whether the
-- failure was a pooled connection that the server had closed (then a new one may be tried).
local function exchange(origin, target, req, started, ends, fresh)
  local sock = ngx.socket.tcp()
  local verify = req.verify_tls ~= false
  local pool = origin.address .. (origin.tls and (":tls:" .. origin.hostname .. (verify and ":v" or ":nv")) or "")
  local connect_ms = math.min(ms_left(ends), math.floor((req.connect_timeout or 5) * 1000))
  sock:settimeouts(connect_ms < 1 and 1 or connect_ms, ms_left(ends), ms_left(ends))
  -- A fresh connection (after a pooled one went stale) is not pooled: nginx would park it in
  -- its default pool, where an exchange of other settings could take it.
  local ok, err
  if fresh then
    ok, err = sock:connect(origin.connect_to, origin.port)
  else
    ok, err = sock:connect(origin.connect_to, origin.port, { pool = pool })
  end
  if not ok then return nil, connect_failure(started, err) end
  local reused = sock:getreusedtimes() > 0
  if origin.tls and not reused then
    sock:settimeout(ms_left(ends))
    -- lua-resty-core 0.1.25 raises (an assertion in its sslhandshake) instead of returning the
    -- error when a handshake fails without waiting; nginx's error log has the reason then.
    local raised, session, terr = pcall(sock.sslhandshake, sock, sessions[pool], origin.hostname, verify)
    if not raised then
      session, terr = nil, "the handshake failed (nginx's error log says why)"
    end
    if not session then
      sock:close()
      if terr == "timeout" then
        return nil, failure(started, "Transport.Timeout", terr, false, true, true)
      end
      local hint
      terr = tostring(terr)
      if not raised then
        hint = "the usual cause is a certificate nginx does not trust: it verifies against "
          .. "lua_ssl_trusted_certificate"
      elseif terr:find("host mismatch", 1, true) then
        hint = "the certificate does not name " .. origin.hostname
          .. " (nginx compares host names only, also for an address)"
      elseif terr:find("certificate", 1, true) or terr:find("verify", 1, true) then
        hint = "the server's certificate is not trusted: nginx verifies it against lua_ssl_trusted_certificate"
      end
      return nil, failure(started, "Transport.TLS", terr, false, true, true, hint)
    end
    if type(session) == "userdata" or type(session) == "cdata" then sessions[pool] = session end
  end
  local headers = req.headers
  local bytes = http.request_bytes(req.method or "GET", target,
    headers and (headers.host or headers.Host) or origin.host, headers, req.body)
  sock:settimeout(ms_left(ends))
  local sent, serr = sock:send(bytes)
  if not sent then
    sock:close()
    if serr == "timeout" then
      return nil, failure(started, "Transport.Timeout", serr, true, true, true)
    end
    return nil, failure(started, "Transport.Reset", serr, true, true, true), reused
  end
  local reply, why, begun = http.read_response(sock, req.method or "GET", ends)
  if not reply then
    sock:close()
    if why == "timeout" then
      return nil, failure(started, "Transport.Timeout", "no complete reply in time", true, true, true)
    elseif why == "too_large" then
      return nil, failure(started, "Transport.BadResponse",
        begun and "reply over the limit of 64 KB of headers or 64 MB of body" or "reply too large",
        true, true, true, nil, true)
    elseif why == "bad" then
      return nil, failure(started, "Transport.BadResponse", "malformed HTTP reply", true, true, true)
    end
    return nil, failure(started, "Transport.Reset", tostring(why), true, true, true), reused and not begun
  end
  if reply.keepalive and not fresh then
    sock:setkeepalive(M.KEEPALIVE_IDLE, M.POOL_SIZE)
  else
    sock:close()
  end
  reply.keepalive = nil
  reply.latency = core.now() - started
  return reply
end

--- Sends a request and waits for its reply, yielding the running light thread: { status, head,
--- body, latency } or { error_code, error, maybe_sent, resolved, connected, hint, too_large,
--- latency } (the curl transport's shapes).
---@param req {method: string, url: string, headers?: table, body?: string, timeout?: number, connect_timeout?: number, ca_file?: string, verify_tls?: boolean}
---@return table response
function Transport:request(req)
  if not can_wait() then phase_error("ecs: a request", 2) end
  local started = core.now()
  local origin, target = split_url(req.url)
  if not origin then
    return failure(started, "Transport.BadURL", "not an http(s) URL", false, false, false)
  end
  if req.ca_file and not warned_ca_file then
    warned_ca_file = true
    ngx.log(ngx.WARN, "lua-ecs: ca_file is not used inside nginx; the server is verified against ",
      "lua_ssl_trusted_certificate")
  end
  local ends = started + (req.timeout or 10)
  local reply, fail, stale = exchange(origin, target, req, started, ends, false)
  if not reply and stale and core.now() < ends then
    -- A pooled connection the server had closed: the request never reached it; a new
    -- connection carries it (as libcurl does).
    reply, fail = exchange(origin, target, req, started, ends, true)
  end
  return reply or fail
end

--- A stream socket (ngx.socket.tcp) for clients of other services (the Redis rate store).
---@return table socket
function Transport:tcp()
  if not can_wait() then phase_error("ecs: a socket", 2) end
  return ngx.socket.tcp()
end

--- Monotonic seconds.
---@return number
function Transport:now()
  return core.now()
end

local transport = setmetatable({}, Transport)

-- ---- the runtime: tasks are light threads -------------------------------------------------

--- Installs the nginx runtime into the scheduler (lua/ecs/scheduler.lua): current, suspend,
--- wake, suspend_for, sleep, spawn, run and transport.
---@param S table the scheduler module
---@param internals {Task: table, settle: function, CANNOT_WAIT: string}
---@return nil
function M.install(S, internals)
  local semaphore = require "ngx.semaphore"
  local Task, settle = internals.Task, internals.settle
  local unpack = table.unpack or unpack
  local isyieldable = S.isyieldable
  -- coroutine -> its task; a coroutine that ends takes its entry with it
  local tasks = setmetatable({}, { __mode = "k" })
  local FOREVER = 1e6 -- seconds: the longest wait nginx is asked for

  local function current()
    local co = coroutine.running()
    if not co or not can_wait() then return nil end
    local task = tasks[co]
    if not task then
      task = setmetatable({ waiters = {}, suspended = false }, Task)
      tasks[co] = task
    end
    return task
  end
  S.current = current

  local function wait_woken(timeout)
    local task = current()
    if not task then phase_error("ecs: waiting", 3) end
    if not isyieldable() then error(internals.CANNOT_WAIT, 3) end
    local sema = task.sema
    if not sema then
      sema = semaphore.new(0)
      task.sema = sema
    end
    task.suspended = true
    local ok = sema:wait(timeout)
    if not ok then
      if task.suspended then -- nobody woke it
        task.suspended = false
        return S.TIMED_OUT
      end
      -- A wake came as the time ran out: its unit is in the semaphore, and the value is the
      -- wake's (a unit handed over by Semaphore:post must not be lost to a timeout).
      sema:wait(0)
    end
    local value = task.resume_with
    task.resume_with = nil
    return value
  end

  S.suspend = function() return wait_woken(FOREVER) end
  S.suspend_for = function(seconds) return wait_woken(seconds) end

  -- A task whose request ended (its light thread was killed) waits no more: its semaphore has
  -- no waiter, and a wake must not count it, or a unit handed to it would be lost.
  S.wake = function(task, value)
    if not task.suspended then return false end
    task.suspended = false
    local sema = task.sema
    if not sema or sema:count() >= 0 then return false end
    task.resume_with = value
    sema:post(1)
    return true
  end

  S.sleep = function(seconds)
    if type(seconds) ~= "number" or not (seconds <= S.MAX_SLEEP) then
      error(("ecs.sleep: expected seconds, at most %g (got %s)"):format(S.MAX_SLEEP, tostring(seconds)), 2)
    end
    if not can_wait() then phase_error("ecs.sleep", 2) end
    if seconds < 0 then seconds = 0 end
    ngx.sleep(seconds)
  end

  local function pack(...) return { n = select("#", ...), ... } end
  local KILLED = "ecs: the task's light thread was ended by nginx (its request ended)"

  S.spawn = function(fn, ...)
    if type(fn) ~= "function" then error("ecs.spawn: expected a function", 2) end
    if not can_wait() then phase_error("ecs.spawn", 2) end
    local task = setmetatable({ waiters = {}, suspended = false }, Task)
    local args = pack(...)
    local thread, err = ngx.thread.spawn(function()
      tasks[coroutine.running()] = task
      -- nginx ends a request's light threads without a word: the guard, collected with this
      -- thread, then settles the task (from a timer), so that its waiters are not left waiting.
      local guard = newproxy(true)
      getmetatable(guard).__gc = function()
        if task.done then return end
        ngx.timer.at(0, function()
          if not task.done then settle(task, false, KILLED) end
        end)
      end
      local function traceback(e)
        if type(e) ~= "string" then
          local mt = getmetatable(e)
          e = (mt and mt.__tostring) and tostring(e) or ("(error object: " .. tostring(e) .. ")")
        end
        return debug.traceback(e, 2)
      end
      settle(task, xpcall(function() return fn(unpack(args, 1, args.n)) end, traceback))
      if not task.ok and not task.observed then
        ngx.log(ngx.ERR, "lua-ecs: a task failed and nobody waited for it: ", task.results[1])
      end
      return guard ~= nil -- the guard lives as long as the thread runs
    end)
    -- The task keeps no reference to its thread: a thread nginx ended must be collectable.
    if not thread then error("ecs.spawn: " .. tostring(err), 2) end
    return task
  end

  S.run = function(fn, ...)
    if type(fn) ~= "function" then error("ecs.run: expected a function", 2) end
    if not can_wait() then phase_error("ecs.run", 2) end
    return fn(...)
  end

  -- A request that ends (ngx.exit, a client abort) kills its light threads where they wait:
  -- the guard, unreachable then, gives the unit back when it is collected.
  S.guard = function(sem)
    local guard = { held = true }
    local proxy = newproxy(true)
    getmetatable(proxy).__gc = function()
      if guard.held then
        guard.held = false
        -- Not from inside the collector, which may run in the middle of another task's wait:
        -- from a timer of its own.
        ngx.timer.at(0, function() sem:post() end)
      end
    end
    guard.proxy = proxy
    return guard
  end

  S.detach = function(fn)
    return (ngx.timer.at(0, function() fn() end)) ~= nil
  end

  S.transport = function()
    if not can_wait() then return nil end
    return transport
  end
end

return M
