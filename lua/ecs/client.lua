-- ecs.client: construction (options, credentials, endpoint), the helpers of
-- the API's actions, and the call entry; the call itself runs through the
-- request pipeline (ecs.request).
local core = require "ecs.core"
local credentials = require "ecs.credentials"
local endpoints = require "ecs.endpoints"
local log = require "ecs.log"
local ratestore = require "ecs.ratestore"
local request = require "ecs.request"
local scheduler = require "ecs.scheduler"
local util = require "ecs.util"

local M = {}

M.API_VERSION = "2014-05-26"

--- A client of one account, region and endpoint. Besides the methods below, every action of the
--- API is a method (`client:DescribeInstances{...}`, see types/ecs_2014_05_26.lua).
---@class ecs.Client
---@field region string|nil The region id (nil when only an endpoint was given and no default region exists).
---@field endpoint string The endpoint URL.
---@field signature_version "v1"|"v3"
---@field method "GET"|"POST"
---@field max_concurrency integer
---@field options ecs.CallOptions The client's call options (timeout, connect_timeout, max_attempts, ...).
local Client = {}
Client.__index = Client
M.Client = Client

-- Each client's keyring (signer, credentials provider) lives here, keyed by
-- client, so that neither pairs(client), tostring(client) nor a table dump
-- can reach the secret.
local secrets = setmetatable({}, { __mode = "k" })

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
---@field sts_endpoint? string STS URL for the chain's role providers (else ALIBABA_CLOUD_STS_ENDPOINT, else sts.aliyuncs.com).
---@field metadata_endpoint? string Instance metadata URL for the chain (else ALIBABA_CLOUD_ECS_METADATA_ENDPOINT, else http://100.100.100.200).
---@field signature_version? "v1"|"v3"
---@field method? "GET"|"POST"
---@field api_version? string
---@field user_agent? string
---@field max_concurrency? integer Requests of this client in flight (default 64).
---@field adaptive? boolean Adapt the send rate to throttling (default true).
---@field rate_limits? table<string, number|{rate: number, burst?: number}> Requests per second per action (or "default").
---@field credentials? ecs.CredentialsProvider Where credentials come from (default: the chain).
---@field rate_store? table|string Where limiters keep their state: a store, or a URL (redis://[:password@]host:port/db, unix:///path?db=n); default ECS_RATE_STORE, else this process (or nginx's lua_shared_dict ecs).
---@field log? fun(line: string) Receives the debug log: one line per attempt (ECS_DEBUG=1 sends it to stderr).
---@field log_level? 1|2 1: a line per attempt; 2: plus the sent parameters and the reply body (default: ECS_DEBUG, else 1).

-- Option name -> the check it must pass. An unknown name is an error, so a
-- typo never silently falls back to a default.
local function is_string(v) return type(v) == "string" and v ~= "" end
M.MAX_SECONDS = 1e6 -- the longest timeout or deadline accepted (11.5 days)
local function is_seconds(v) return type(v) == "number" and v > 0 and v <= M.MAX_SECONDS end
local function is_count(v) return type(v) == "number" and v >= 1 and v % 1 == 0 end
local function is_boolean(v) return type(v) == "boolean" end
local function is_function(v) return type(v) == "function" end
local function is_log_level(v) return v == 1 or v == 2 end

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
  sts_endpoint = is_string,
  metadata_endpoint = is_string,
  signature_version = function(v) return v == "v1" or v == "v3" end,
  method = function(v) return v == "GET" or v == "POST" end,
  api_version = is_string,
  user_agent = is_string,
  max_concurrency = is_count,
  adaptive = is_boolean,
  log = is_function,
  log_level = is_log_level,
  credentials = function(v) return type(v) == "table" and type(v.get) == "function" end,
  rate_store = function(v)
    return (type(v) == "table" and type(v.limiter) == "function") or is_string(v)
  end,
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
  credentials = "a credentials provider (a table with get())",
  rate_store = "a rate store (a table with limiter()) or a URL such as redis://host:6379/0",
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

--- Creates a client (ecs.client). See README for the options.
---@param opts? ecs.ClientOptions
---@param getenv? fun(name: string): string? the environment (os.getenv; tests pass their own)
---@return ecs.Client
function M.new(opts, getenv)
  opts = opts or {}
  check_options(opts, OPTIONS, "ecs.client", 3)
  -- The region chain applies with an endpoint too: helpers fill RegionId from it.
  local region = opts.region or credentials.default_region(opts, getenv)
  if not region and not opts.endpoint then
    error("region: required (or give endpoint, set ALIBABA_CLOUD_REGION_ID, "
      .. "or region_id in the aliyun CLI profile)", 2)
  end
  local ok, endpoint = pcall(endpoints.resolve, region, opts.endpoint)
  if not ok then error(endpoint, 2) end
  local provider = opts.credentials
  if not provider then
    local ok2, found = pcall(credentials.provider, opts, getenv)
    if not ok2 then error(found, 2) end
    provider = found
  end
  local log_fn, log_level = log.setup(opts, getenv)
  local max_concurrency = opts.max_concurrency or M.DEFAULTS.max_concurrency
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
    credentials_source = provider.source or "provider",
    -- The options a call may override, in a table of their own (a call's
    -- settings are a copy of its options over this table).
    options = {
      timeout = opts.timeout or M.DEFAULTS.timeout,
      connect_timeout = opts.connect_timeout or M.DEFAULTS.connect_timeout,
      max_attempts = opts.max_attempts or M.DEFAULTS.max_attempts,
      verify_tls = opts.verify_tls == nil and M.DEFAULTS.verify_tls or opts.verify_tls,
      ca_file = opts.ca_file,
      on_response = opts.on_response,
      deadline = opts.deadline,
    },
    max_concurrency = max_concurrency,
    slots = scheduler.semaphore(max_concurrency),
    rate_limits = opts.rate_limits,
    adaptive = opts.adaptive ~= false,
    rate_store = ratestore.resolve(opts.rate_store, getenv),
    limiters = {}, -- action -> the store's limiter, looked up once
    retry_budget = core.retry_budget {},
    log = log_fn,
    log_level = log_level,
    warned_unverified = false,
  }, Client)
  local keyring = M.keyring(self, provider)
  -- A provider that fetches (credentials/refresh.lua) does so on first use, inside the call's
  -- task: the client is made from configuration alone.
  if not provider.refreshing then
    local signer, err = keyring:signer()
    if not signer then error(tostring(err), 2) end
  end
  secrets[self] = keyring
  if self.options.verify_tls == false then
    self.warned_unverified = true
    log.unverified(self.log, self.endpoint)
  end
  return self
