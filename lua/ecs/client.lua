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

local Client = {}
Client.__index = Client
M.Client = Client

-- Credentials live here, keyed by client, so that neither pairs(client),
-- tostring(client) nor a table dump can reach the secret.
local secrets = setmetatable({}, { __mode = "k" })

-- Option name -> the check it must pass. An unknown name is an error, so a
-- typo never silently falls back to a default.
local function is_string(v) return type(v) == "string" and v ~= "" end
local function is_seconds(v) return type(v) == "number" and v > 0 and v < math.huge end
local function is_count(v) return type(v) == "number" and v >= 1 and v % 1 == 0 end
local function is_boolean(v) return type(v) == "boolean" end
local function is_function(v) return type(v) == "function" end

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
  timeout = "seconds > 0", connect_timeout = "seconds > 0",
  max_attempts = "an integer >= 1", max_concurrency = "an integer >= 1",
  verify_tls = "a boolean", on_response = "a function", adaptive = "a boolean",
  deadline = "seconds > 0",
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

--- Creates a client. See README for the options.
function M.new(opts, getenv)
  opts = opts or {}
  check_options(opts, OPTIONS, "ecs.client", 3)
  local region = opts.region
  if not region and not opts.endpoint then
    region = credentials.default_region(opts, getenv)
    if not region then
      error("region: required (or give endpoint, set ALIBABA_CLOUD_REGION_ID, "
        .. "or region_id in the aliyun CLI profile)", 2)
    end
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

--- Signs a request without sending it.
--- pin = { timestamp = "2016-02-23T12:46:24Z" or epoch seconds, nonce = "..." }
--- pins the otherwise fresh values (tests, presigned URLs).
--- Returns { method, url, headers, body }, and the string that was signed.
function Client:prepare(action, params, pin)
  check_call(self, "prepare", action, params)
  local timestamp, nonce
  if pin ~= nil then
    if type(pin) ~= "table" then error("prepare: third argument must be a table", 2) end
    timestamp, nonce = pin.timestamp, pin.nonce
    if type(timestamp) == "number" then timestamp = core.timestamp(timestamp) end
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
local function acquire(self, task)
  if self.in_flight < self.max_concurrency then
    self.in_flight = self.in_flight + 1
    return
  end
  local q = self.queue
  q.tail = q.tail + 1
  q[q.tail] = task
  scheduler.suspend() -- the releasing call hands its slot over
end

local function release(self)
  local q = self.queue
  while q.head <= q.tail do
    local waiter = q[q.head]
    q[q.head] = nil
    q.head = q.head + 1
    if scheduler.wake(waiter) then return end -- slot handed over
  end
  self.in_flight = self.in_flight - 1
end

-- Lua 5.4 decodes every JSON number as a float; ECS counts and sizes are
-- integers, so core.integers gives them back as integers (57, not 57.0).
local integers = core.integers

-- Actions whose repetition changes nothing (remembered per action name).
local reads = setmetatable({}, { __index = function(t, action)
  local yes = action:find("^Describe") ~= nil or action:find("^List") ~= nil
  t[action] = yes
  return yes
end })

local function is_idempotent(action, params)
  return reads[action] or (params ~= nil and params.ClientToken ~= nil)
end

-- One attempt's outcome: result or nil, err.
local function outcome(action, params, response, idempotent)
  if response.error_code then
    return nil, errors.transport(action, response, idempotent)
  end
  local status, body = response.status, response.body
  if status >= 200 and status < 300 and params and type(params.Format) == "string"
      and params.Format:upper() == "XML" then
    return body
  end
  local decoded = json.decode(body)
  if status >= 200 and status < 300 and type(decoded) == "table" then
    return integers(decoded)
  end
  return nil, errors.response(action, status, response.head, body, decoded, idempotent)
end

-- Rate limiters, one per (endpoint, region, account, action) for the whole
-- process, so that every client and task of a script shares the account's
-- quota. The first client to use a key sets its configured rate.
local limiters = {}
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

local function send(self, action, params, settings)
  local idempotent = is_idempotent(action, params)
  local hook = settings.on_response
  local limiter = limiter_for(self, action)
  local signer = secrets[self].signer
  local deadline = settings.deadline and core.now() + settings.deadline
  local task = scheduler.current()
  local transport = scheduler.transport()
  local function on_done(response) scheduler.wake(task, response) end
  local attempt = 0
  while true do
    attempt = attempt + 1
    -- The limiter reserves a send time; waiting for it yields to other tasks.
    -- A rate cut meanwhile voids the reservation: queue again at the new rate.
    local reserved, epoch = core.now(), limiter:epoch()
    local wait = limiter:acquire(reserved)
    while wait > 0 do
      scheduler.sleep(wait)
      if limiter:epoch() == epoch then break end
      reserved, epoch = core.now(), limiter:epoch()
      wait = limiter:acquire(reserved)
    end
    local req = signer:sign(action, params) -- fresh nonce and timestamp
    local timeout = settings.timeout
    if deadline then timeout = math.max(0.001, math.min(timeout, deadline - core.now())) end
    req.timeout, req.connect_timeout = timeout, settings.connect_timeout
    req.ca_file, req.verify_tls = settings.ca_file or nil, settings.verify_tls
    transport:submit(req, on_done)
    local response = scheduler.suspend()
    local result, err = outcome(action, params, response, idempotent)
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
      return result
    end
    err.attempts = attempt
    if not err.retryable or attempt >= settings.max_attempts then return nil, err end
    local delay = core.backoff(attempt, err.throttled, nil, nil, random())
    if err.retry_after and err.retry_after > delay then delay = err.retry_after end
    if deadline and core.now() + delay >= deadline then
      err.deadline_exceeded = true
      return nil, err
    end
    -- The budget stops retry storms against a service that keeps failing.
    if not self.retry_budget:take(err.code == "Transport.Timeout" and "timeout" or "retry") then
      err.retry_budget_exhausted = true
      return nil, err
    end
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

--- Iterates the items of a listing action across its pages (ecs.paginate).
function Client:paginate(action, params, opts)
  return require("ecs.paginate").items(self, action, params, opts)
end

--- Every item of a listing, or nil and the error (ecs.paginate).
function Client:collect(action, params, opts)
  return require("ecs.paginate").collect(self, action, params, opts)
end

--- Polls an action until ready(reply) holds (ecs.waiters).
function Client:wait(action, params, opts)
  return require("ecs.waiters").wait(self, action, params, opts)
end

for _, name in ipairs { "wait_instances", "wait_disks", "wait_snapshots", "wait_images" } do
  Client[name] = function(self, spec, opts)
    return require("ecs.waiters")[name](self, spec, opts)
  end
end

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
--- connect_timeout, max_attempts, ca_file, verify_tls, on_response.
function Client:call(action, params, opts)
  check_call(self, "call", action, params)
  local settings = self
  if opts ~= nil then
    check_options(opts, CALL_OPTIONS, "client:call", 3)
    settings = setmetatable(opts, { __index = self })
  end
  local task = scheduler.current()
  if not task then
    return scheduler.run(self.call, self, action, params, opts)
  end
  -- An action that takes a ClientToken gets one when the caller gave none,
  -- the same for every retry: a lost reply never creates a thing twice.
  if (params == nil or params.ClientToken == nil) and takes_client_token(action) then
    params = util.copy(params)
    params.ClientToken = core.nonce()
  end
  acquire(self, task)
  local ok, result, err = pcall(send, self, action, params, settings)
  release(self)
  if not ok then error(result, 0) end
  return result, err
end

return M
