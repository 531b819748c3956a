-- What every provider that fetches its credentials shares: the credentials it holds (privately),
-- refresh ahead of expiry, one fetch in flight at a time (single flight), backoff after a failed
-- fetch, and the errors. A provider built on it gives a fetch(self) that returns the fields of
-- new credentials (or nil and an ecs.Error); refresh.Provider gives it get() and invalidate()
-- (the interface of credentials/static.lua).
--
--   get() answers from what it holds while the credentials are good. When less than
--   min(REFRESH_AHEAD, a fifth of their lifetime) is left, the task that notices fetches anew
--   while every other task goes on with the current credentials; when they are missing,
--   expired or refused (invalidate), the first task fetches and the others wait for that one
--   fetch (they yield). Outside a task (at client creation) it never fetches.
local core = require "ecs.core"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"
local json = require("cjson.safe").new()

local M = {}

--- Refresh when less than min(REFRESH_AHEAD, LIFETIME_SHARE * lifetime) seconds are left.
M.REFRESH_AHEAD = 180
M.LIFETIME_SHARE = 0.2
--- Tries of one fetch when no usable credentials are at hand (a failure a retry can fix).
M.FETCH_TRIES = 3
--- Seconds before the second try of such a fetch (full jitter, doubling, at most 2 s).
M.TRY_DELAY = 0.2
--- Seconds to wait after a failed fetch before the next one (doubling with each failure, at most
--- BACKOFF_MAX; while old credentials are still valid, at most half the time they have left).
M.BACKOFF = 1
M.BACKOFF_MAX = 30
--- Fetched credentials whose Expiration has passed by this machine's clock (one set ahead of the
--- service's) are used for this many seconds: the provider must not fetch without pause.
M.MIN_VALIDITY = 5

local random, floor, min, max = math.random, math.floor, math.min, math.max

-- The wall clock in epoch seconds, finer than os.time(): the monotonic clock since the last
-- whole second os.time() was seen to begin, re-anchored whenever the two disagree.
local mono = core.now
local anchor_wall, anchor_mono = os.time(), mono()

--- Epoch seconds, with sub-second resolution (the default clock of every provider).
---@return number seconds
function M.clock()
  local t = os.time()
  local w = anchor_wall + (mono() - anchor_mono)
  if w < t or w >= t + 1 then
    anchor_wall, anchor_mono = t, mono()
    w = t
  end
  return w
end

