-- The request pipeline: one call, read top to bottom. Take a concurrency slot,
-- then for each attempt: a send time from the rate store, credentials from the
-- provider, a signed request, the transport, the decoded reply, and the retry
-- decision of the C core (core.decide). Nothing here knows libcurl, the store
-- behind a limiter, or where credentials come from.
local core = require "ecs.core"
local errors = require "ecs.errors"
local log = require "ecs.log"
local scheduler = require "ecs.scheduler"
local json = require("cjson.safe").new()

local M = {}

--- An attempt gets at least this long: a deadline that leaves less ends the call instead of
--- sending a request that could not complete.
M.MIN_ATTEMPT_TIME = 0.05
--- The longest GET URL sent; longer ones fail at common servers (nginx answers 414 beyond 8 KB).
M.MAX_URL_LENGTH = 8000

local now, decide = core.now, core.decide
-- Lua 5.4 decodes every JSON number as a float; ECS counts and sizes are
-- integers, so core.integers gives them back as integers (57, not 57.0).
-- Integers beyond 2^53, which a double would round, are decoded as strings.
local integers, quote_big_integers = core.integers, core.quote_big_integers
local random = math.random -- jitter needs spread, not secrecy

-- The Code of a 2xx reply that still reports success (one action's reply has
-- a Code field); any other Code makes the reply an error.
local SUCCESS_CODES = { ["200"] = true, success = true, ok = true }