end

-- A keyring: the client's signer, keyed with what its credentials provider
-- returns. The signer keeps the secret in C memory; a static provider is
-- dropped once the signer has its keys, so the Lua side forgets the secret.
local Keyring = {}
Keyring.__index = Keyring

--- The signer for the current credentials: re-keyed when the provider returns new ones. May
--- yield while a provider fetches.
---@return userdata|nil signer
---@return ecs.Error|nil err
function Keyring:signer()
  local provider = self.provider
  if not provider then return self.current end
  local creds, err = provider:get()
  if not creds then return nil, err end
  if creds ~= self.credentials then
    local spec = self.spec
    spec.access_key_id, spec.access_key_secret = creds.access_key_id, creds.access_key_secret
    spec.security_token = creds.security_token
    local ok, signer = pcall(core.signer, spec)
    spec.access_key_secret, spec.security_token = nil, nil
    if not ok then error(signer, 0) end
    self.current, self.access_key_id = signer, creds.access_key_id
    if provider.static then
      self.provider, self.credentials = nil, nil
    else
      self.credentials = creds
    end
  end
  return self.current
end

--- The service refused the credentials (`refused`: the ones the request was signed with): the
--- provider fetches anew. True when it is a refreshing one (a resend may then succeed).
---@param refused? ecs.Credentials
---@return boolean refreshing
function Keyring:refused(refused)
  local provider = self.provider
  if not provider then return false end
  provider:invalidate(refused)
  return provider.refreshing == true
end

