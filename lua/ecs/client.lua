-- ecs.client: options, credentials and endpoint of one account and region,
-- and the signing of requests for it.
local core = require "ecs.core"
local credentials = require "ecs.credentials"
local endpoints = require "ecs.endpoints"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"
local util = require "ecs.util"
local json = require("cjson.safe").new()
local random = math.random -- jitter needs spread, not secrecy

local M = {}

M.API_VERSION = "2014-05-26"

--- A client of one account, region and endpoint. Besides the methods below, every action of the
--- API is a method (`client:DescribeInstances{...}`, see types/ecs_2014_05_26.lua).
---@class ecs.Client
---@field region string|false The region id (false when only an endpoint was given).
---@field endpoint string The endpoint URL.
---@field signature_version "v1"|"v3"
---@field method "GET"|"POST"
---@field timeout number
---@field connect_timeout number
---@field max_attempts integer
---@field max_concurrency integer
---@field verify_tls boolean
local Client = {}
Client.__index = Client
M.Client = Client

-- Credentials live here, keyed by client, so that neither pairs(client),
-- tostring(client) nor a table dump can reach the secret.
local secrets = setmetatable({}, { __mode = "k" })

-- Option name -> the check it must pass. An unknown name is an error, so a
-- typo never silently falls back to a default.
local function is_string(v) return type(v) == "string" and v ~= "" end
M.MAX_SECONDS = 1e6 -- the longest timeout or deadline accepted (11.5 days)
local function is_seconds(v) return type(v) == "number" and v > 0 and v <= M.MAX_SECONDS end
local function is_count(v) return type(v) == "number" and v >= 1 and v % 1 == 0 end
local function is_boolean(v) return type(v) == "boolean" end
local function is_function(v) return type(v) == "function" end
local function is_log_level(v) return v == 1 or v == 2 end

--- Options of one call (`client:call(action, params, opts)`, `client:<Action>(params, opts)`),
--- each overriding the client's.
---@class ecs.CallOptions
---@field timeout? number Seconds for a whole attempt (default 10).
---@field connect_timeout? number Seconds to connect (default 5).
---@field max_attempts? integer Attempts of a call whose failure a resend can fix (default 5).
---@field ca_file? string CA bundle (PEM) to verify the server with.
---@field verify_tls? boolean Verify the server's certificate (default true).
---@field on_response? fun(info: ecs.AttemptInfo) Called after every attempt.
---@field deadline? number Seconds the whole call (every attempt and wait) may take.

--- What `on_response` receives after each attempt.
---@class ecs.AttemptInfo
---@field action string
---@field attempt integer 1 for the first attempt.
---@field latency? number Seconds the attempt took.
---@field status? integer HTTP status, when a response arrived.
---@field request_id? string
---@field code? string The error code, when the attempt failed.
---@field retryable? boolean
---@field throttled? boolean