-- The reply of an attempt, or nil and its error (not yet classified: that is
-- core.decide's). `at` names where the attempt went, for transport errors.
local function decode(action, params, response, at)
  if response.error_code then
    return nil, errors.transport(action, response, at)
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
  return nil, errors.response(action, status, response.head, body, decoded)
end

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

-- The limiter of (endpoint, region, account, action), looked up in the
-- client's rate store once per client and action.
local function limiter_for(client, keyring, action)
  local limiter = client.limiters[action]
  if limiter then return limiter end
  local key = client.endpoint .. "\0" .. (client.region or "") .. "\0" .. keyring.access_key_id
    .. "\0" .. action
  local limits = client.rate_limits
  local limit = limits and (limits[action] or limits.default) or nil
  local rate, burst = limit, nil
  if type(limit) == "table" then rate, burst = limit.rate, limit.burst end
  limiter = client.rate_store:limiter(key, { rate = rate, burst = burst, adaptive = client.adaptive })
  client.limiters[action] = limiter
  return limiter
end

-- Waits for a send time; false when the deadline would pass first. The
-- limiter's epoch changes when a rate cut or a large recovery voids the
-- reservations: then queue again at the new rate. The wait goes in slices, so
-- that a reservation made at a crawl is not slept out after the rate is back.
local SLICE = 0.5
local function send_time(limiter, deadline)
  local reserved, epoch = now(), limiter:epoch()
  local send_at = reserved + limiter:acquire(reserved)
  while true do
    local t = now()
    if t >= send_at then return reserved end
    if deadline and send_at + M.MIN_ATTEMPT_TIME > deadline then return false end
    scheduler.sleep(math.min(send_at - t, SLICE))
    if limiter:epoch() ~= epoch then
      reserved, epoch = now(), limiter:epoch()
      send_at = reserved + limiter:acquire(reserved)
    end
  end
end

-- The attempts of one call, once it holds a concurrency slot.
local function attempts(client, keyring, action, params, settings, idempotent, deadline)
  -- Credentials first: a provider that fetches does so on first use (inside this task), and the
  -- limiter's key names the account.
  local first, first_err = keyring:signer()
  if not first then return nil, first_err end
  local limiter = limiter_for(client, keyring, action)
  local hook = settings.on_response
  local transport = scheduler.transport()
  local attempt, last_err, forced = 0, nil, false
  while true do
    local reserved = send_time(limiter, deadline)
    if not reserved then
      return nil, deadline_error(action, settings, last_err, attempt, "the rate limiter")
    end
    local timeout, deadline_cut = settings.timeout, false
    if deadline then
      local left = deadline - now()
      if left < M.MIN_ATTEMPT_TIME then
        return nil, deadline_error(action, settings, last_err, attempt, "the next attempt")
      end
      if left < timeout then timeout, deadline_cut = left, true end
    end
    local signer, cred_err = keyring:signer()
    if not signer then return nil, cred_err end
    local signed_with = keyring.credentials -- nil once a static provider is dropped
    local req = signer:sign(action, params) -- fresh nonce and timestamp
    if #req.url > M.MAX_URL_LENGTH then
      error(("%s: the request is too large for GET (a URL of %d bytes, over %d); "
        .. "use method = \"POST\" (ecs.client option)"):format(action, #req.url, M.MAX_URL_LENGTH), 0)
    end
    attempt = attempt + 1
    req.timeout, req.connect_timeout = timeout, settings.connect_timeout
    req.ca_file, req.verify_tls = settings.ca_file, settings.verify_tls
    local response = transport:request(req)

    local result, err = decode(action, params, response, response.error_code and {
      hostname = client.hostname, address = client.address, timeout = timeout,
      connect_timeout = settings.connect_timeout, deadline_cut = deadline_cut,
    })
    local delay, why
    if err then
      err.attempts = attempt
      err.retryable, err.throttled, delay, why = decide(client.retry_budget, {
        code = err.code, status = err.http_status, maybe_sent = response.maybe_sent ~= false,
        idempotent = idempotent, permanent = response.too_large, attempt = attempt,
        max_attempts = settings.max_attempts, retry_after = err.retry_after,
        time_left = deadline and deadline - now(), min_attempt = M.MIN_ATTEMPT_TIME, draw = random(),
      })
      if why == "deadline" then err.deadline_exceeded = true end
      if why == "retry budget exhausted" then err.retry_budget_exhausted = true end
      local token_refused = err.code:find("^InvalidSecurityToken%.") ~= nil
      if token_refused or err.code == "InvalidAccessKeyId.NotFound" then
        -- The service refused the credentials before acting on the request: a refreshing
        -- provider fetches anew (once, however many calls report the same credentials), and a
        -- refused token sends the call once more, at once, with the new ones.
        if keyring:refused(signed_with) and token_refused and not forced then
          forced = true
          err.retryable, delay, why = true, 0, nil
        end
      end
    else
      client.retry_budget:refund()
    end
    if response.status then
      limiter:observe(now(), err and err.throttled and "throttled" or "ok", err and err.retry_after, reserved)
    end
    local request_id = err and err.request_id or (type(result) == "table" and result.RequestId or nil)
    if hook then
      hook {
        action = action, attempt = attempt, latency = response.latency, status = response.status,
        request_id = request_id, code = err and err.code, retryable = err and err.retryable,
        throttled = err and err.throttled,
      }
    end
    if client.log then
      log.attempt(client.log, client.log_level, action, attempt, req, response, request_id, err,
        not err and "done" or delay and ("retry in %.3fs"):format(delay) or ("no retry: " .. why))
    end
    if not err then return result end
    if not delay then return nil, err end
    last_err = err
    scheduler.sleep(delay)
  end
end

--- One call through the pipeline, inside a task: returns the reply, or nil and an ecs.Error.
---@param client ecs.Client
---@param keyring table the client's signer and credentials (see client.lua)
---@param action string
---@param params? table
---@param settings ecs.CallOptions the call's options over the client's
---@param idempotent boolean whether a resend is safe even if the request arrived
---@return table|string|nil reply
---@return ecs.Error|nil err
function M.call(client, keyring, action, params, settings, idempotent)
  local deadline = settings.deadline and now() + settings.deadline
  if not client.slots:wait(deadline and deadline - now()) then
    return nil, deadline_error(action, settings, nil, 0,
      ("a concurrency slot (max_concurrency %d)"):format(client.max_concurrency))
  end
  -- Where the host can end a task from outside (nginx ends a request's light threads), the slot
  -- comes back when the task is gone, not only here.
  local guard = scheduler.guard(client.slots)
  local ok, result, err = pcall(attempts, client, keyring, action, params, settings, idempotent, deadline)
  if guard then guard.held = false end
  client.slots:post()
  if not ok then error(result, 0) end
  return result, err
end

return M