--- The keyring of a client (for the request pipeline; the client holds it privately).
---@param client ecs.Client
---@param provider ecs.CredentialsProvider
---@return table keyring
function M.keyring(client, provider)
  -- No reference back to the client: the keyring is the value of a weak-keyed
  -- table, which (under LuaJIT) would then keep the client alive.
  return setmetatable({ provider = provider, spec = {
    version = client.signature_version, method = client.method, endpoint = client.endpoint,
    host = client.host, api_version = client.api_version, user_agent = client.user_agent,
  } }, Keyring)
end

function Client:__tostring()
  return ("ecs.client{endpoint=%s, region=%s, access_key_id=%s, credentials=%s, signature=%s %s}")
    :format(self.endpoint, tostring(self.region),
      secrets[self].access_key_id and log.mask(secrets[self].access_key_id) or "(not fetched yet)",
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
  local keyring = secrets[self]
  local signer, err
  if keyring.provider and keyring.provider.refreshing and not scheduler.current() then
    signer, err = scheduler.run(function() return keyring:signer() end) -- a provider fetches in a task
  else
    signer, err = keyring:signer()
  end
  if not signer then error(tostring(err), 2) end
  local ok, req, string_to_sign = pcall(signer.sign, signer, action, params, timestamp, nonce)
  if not ok then error(req, 2) end
  return req, string_to_sign
end

-- What the model says of an action, looked up once per action name: its
-- shape (for validation), whether it takes a ClientToken, and whether its
-- repetition changes nothing (Describe*, List*).
local facts = setmetatable({}, { __index = function(t, action)
  local shape = require("ecs.api").action(action)
  local f = {
    shape = shape or false,
    client_token = shape ~= nil and shape.client_token == true,
    read = action:find("^Describe") ~= nil or action:find("^List") ~= nil,
  }
  t[action] = f
  return f
end })

-- A call with its facts known: settings, the ClientToken, the pipeline.
local function call(self, action, params, opts, fact)
  local settings = self.options
  if opts ~= nil then
    check_options(opts, CALL_OPTIONS, "client:call", 4)
    -- A copy: the caller's table is never changed, and may serve other clients.
    local own = {}
    for k, v in pairs(opts) do own[k] = v end
    settings = setmetatable(own, { __index = self.options })
  end
  local task = scheduler.current()
  if not task then
    return scheduler.run(call, self, action, params, opts, fact)
  end
  -- A call waits for its reply by yielding: refuse where that is impossible
  -- before anything is queued or sent.
  if not scheduler.isyieldable() then
    error("client:call: cannot wait for a reply here (inside a metamethod such as __gc, or a C "
      .. "callback such as string.gsub's or table.sort's); call from the task's own code", 3)
  end
  if settings.verify_tls == false and not self.warned_unverified then
    self.warned_unverified = true
    log.unverified(self.log, self.endpoint)
  end
  -- An action that takes a ClientToken gets one when the caller gave none,
  -- the same for every retry: a lost reply never creates a thing twice.
  if (params == nil or params.ClientToken == nil) and fact.client_token then
    params = util.copy(params)
    params.ClientToken = core.nonce()
  end
  local idempotent = fact.read or (params ~= nil and params.ClientToken ~= nil)
  return request.call(self, secrets[self], action, params, settings, idempotent)
end

-- Helpers: client:DescribeInstances{...} for every action of the API model,
-- found through Client's own __index, so the model loads only when a helper
-- is first used.
local helpers = {}
local function helper(name)
  local h = helpers[name]
  if h then return h end
  -- Turn away anything not starting with a capital letter cheaply.
  if type(name) ~= "string" then return nil end
  local first = name:byte(1)
  if not first or first < 65 or first > 90 or not name:match("^%u%w*$") then return nil end
  local fact = facts[name]
  if not fact.shape then
    local hint = util.closest(name, require("ecs.api").actions())
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
    local ok, wire = pcall(validate.params, fact.shape, params, self.region)
    if not ok then error(wire, 2) end
    return call(self, name, wire, opts, fact)
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
  return call(self, action, params, opts, facts[action])
end

--- How many limiters the process's rate store holds (for tests of its memory).
---@return integer
function M.limiter_count()
  return require("ecs.ratestore.local").shared:count()
end

return M