--- Options of `ecs.client{...}`: every call option, and these.
---@class ecs.ClientOptions: ecs.CallOptions
---@field region? string Region id; else ALIBABA_CLOUD_REGION_ID, else the CLI profile's region_id.
---@field endpoint? string A full URL (http://127.0.0.1:8080) or a host name.
---@field access_key_id? string
---@field access_key_secret? string
---@field security_token? string STS token, with the temporary key pair.
---@field profile? string aliyun CLI profile name in ~/.aliyun/config.json.
---@field signature_version? "v1"|"v3"
---@field method? "GET"|"POST"
---@field api_version? string
---@field user_agent? string
---@field max_concurrency? integer Requests of this client in flight (default 64).
---@field adaptive? boolean Adapt the send rate to throttling (default true).
---@field rate_limits? table<string, number|{rate: number, burst?: number}> Requests per second per action (or "default").
---@field log? fun(line: string) Receives the debug log: one line per attempt (ECS_DEBUG=1 sends it to stderr).
---@field log_level? 1|2 1: a line per attempt; 2: plus the sent parameters and the reply body (default: ECS_DEBUG, else 1).

-- Options that a single call may override too.
local CALL_OPTIONS = {
  timeout = is_seconds,
  connect_timeout = is_seconds,
  max_attempts = is_count,
  ca_file = is_string,
  verify_tls = is_boolean,
  on_response = is_function,
  deadline = is_seconds,
}
local OPTIONS = {
  region = is_string,
  endpoint = is_string,
  access_key_id = is_string,
  access_key_secret = is_string,
  security_token = is_string,
  profile = is_string,
  signature_version = function(v) return v == "v1" or v == "v3" end,
  method = function(v) return v == "GET" or v == "POST" end,
  api_version = is_string,
  user_agent = is_string,
  max_concurrency = is_count,
  adaptive = is_boolean,
  log = is_function,
  log_level = is_log_level,
  rate_limits = function(v)
    if type(v) ~= "table" then return false end
    local function positive(x) return type(x) == "number" and x > 0 and x < math.huge end
    for k, r in pairs(v) do
      if type(k) ~= "string" then return false end
      if type(r) == "table" then
        if not positive(r.rate) or (r.burst ~= nil and not (positive(r.burst) and r.burst >= 1)) then
          return false
        end
      elseif not positive(r) then
        return false
      end
    end
    return true
  end,
}
for name, check in pairs(CALL_OPTIONS) do OPTIONS[name] = check end
local OPTION_HINTS = {
  signature_version = "'v1' or 'v3'",
  method = "'GET' or 'POST'",
  timeout = "seconds > 0, at most 1e6", connect_timeout = "seconds > 0, at most 1e6",
  max_attempts = "an integer >= 1", max_concurrency = "an integer >= 1",
  verify_tls = "a boolean", on_response = "a function", adaptive = "a boolean",
  log = "a function(line)", log_level = "1 (a line per attempt) or 2 (plus parameters and reply)",
  deadline = "seconds > 0, at most 1e6",
  rate_limits = "a table of action name (or 'default') -> requests per second, or { rate = r, burst = b }",
}

-- Defaults a user expects; each is overridable per client, the call ones per call.
M.DEFAULTS = {
  timeout = 10, connect_timeout = 5, max_concurrency = 64, max_attempts = 5, verify_tls = true,
}

local function check_options(opts, allowed, what, level)
  if type(opts) ~= "table" then
    error(what .. ": expected an options table", level)
  end
  for name, value in pairs(opts) do
    local check = allowed[name]
    if not check then
      local hint = type(name) == "string" and util.closest(name, util.sorted_keys(allowed))
      error(("%s: unknown option of %s%s"):format(tostring(name), what,
        hint and ("; did you mean " .. hint .. "?") or ""), level)
    end
    if not check(value) then
      error(("%s: invalid value (expected %s)"):format(name,
        OPTION_HINTS[name] or "a non-empty string"), level)
    end
  end
end

-- The debug log: the client's `log` function, else stderr when ECS_DEBUG is
-- 1 or 2; the level from `log_level`, else ECS_DEBUG, else 1.
local function stderr_line(line) io.stderr:write(line, "\n") end
local function debug_log(opts, getenv)
  local level = tonumber((getenv or os.getenv)("ECS_DEBUG") or "")
  level = level and level >= 1 and math.min(math.floor(level), 2) or nil
  local log = opts.log or (level and stderr_line)
  if not log then return false, 0 end
  return log, opts.log_level or level or 1
end

-- verify_tls = false, said once per client: the log when there is one, else stderr.
local function warn_unverified(self)
  local line = ("ecs: warning: verify_tls = false: the connection to %s is encrypted but not "
    .. "authenticated (anyone on the path can read and change it)"):format(self.endpoint)
  ;(self.log or stderr_line)(line)
end

--- Creates a client (ecs.client). See README for the options.
---@param opts? ecs.ClientOptions
---@param getenv? fun(name: string): string? the environment (os.getenv; tests pass their own)
---@return ecs.Client
function M.new(opts, getenv)
  opts = opts or {}
  check_options(opts, OPTIONS, "ecs.client", 3)
  local log, log_level = debug_log(opts, getenv)
  -- The region chain applies with an endpoint too: helpers fill RegionId from it.
  local region = opts.region or credentials.default_region(opts, getenv)
  if not region and not opts.endpoint then
    error("region: required (or give endpoint, set ALIBABA_CLOUD_REGION_ID, "
      .. "or region_id in the aliyun CLI profile)", 2)
  end
  local ok, endpoint = pcall(endpoints.resolve, region, opts.endpoint)
  if not ok then error(endpoint, 2) end
  local ok2, creds = pcall(credentials.resolve, opts, getenv)
  if not ok2 then error(creds, 2) end

  local self = setmetatable({
    region = region,
    endpoint = endpoint.url,
    host = endpoint.host,
    scheme = endpoint.scheme,
    -- for messages: the host name alone, and host:port
    hostname = endpoint.host:match("^(%[.-%])") or endpoint.host:match("^[^:]+"),
    address = (endpoint.host:find(":%d+$") and not endpoint.host:find("^%[.*%]$")) and endpoint.host
      or (endpoint.host .. ":" .. (endpoint.scheme == "https" and 443 or 80)),
    signature_version = opts.signature_version or "v1",
    method = opts.method or "GET",
    api_version = opts.api_version or M.API_VERSION,
    user_agent = opts.user_agent or ("lua-ecs/" .. core.version),
    credentials_source = creds.source,
    timeout = opts.timeout or M.DEFAULTS.timeout,
    connect_timeout = opts.connect_timeout or M.DEFAULTS.connect_timeout,
    max_attempts = opts.max_attempts or M.DEFAULTS.max_attempts,
    max_concurrency = opts.max_concurrency or M.DEFAULTS.max_concurrency,
    verify_tls = opts.verify_tls == nil and M.DEFAULTS.verify_tls or opts.verify_tls,
    -- Unset options are false, not nil: a nil field would send every read
    -- of it on the hot path through the metatables to the helper lookup.
    ca_file = opts.ca_file or false,
    on_response = opts.on_response or false,
    rate_limits = opts.rate_limits or false,
    adaptive = opts.adaptive ~= false,
    deadline = opts.deadline or false,
    warned_unverified = false,
    log = log,
    log_level = log_level,
    retry_budget = core.retry_budget {},
    limiters = {}, -- action -> the shared limiter, looked up once
    in_flight = 0,
    queue = { head = 1, tail = 0 },
  }, Client)
  -- The signer keeps the secret in C memory; the Lua side forgets it.
  local ok3, signer = pcall(core.signer, {
    version = self.signature_version, method = self.method, endpoint = self.endpoint,
    host = self.host, api_version = self.api_version, access_key_id = creds.access_key_id,
    access_key_secret = creds.access_key_secret, security_token = creds.security_token,
    user_agent = self.user_agent,
  })
  if not ok3 then error(signer, 2) end
  secrets[self] = { access_key_id = creds.access_key_id, signer = signer }
  if self.verify_tls == false then
    self.warned_unverified = true
    warn_unverified(self)
  end
  return self
end

-- AccessKeyIds are not secret, but a log needs only enough to tell them apart.
local function mask(id)
  if #id <= 8 then return "****" end
  return id:sub(1, 4) .. "****" .. id:sub(-4)
end

function Client:__tostring()
  local creds = secrets[self]
  return ("ecs.client{endpoint=%s, region=%s, access_key_id=%s, credentials=%s, signature=%s %s}")
    :format(self.endpoint, tostring(self.region), mask(creds.access_key_id),
      self.credentials_source, self.signature_version, self.method)
end

-- The checks of prepare and call, raised at the caller of the method.
local function check_call(self, method, action, params)
  if getmetatable(self) ~= Client then
    error(("%s: call it as client:%s(action, params)"):format(method, method), 3)
  end
  if type(action) ~= "string" or not action:match("^%a%w*$") then
    error("action: expected an ECS action name such as 'DescribeInstances'", 3)
  end
  if params ~= nil and type(params) ~= "table" then
    error("params: expected a table of parameters", 3)
  end
end

--- A request ready to send, from `client:prepare`.
---@class ecs.PreparedRequest
---@field method "GET"|"POST"
---@field url string
---@field headers table<string, string>
---@field body? string

--- Signs a request without sending it.
--- pin = { timestamp = "2016-02-23T12:46:24Z" or epoch seconds, nonce = "..." }
--- pins the otherwise fresh values (tests, presigned URLs).
--- Returns { method, url, headers, body }, and the string that was signed.
---@param action string
---@param params? table<string, any>
---@param pin? {timestamp?: string|number, nonce?: string}
---@return ecs.PreparedRequest request
---@return string string_to_sign
function Client:prepare(action, params, pin)
  check_call(self, "prepare", action, params)
  local timestamp, nonce
  if pin ~= nil then
    if type(pin) ~= "table" then error("prepare: third argument must be a table", 2) end
    timestamp, nonce = pin.timestamp, pin.nonce
    if type(timestamp) == "number" then
      if not (timestamp >= 0 and timestamp < 253402300800) then
        error("timestamp: expected epoch seconds from 0 to the end of year 9999", 2)
      end
      timestamp = core.timestamp(timestamp)
    end
    if timestamp ~= nil and type(timestamp) ~= "string" then
      error("timestamp: expected an ISO 8601 string or epoch seconds", 2)
    end
    if nonce ~= nil and type(nonce) ~= "string" then
      error("nonce: expected a string", 2)
    end
  end
  local ok, req, string_to_sign = pcall(secrets[self].signer.sign, secrets[self].signer,
    action, params, timestamp, nonce)
  if not ok then error(req, 2) end
  return req, string_to_sign
end

-- Concurrency slots: at most max_concurrency requests of this client in
-- flight; further calls wait in FIFO order, each costing one queue entry.
-- With a deadline the wait ends then (false: no slot); the entry is voided,
-- so that no later release wakes the task in another wait.
local function acquire(self, task, deadline)
  if self.in_flight < self.max_concurrency then
    self.in_flight = self.in_flight + 1
    return true
  end
  if deadline and deadline - core.now() <= 0 then return false end
  local q = self.queue
  q.tail = q.tail + 1
  local entry = q.tail
  q[entry] = task
  if not deadline then
    scheduler.suspend() -- the releasing call hands its slot over
    return true
  end
  if scheduler.suspend_for(deadline - core.now()) == scheduler.TIMED_OUT then
    if q[entry] == task then q[entry] = false end
    return false
  end
  return true
end

local function release(self)
  local q = self.queue
  while q.head <= q.tail do
    local waiter = q[q.head]
    q[q.head] = nil
    q.head = q.head + 1
    if waiter and scheduler.wake(waiter) then return end -- slot handed over
  end
  self.in_flight = self.in_flight - 1
end

-- Lua 5.4 decodes every JSON number as a float; ECS counts and sizes are
-- integers, so core.integers gives them back as integers (57, not 57.0).
-- Integers beyond 2^53, which a double would round, are decoded as strings.
local integers, quote_big_integers = core.integers, core.quote_big_integers

-- Actions whose repetition changes nothing (remembered per action name).
local reads = setmetatable({}, { __index = function(t, action)
  local yes = action:find("^Describe") ~= nil or action:find("^List") ~= nil
  t[action] = yes
  return yes
end })

local function is_idempotent(action, params)
  return reads[action] or (params ~= nil and params.ClientToken ~= nil)
end

-- The Code of a 2xx reply that still reports success (one action's reply has
-- a Code field); any other Code makes the reply an error.
local SUCCESS_CODES = { ["200"] = true, success = true, ok = true }

-- One attempt's outcome: result or nil, err. `at` describes the attempt for
-- the messages of transport errors (see errors.transport).
local function outcome(action, params, response, idempotent, at)
  if response.error_code then
    return nil, errors.transport(action, response, idempotent, at)
  end
  local status, body = response.status, response.body
  local ok = status >= 200 and status < 300
  if ok and params and type(params.Format) == "string" and params.Format:upper() == "XML" then
    return body
  end
  local decoded = json.decode(quote_big_integers(body))
  -- A reply is a JSON object (not an array, a string, a number), without an error's Code.
  if ok and type(decoded) == "table" and body:find("^%s*{") then
    local code = decoded.Code
    if code == nil or (type(code) == "string" and SUCCESS_CODES[code:lower()]) then
      return integers(decoded)
    end
  elseif ok then
    decoded = nil -- not an ECS reply: a BadResponse
  end
  return nil, errors.response(action, status, response.head, body, decoded, idempotent)
end

-- Rate limiters, one per (endpoint, region, account, action) for the whole
-- process, so that every client and task of a script shares the account's
-- quota. The first client to use a key sets its configured rate. Clients hold
-- their limiters (self.limiters); the registry holds them weakly, so a key no
-- live client uses is dropped at garbage collection.
local limiters = setmetatable({}, { __mode = "v" })

--- How many limiters the process holds (for tests of the registry).
---@return integer
function M.limiter_count()
  local n = 0
  for _ in pairs(limiters) do n = n + 1 end
  return n
end
local function limiter_for(self, action)
  local cached = self.limiters[action]
  if cached then return cached end
  local key = self.endpoint .. "\0" .. (self.region or "") .. "\0" .. secrets[self].access_key_id
    .. "\0" .. action
  local limiter = limiters[key]
  if not limiter then
    local limits = self.rate_limits
    local limit = limits and (limits[action] or limits.default) or nil
    local rate, burst = limit, nil
    if type(limit) == "table" then rate, burst = limit.rate, limit.burst end
    limiter = core.limiter { rate = rate, burst = burst, adaptive = self.adaptive }
    limiters[key] = limiter
  end
  self.limiters[action] = limiter
  return limiter
end

-- The debug log. Values that could authenticate a request are masked: the
-- signature and the security token; the AccessKeyId is shortened.
local MASKED = { Signature = true, SecurityToken = true }
local function sent_params(req)
  local query = req.body
  if not query or query == "" then query = req.url:match("%?(.*)$") or "" end
  local out = {}
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if MASKED[k] then v = "****" elseif k == "AccessKeyId" then v = mask(v) end
    out[#out + 1] = k .. "=" .. v
  end
  return table.concat(out, "&")
end

local LOGGED_BODY = 8192 -- bytes of a reply shown at log level 2
local function log_attempt(self, action, attempt, req, response, result, err, decision)
  local request_id = err and err.request_id or (type(result) == "table" and result.RequestId)
  self.log(("ecs: %s attempt=%d status=%s latency=%s request_id=%s code=%s -> %s"):format(
    action, attempt, tostring(response.status or "-"),
    response.latency and ("%.1fms"):format(response.latency * 1000) or "-",
    tostring(request_id or "-"), err and err.code or "-", decision))
  if self.log_level >= 2 then
    self.log("ecs:   sent " .. req.method .. " " .. sent_params(req))
    local body = response.body
    if body then
      if #body > LOGGED_BODY then body = body:sub(1, LOGGED_BODY) .. ("... (%d bytes)"):format(#body) end
      self.log("ecs:   reply " .. body)
    end
  end
end

-- An attempt gets at least this long; a deadline that leaves less ends the
-- call instead of sending a request that could not complete.
M.MIN_ATTEMPT_TIME = 0.05
-- The longest GET URL sent; longer ones fail at common servers (nginx answers 414 beyond 8 KB).
M.MAX_URL_LENGTH = 8000

-- The error of a call whose deadline passed before an attempt could be made:
-- the last attempt's error when there was one, marked, else DeadlineExceeded.
local function deadline_error(action, settings, last_err, attempts, waiting_for)
  if last_err then
    last_err.deadline_exceeded = true
    return last_err
  end
  return errors.new {
    code = "DeadlineExceeded", action = action, retryable = false, attempts = attempts,
    deadline_exceeded = true,
    message = ("the call's deadline of %g s passed while waiting for %s"):format(settings.deadline, waiting_for),
  }
end

local function send(self, action, params, settings, deadline)
  local idempotent = is_idempotent(action, params)
  local hook = settings.on_response
  local limiter = limiter_for(self, action)
  local signer = secrets[self].signer
  local task = scheduler.current()
  local transport = scheduler.transport()
  local function on_done(response) scheduler.wake(task, response) end
  local attempt, last_err = 0, nil
  while true do
    -- The limiter reserves a send time; waiting for it yields to other tasks.
    -- A rate cut meanwhile voids the reservation: queue again at the new rate.
    local reserved, epoch = core.now(), limiter:epoch()
    local wait = limiter:acquire(reserved)
    while wait > 0 do
      if deadline and reserved + wait + M.MIN_ATTEMPT_TIME > deadline then
        return nil, deadline_error(action, settings, last_err, attempt, "the rate limiter")
      end
      scheduler.sleep(wait)
      if limiter:epoch() == epoch then break end
      reserved, epoch = core.now(), limiter:epoch()
      wait = limiter:acquire(reserved)
    end
    local timeout, deadline_cut = settings.timeout, false
    if deadline then
      local left = deadline - core.now()
      if left < M.MIN_ATTEMPT_TIME then
        return nil, deadline_error(action, settings, last_err, attempt, "the next attempt")
      end
      if left < timeout then timeout, deadline_cut = left, true end
    end
    local req = signer:sign(action, params) -- fresh nonce and timestamp
    if #req.url > M.MAX_URL_LENGTH then
      error(("%s: the request is too large for GET (a URL of %d bytes, over %d); "
        .. "use method = \"POST\" (ecs.client option)"):format(action, #req.url, M.MAX_URL_LENGTH), 0)
    end
    attempt = attempt + 1
    req.timeout, req.connect_timeout = timeout, settings.connect_timeout
    req.ca_file, req.verify_tls = settings.ca_file or nil, settings.verify_tls
    transport:submit(req, on_done)
    local response = scheduler.suspend()
    local result, err = outcome(action, params, response, idempotent, response.error_code and {
      hostname = self.hostname, address = self.address, timeout = timeout,
      connect_timeout = settings.connect_timeout, deadline_cut = deadline_cut,
    })
    if response.status then
      limiter:observe(core.now(), err and err.throttled and "throttled" or "ok", err and err.retry_after, reserved)
    end
    if hook then
      hook {
        action = action, attempt = attempt, latency = response.latency,
        status = response.status, request_id = result and type(result) == "table"
          and result.RequestId or (err and err.request_id),
        code = err and err.code, retryable = err and err.retryable, throttled = err and err.throttled,
      }
    end
    if result ~= nil then
      self.retry_budget:refund()
      if self.log then log_attempt(self, action, attempt, req, response, result, nil, "done") end
      return result
    end
    err.attempts = attempt
    last_err = err
    -- The retry decision: a delay, or why there is none.
    local delay, stop
    if not err.retryable then
      stop = "not retryable"
    elseif attempt >= settings.max_attempts then
      stop = "max_attempts reached"
    else
      delay = core.backoff(attempt, err.throttled, nil, nil, random())
      -- the server's hint, already capped at errors.MAX_RETRY_AFTER
      if err.retry_after and err.retry_after > delay then delay = err.retry_after end
      if deadline and core.now() + delay + M.MIN_ATTEMPT_TIME > deadline then
        err.deadline_exceeded = true
        stop = "deadline"
      -- The budget stops retry storms against a service that keeps failing.
      elseif not self.retry_budget:take(err.code == "Transport.Timeout" and "timeout" or "retry") then
        err.retry_budget_exhausted = true
        stop = "retry budget exhausted"
      end
    end
    if self.log then
      log_attempt(self, action, attempt, req, response, nil, err,
        stop and ("no retry: " .. stop) or ("retry in %.3fs"):format(delay))
    end
    if stop then return nil, err end
    scheduler.sleep(delay)
  end
end

-- Helpers: client:DescribeInstances{...} for every action of the API model,
-- found through Client's own __index, so the model loads only when a helper
-- is first used.
local helpers = {}
local function helper(name)
  local h = helpers[name]
  if h then return h end
  -- Unset options (nil fields such as deadline) come here on every read:
  -- turn away anything not starting with a capital letter cheaply.
  if type(name) ~= "string" then return nil end
  local first = name:byte(1)
  if not first or first < 65 or first > 90 or not name:match("^%u%w*$") then return nil end
  local api = require "ecs.api"
  if not api.has(name) then
    local hint = util.closest(name, api.actions())
    return function()
      error(("%s: not an action of the ECS API%s"):format(name,
        hint and ("; did you mean " .. hint .. "?") or ""), 2)
    end
  end
  local validate = require "ecs.api.validate"
  h = function(self, params, opts)
    if getmetatable(self) ~= Client then
      error(name .. ": call it as client:" .. name .. "{...}", 2)
    end
    local ok, wire = pcall(validate.params, api.action(name), params, self.region)
    if not ok then error(wire, 2) end
    return self:call(name, wire, opts)
  end
  helpers[name] = h
  return h
end
setmetatable(Client, { __index = function(_, key) return helper(key) end })

--- Iterates the items of a listing action across its pages:
---   for inst in client:paginate("DescribeInstances", { Status = "Running" }) do ... end
--- A page that fails raises its ecs.Error: a listing is never cut short silently.
---@param action string a listing action such as "DescribeInstances"
---@param params? table the action's parameters
---@param opts? ecs.PaginateOptions
---@return fun(): table|nil next_item
function Client:paginate(action, params, opts)
  return require("ecs.paginate").items(self, action, params, opts)
end

--- Iterates the replies of a listing action, page by page (the whole reply of each, e.g. for its
--- TotalCount):  for page in client:pages("DescribeDisks", { PageSize = 50 }) do ... end
--- A page that fails raises its ecs.Error.
---@param action string a listing action such as "DescribeInstances"
---@param params? table the action's parameters
---@param opts? ecs.PaginateOptions
---@return fun(): table|nil next_page
function Client:pages(action, params, opts)
  return require("ecs.paginate").pages(self, action, params, opts)
end

--- Every item of a listing, or nil and the error.
---@param action string a listing action such as "DescribeInstances"
---@param params? table the action's parameters
---@param opts? ecs.PaginateOptions
---@return table[]|nil items
---@return ecs.Error|nil err
function Client:collect(action, params, opts)
  return require("ecs.paginate").collect(self, action, params, opts)
end

--- Polls an action until opts.ready(reply) holds; the last reply, or nil and a WaitTimeout or
--- WaitFailed (or the call's) error.
---@param action string
---@param params? table
---@param opts ecs.WaitOptions
---@return table|nil reply
---@return ecs.Error|nil err
function Client:wait(action, params, opts)
  return require("ecs.waiters").wait(self, action, params, opts)
end

--- The named waiters: client:wait_instances{ InstanceIds = {...}, Status = "Running" } and the
--- same for disks, snapshots and images (ecs.waiters).
---@param name string
---@return fun(self: ecs.Client, spec: table, opts?: ecs.WaiterOptions): table|nil, ecs.Error|nil
local function named_waiter(name)
  ---@param self ecs.Client
  ---@param spec table
  ---@param opts? ecs.WaiterOptions
  ---@return table|nil reply
  ---@return ecs.Error|nil err
  return function(self, spec, opts)
    return require("ecs.waiters")[name](self, spec, opts)
  end
end
--- Waits until every instance reaches spec.Status (default "Running").
---@type fun(self: ecs.Client, spec: ecs.InstanceWaitSpec, opts?: ecs.WaiterOptions): table|nil, ecs.Error|nil
Client.wait_instances = named_waiter("wait_instances")
--- Waits until every disk reaches spec.Status (default "Available").
---@type fun(self: ecs.Client, spec: ecs.DiskWaitSpec, opts?: ecs.WaiterOptions): table|nil, ecs.Error|nil
Client.wait_disks = named_waiter("wait_disks")
--- Waits until every snapshot is complete (or spec.Status).
---@type fun(self: ecs.Client, spec: ecs.SnapshotWaitSpec, opts?: ecs.WaiterOptions): table|nil, ecs.Error|nil
Client.wait_snapshots = named_waiter("wait_snapshots")
--- Waits until every image reaches spec.Status (default "Available").
---@type fun(self: ecs.Client, spec: ecs.ImageWaitSpec, opts?: ecs.WaiterOptions): table|nil, ecs.Error|nil
Client.wait_images = named_waiter("wait_images")

-- Whether the model says the action takes a ClientToken, remembered per action.
local token_actions = {}
local function takes_client_token(action)
  local known = token_actions[action]
  if known == nil then
    local shape = require("ecs.api").action(action)
    known = shape ~= nil and shape.client_token == true
    token_actions[action] = known
  end
  return known
end

--- Calls an ECS action: returns the decoded reply, or nil and an error
--- (see ecs.errors). Inside ecs.run the calling task waits while others run;
--- outside, the call blocks until done. opts overrides timeout,
--- connect_timeout, max_attempts, ca_file, verify_tls, on_response, deadline.
---@param action string an action name such as "DescribeInstances"
---@param params? table<string, any> the action's parameters, sent as given (plus a ClientToken where the action takes one)
---@param opts? ecs.CallOptions
---@return table|string|nil reply the decoded reply (the raw body for Format = "XML")
---@return ecs.Error|nil err
function Client:call(action, params, opts)
  check_call(self, "call", action, params)
  local settings = self
  if opts ~= nil then
    check_options(opts, CALL_OPTIONS, "client:call", 3)
    -- A copy: the caller's table is never changed, and may serve other clients.
    local own = {}
    for k, v in pairs(opts) do own[k] = v end
    settings = setmetatable(own, { __index = self })
  end
  local task = scheduler.current()
  if not task then
    return scheduler.run(self.call, self, action, params, opts)
  end
  -- A call waits for its reply by yielding: refuse where that is impossible
  -- before anything is queued or sent.
  if not coroutine.isyieldable() then
    error("client:call: cannot wait for a reply here (inside a metamethod such as __gc, or a C "
      .. "callback such as string.gsub's or table.sort's); call from the task's own code", 2)
  end
  if settings.verify_tls == false and not self.warned_unverified then
    self.warned_unverified = true
    warn_unverified(self)
  end
  local deadline = settings.deadline and core.now() + settings.deadline
  -- An action that takes a ClientToken gets one when the caller gave none,
  -- the same for every retry: a lost reply never creates a thing twice.
  if (params == nil or params.ClientToken == nil) and takes_client_token(action) then
    params = util.copy(params)
    params.ClientToken = core.nonce()
  end
  if not acquire(self, task, deadline) then
    return nil, deadline_error(action, settings, nil, 0,
      ("a concurrency slot (max_concurrency %d)"):format(self.max_concurrency))
  end
  local ok, result, err = pcall(send, self, action, params, settings, deadline)
  release(self)
  if not ok then error(result, 0) end
  return result, err
end

return M
