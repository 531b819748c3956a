-- A naive client for comparison with client:call: the same signing
-- (client:prepare) and the same libcurl transport, but no rate limiter, no
-- retry budget, no shared retry-after: each call on its own retries whatever
-- core.classify calls retryable, after core.backoff(attempt, throttled) (full
-- jitter, 100 ms base, 1 s after a throttle, capped at 20 s), the "plain
-- retry" of most SDKs.
--
-- Why not client:call{ adaptive = false }: that still has a limiter. With no
-- rate configured it sends at once, but observe() honours every
-- x-acs-retry-after hint for all tasks of the (endpoint, region, key, action)
-- (not_before), and the client's retry budget stops retries after about 100
-- (500 tokens, 5 a retry, 1 back per success). It is neither "no limiter" nor
-- "plain retry".
--
--   local naive = require "bench.naive"
--   local res, err = naive.call(client, action, params, { max_attempts = 20, on_response = fn })
-- Inside ecs.run only. err = { code, status, attempts }.
local core = require "ecs.core"
local scheduler = require "ecs.scheduler"
local cjson = require("cjson.safe")

local M = {}

local function idempotent(action, params)
  return action:find("^Describe") ~= nil or action:find("^List") ~= nil
    or (params ~= nil and params.ClientToken ~= nil)
end

function M.call(client, action, params, opts)
  opts = opts or {}
  local max_attempts = opts.max_attempts or 20
  local hook = opts.on_response
  local task = assert(scheduler.current(), "naive.call: inside ecs.run only")
  local transport = scheduler.transport()
  local function on_done(response) scheduler.wake(task, response) end
  local safe = idempotent(action, params)
  local attempt = 0
  while true do
    attempt = attempt + 1
    local req = client:prepare(action, params)
    req.timeout, req.connect_timeout = opts.timeout or client.timeout, client.connect_timeout
    transport:submit(req, on_done)
    local response = scheduler.suspend()
    local code, status = response.error_code, response.status
    local decoded
    if not code then
      decoded = cjson.decode(response.body)
      if status >= 200 and status < 300 and type(decoded) == "table" then
        if hook then hook { action = action, attempt = attempt, status = status } end
        return decoded
      end
      code = type(decoded) == "table" and type(decoded.Code) == "string" and decoded.Code
        or "Transport.BadResponse"
    end
    local retryable, throttled = core.classify(code, status, response.error_code == nil
      or response.maybe_sent, safe)
    if hook then
      hook { action = action, attempt = attempt, status = status, code = code,
        retryable = retryable, throttled = throttled }
    end
    if not retryable or attempt >= max_attempts then
      return nil, { code = code, status = status, attempts = attempt }
    end
    scheduler.sleep(core.backoff(attempt, throttled))
  end
end

return M