-- Days from 1970-01-01 to the given civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- An ISO 8601 time as the services write it ("2026-01-02T03:04:05Z", with optional fraction
--- and offset) in epoch seconds; nil when it is not one.
---@param text any
---@return number|nil seconds
function M.parse_time(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s, rest =
    text:match("^%s*(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.-)%s*$")
  if not y then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  local frac, zone = rest:match("^(%.?%d*)(.*)$")
  local offset = 0
  if zone ~= "Z" and zone ~= "z" and zone ~= "" then
    local sign, oh, om = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  if frac ~= "" and not frac:match("^%.%d+$") then return nil end
  local seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
  if frac ~= "" then seconds = seconds + tonumber("0" .. frac) end
  return seconds
end

--- Epoch seconds as ISO 8601 (for messages).
---@param seconds number
---@return string
function M.format_time(seconds)
  return core.timestamp(floor(seconds))
end

-- provider -> its state: { credentials, expires, refresh_at, stale, fetching, waiters, failures,
-- retry_at, last_err }. Private to this module: the credentials (and their secret) are reachable
-- neither through pairs(provider) nor tostring(provider).
local states = setmetatable({}, { __mode = "k" })

local function state_of(provider)
  local st = states[provider]
  if not st then
    st = { failures = 0 }
    states[provider] = st
  end
  return st
end

-- Whether the running code may wait (fetch): inside a task, where it can yield.
local function can_wait()
  return scheduler.current() ~= nil and scheduler.isyieldable()
end

local function usable(st, now)
  return st.credentials ~= nil and not st.stale and (st.expires == nil or now < st.expires)
end

local function retryable(err)
  if type(err) ~= "table" or err.retryable == false then return false end
  if err.retryable == true then return true end
  local code = err.code or ""
  if code == "Transport.BadURL" or err.too_large then return false end
  return (core.classify(code, err.http_status, true, true))
end

--- The error of a provider that cannot give credentials: Credentials.RefreshFailed, whose message
--- names the provider and the cause (never a secret: causes are built without them). When the
--- cause is a service's reply (STS, metadata), service_code and request_id are that reply's.
---@param provider table
---@param cause ecs.Error|string what went wrong
---@param situation? string what the provider held (default: "cannot get credentials")
---@return ecs.Error err
function M.failed(provider, cause, situation)
  local name = provider.name or provider.source or "credentials provider"
  local replied = type(cause) == "table" and cause.http_status ~= nil and type(cause.code) == "string"
    and not cause.code:find("^Transport%.") and not cause.code:find("^Credentials%.")
  return errors.new {
    code = "Credentials.RefreshFailed",
    message = ("%s: %s: %s"):format(name, situation or "cannot get credentials", tostring(cause)),
    service_code = replied and cause.code or nil,
    request_id = replied and cause.request_id or nil,
    retryable = false,
  }
end

-- What a provider held when a fetch failed, for the error's message.
local function situation(st, now)
  if not st.credentials then return nil end
  if st.stale then return "the service refused the credentials and they could not be refreshed" end
  if st.expires and st.expires <= now then
    return "the credentials expired at " .. M.format_time(st.expires) .. " and could not be refreshed"
  end
  if st.expires then
    return "could not refresh the credentials (valid until " .. M.format_time(st.expires) .. ")"
  end
  return "could not refresh the credentials"
end

-- Takes fetched fields as the provider's credentials: the same table when nothing changed (the
-- client re-keys only on a new one), else a new one.
-- Whether two sets of credentials are the same key pair and token.
local function same(a, b)
  return a.access_key_id == b.access_key_id and a.access_key_secret == b.access_key_secret
    and a.security_token == b.security_token
end

local function accept(st, fields, now)
  local old = st.credentials
  local expiration = fields.expiration
  if old and same(old, fields) then
    old.expiration = expiration
  else
    st.credentials = {
      access_key_id = fields.access_key_id, access_key_secret = fields.access_key_secret,
      security_token = fields.security_token, expiration = expiration,
    }
  end
  st.stale = false
  if expiration then
    -- Already past by this clock (set ahead of the service's): use them a little while.
    local expires = expiration > now and expiration or now + M.MIN_VALIDITY
    st.expires = expires
    st.refresh_at = expires - min(M.REFRESH_AHEAD, (expires - now) * M.LIFETIME_SHARE)
  else
    st.expires, st.refresh_at = nil, nil
  end
end

-- One fetch with up to `tries` tries (pausing between them) for failures a retry can fix.
local function fetch_tries(provider, tries)
  local attempt = 0
  while true do
    attempt = attempt + 1
    local fields, err = provider:fetch()
    if fields then return fields end
    if attempt >= tries or not retryable(err) then return nil, err end
    scheduler.sleep(core.backoff(attempt, false, M.TRY_DELAY, 2, random()))
  end
end

-- ---- one fetch for all the processes of a host runtime (nginx workers) ----

--- Seconds a worker's fetch may hold the shared lock; seconds between looks while another
--- worker fetches.
M.SHARED_LOCK_TTL = 60
M.SHARED_POLL = 0.05
-- What a shared fetch returns when another worker fetches and this one's credentials are
-- still good: nothing changes, the next get() looks again.
local ANOTHER_FETCHES = {}

-- The shared dict when the host runtime has one (nginx: lua_shared_dict ecs), else nil.
local shared_dict
do
  local host = require("ecs.transport").host()
  if host then shared_dict = function() return host.shared_dict("credentials") end end
end

-- A provider's name in the shared dict: its configuration (scalar fields: role, endpoint,
-- session name, ...), hashed, so that equal providers of different workers meet.
local function shared_name(provider)
  local name = provider.shared_name
  if name then return name end
  local fields = {}
  for k, v in pairs(provider) do
    local t = type(v)
    if type(k) == "string" and (t == "string" or t == "number" or t == "boolean") then
      fields[#fields + 1] = k .. "=" .. tostring(v)
    end
  end
  table.sort(fields)
  name = "ecs:cred:" .. core.digest("sha256", table.concat(fields, "\0"))
  provider.shared_name = name
  return name
end

-- Credentials another worker published, when they differ from what this one holds.
local function published(dict, name, st)
  local text = dict:get(name)
  local fields = text and json.decode(text)
  if type(fields) ~= "table" or type(fields.access_key_id) ~= "string" then return nil end
  if st.credentials and same(fields, st.credentials) then return nil end
  return fields
end

-- The fetch of one worker for all: take what another published; else fetch under the shared
-- lock and publish; else (another worker fetches) go on with good credentials, or wait for its.
local function fetch_shared(provider, tries, st, dict)
  local name = shared_name(provider)
  local lock = name .. ":lock"
  local waited = 0
  while true do
    local fields = published(dict, name, st)
    if fields then return fields end
    if dict:add(lock, true, M.SHARED_LOCK_TTL) then
      fields = published(dict, name, st) -- published between the look and the lock
      local err
      if not fields then
        local ok
        ok, fields, err = pcall(fetch_tries, provider, tries)
        if not ok then dict:delete(lock); error(fields, 0) end
        if fields then
          local ttl = fields.expiration and math.max(fields.expiration - provider.clock(), 1) or 0
          dict:set(name, json.encode {
            access_key_id = fields.access_key_id, access_key_secret = fields.access_key_secret,
            security_token = fields.security_token, expiration = fields.expiration,
          }, ttl)
        end
      end
      dict:delete(lock)
      return fields, err
    end
    if usable(st, provider.clock()) then return ANOTHER_FETCHES end
    if waited >= M.SHARED_LOCK_TTL then return fetch_tries(provider, tries) end
    scheduler.sleep(M.SHARED_POLL)
    waited = waited + M.SHARED_POLL
  end
end

local function fetch(provider, tries, st)
  local dict = shared_dict and shared_dict()
  if dict then return fetch_shared(provider, tries, st, dict) end
  return fetch_tries(provider, tries)
end

local function wait_flight(st)
  local waiters = st.waiters
  waiters[#waiters + 1] = scheduler.current()
  scheduler.suspend()
end

-- Takes a fetch's outcome into the state and wakes the tasks waiting for it.
local function settle_flight(provider, st, ok, fields, err)
  local waiters = st.waiters
  st.fetching, st.waiters = false, nil
  local now = provider.clock()
  if fields == ANOTHER_FETCHES then
    st.retry_at = now + M.SHARED_POLL
  elseif ok and fields then
    accept(st, fields, now)
    st.failures, st.retry_at, st.last_err = 0, nil, nil
  else
    local cause = ok and err or tostring(fields)
    st.failures = st.failures + 1
    local delay = min(M.BACKOFF * 2 ^ (st.failures - 1), M.BACKOFF_MAX)
    if usable(st, now) and st.expires then delay = min(delay, max((st.expires - now) / 2, 0.1)) end
    st.retry_at = now + delay * (0.5 + 0.5 * random())
    st.last_err = M.failed(provider, cause or "the fetch gave no credentials", situation(st, now))
  end
  for i = 1, #waiters do scheduler.wake(waiters[i]) end
end

-- The one fetch in flight, in a task of its own (detached: under nginx the end of the caller's
-- request would otherwise kill a fetch half-way and leave every later caller waiting); the
-- caller waits for it as the others do (see wait_flight). The state holds the outcome.
local function flight(provider, st, tries)
  st.fetching, st.waiters = true, {}
  local raised
  local function fetch_and_settle()
    local ok, fields, err = pcall(fetch, provider, tries, st)
    if not ok then raised = fields end
    settle_flight(provider, st, ok, fields, err)
  end
  if scheduler.detach(fetch_and_settle) then
    wait_flight(st)
  else
    fetch_and_settle()
  end
  if raised then error(raised, 0) end
end

--- The base of a fetching provider: get() and invalidate() around the provider's fetch().
---@class ecs.RefreshingProvider: ecs.CredentialsProvider
---@field name string What errors and tostring(client) call it (never a secret).
---@field refreshing true It fetches (on first use, inside a task), so a client keys it lazily.
---@field clock fun(): number Epoch seconds (refresh.clock; tests bring their own).
local Provider = {}
Provider.__index = Provider
M.Provider = Provider

--- The current credentials: the same table while they do not change. May yield while the
--- provider fetches (inside a task only: outside one it answers from what it holds, or fails).
---@return ecs.Credentials|nil credentials
---@return ecs.Error|nil err Credentials.RefreshFailed (or Credentials.NotFetched outside a task)
function Provider:get()
  local st = state_of(self)
  local now = self.clock()
  if usable(st, now) then
    if not st.refresh_at or now < st.refresh_at then return st.credentials end
    -- Ahead of expiry: this task refreshes, the others go on with the current credentials;
    -- after a failure, not before the backoff has passed.
    if st.fetching or not can_wait() or (st.retry_at and now < st.retry_at) then
      return st.credentials
    end
    flight(self, st, 1)
    now = self.clock()
    if usable(st, now) then return st.credentials end
  end
  if not can_wait() then
    if st.last_err then return nil, st.last_err end
    return nil, errors.new {
      code = "Credentials.NotFetched", retryable = false,
      message = ("%s: %s; they are fetched inside a task (a call, or ecs.run)"):format(self.name,
        st.credentials and "the credentials must be fetched anew" or "no credentials yet"),
    }
  end
  if st.fetching then
    wait_flight(st)
  elseif st.last_err and st.retry_at and now < st.retry_at then
    -- A fetch failed moments ago: no new one before the backoff (a refusal reported since,
    -- through invalidate, clears it).
    return nil, st.last_err
  else
    flight(self, st, M.FETCH_TRIES)
  end
  if usable(st, self.clock()) then return st.credentials end
  return nil, st.last_err or M.failed(self, "the fetch gave no credentials")
end

--- The service refused the credentials: the next get() fetches anew (one fetch, however many
--- tasks report it). `refused`, the credentials the refused request was signed with, makes a
--- late report about credentials already replaced change nothing.
---@param refused? ecs.Credentials
---@return nil
function Provider:invalidate(refused)
  local st = states[self]
  if not st or not st.credentials then return end
  if refused ~= nil and refused ~= st.credentials then return end
  st.stale = true
  st.retry_at = nil
end

--- Whether the provider holds credentials now, and until when (for tools and tests; no secret).
---@return {fetched: boolean, expires: number|nil, refresh_at: number|nil, failures: integer, fetching: boolean}
function Provider:status()
  local st = state_of(self)
  return { fetched = st.credentials ~= nil, expires = st.expires, refresh_at = st.refresh_at,
           failures = st.failures, fetching = st.fetching == true }
end

function Provider:__tostring()
  return "ecs.credentials." .. (self.name or "provider")
end

--- Makes `class` (a provider class with fetch and its own fields) a refreshing provider class.
---@param class table
---@return table class
function M.class(class)
  class.__index = class
  class.__tostring = Provider.__tostring
  return setmetatable(class, { __index = Provider })
end

--- Initialises the common fields of a refreshing provider object.
---@param obj table
---@param name string what errors and tostring(client) call it
---@param clock? fun(): number epoch seconds (default refresh.clock)
---@return table obj
function M.init(obj, name, clock)
  if clock ~= nil and type(clock) ~= "function" then error("clock: expected a function", 3) end
  obj.name, obj.source, obj.refreshing, obj.clock = name, name, true, clock or M.clock
  return obj
end

return M
