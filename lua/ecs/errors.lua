-- One error type for what the service answers and what the network does.
-- Expected failures are returned as `nil, err`; err is one of these.
local core = require "ecs.core"

local M = {}

--- What a failed call returns as its second value (`nil, err`). tostring(err) reads
--- "Code: message (action A, HTTP 400, request R, 2 attempts)".
---@class ecs.Error
---@field code string The service's error Code, "Transport.*" (ConnectFailed, ResolveFailed, Timeout, Reset, TLS, BadResponse, ...), "DeadlineExceeded", "WaitFailed" or "WaitTimeout".
---@field message string What went wrong (the service's Message, or a description).
---@field request_id? string The service's RequestId, when a reply carried one.
---@field http_status? integer The HTTP status, when a response arrived.
---@field retryable? boolean Whether a resend could fix it (false for waiter errors).
---@field throttled? boolean Whether the service throttled the call.
---@field attempts? integer Attempts made (for a waiter: polls made).
---@field action? string The action called.
---@field host_id? string The service's HostId, when the reply carried one.
---@field recommend? string The service's Recommend (a diagnosis URL), when the reply carried one.
---@field service_code? string The code the service answered when the error was relabelled (SignatureNonceUsed, reported as Transport.Reset).
---@field retry_after? number Seconds the service asked to wait before a resend (x-acs-retry-after).
---@field deadline_exceeded? true Set when the call's deadline left no time for the next attempt.
---@field retry_budget_exhausted? true Set when the client's retry budget cut the retries short.
---@field last_states? table<string, string> For a WaitTimeout of a named waiter: the status last seen of each resource, by id ("Deleted" once gone).
local Error = {}
Error.__index = Error
M.Error = Error

function Error:__tostring()
  local parts = { ("%s: %s"):format(self.code or "Error", self.message or "") }
  local where = {}
  if self.action then where[#where + 1] = "action " .. self.action end
  if self.http_status then where[#where + 1] = "HTTP " .. self.http_status end
  if self.request_id then where[#where + 1] = "request " .. self.request_id end
  if self.attempts then
    where[#where + 1] = self.attempts .. (self.attempts == 1 and " attempt" or " attempts")
  end
  if #where > 0 then parts[#parts + 1] = " (" .. table.concat(where, ", ") .. ")" end
  return table.concat(parts)
end

--- Makes an error from fields: code, message, request_id, http_status,
--- action, retryable, attempts (and host_id, recommend, throttled, retry_after).
---@param fields table the error's fields (the table becomes the error)
---@return ecs.Error err
function M.new(fields)
  return setmetatable(fields, Error)
end

--- Whether value is an error made by this module.
---@param value any
---@return boolean
function M.is(value)
  return getmetatable(value) == Error
end

--- Where and with which limits an attempt was made, for the messages of transport errors.
---@class ecs.AttemptTarget
---@field hostname string The host name (or address) of the endpoint.
---@field address string host:port.
---@field timeout number Seconds the attempt had.
---@field connect_timeout number Seconds it had to connect.
---@field deadline_cut? boolean The call's deadline shortened the attempt's timeout.

local function seconds(v) return ("%g s"):format(v) end

-- What a transport failure means, in words: the host and port, and for a
-- timeout the limit that ran out. libcurl's own text only where it says more
-- (the TLS problem, an unexpected failure).
local function transport_message(code, c, at)
  if code == "Transport.ResolveFailed" then
    return "cannot resolve " .. at.hostname .. (c.hint and ("; " .. c.hint) or "")
  elseif code == "Transport.ConnectFailed" then
    return "cannot connect to " .. at.address
  elseif code == "Transport.Timeout" then
    local limit = at.deadline_cut and ("the time left before the call's deadline (" .. seconds(at.timeout) .. ")")
      or ("the timeout of " .. seconds(at.timeout))
    if not c.connected then
      if at.connect_timeout < at.timeout then
        limit = "the connect_timeout of " .. seconds(at.connect_timeout)
      end
      if not c.resolved then return "cannot resolve " .. at.hostname .. " within " .. limit end
      return "cannot connect to " .. at.address .. " within " .. limit
    end
    return "no complete reply from " .. at.address .. " within " .. limit
  elseif code == "Transport.Reset" then
    return "the connection to " .. at.address .. " closed before a complete reply"
  elseif code == "Transport.TLS" then
    return "TLS with " .. at.address .. " failed: " .. tostring(c.error) .. (c.hint and ("; " .. c.hint) or "")
  elseif code == "Transport.BadResponse" then
    if c.too_large then return tostring(c.error) .. " (from " .. at.address .. ")" end
    return "incomplete or malformed reply from " .. at.address
  end
  return "request to " .. at.address .. " failed: " .. tostring(c.error)
end

--- The error for a transfer that got no HTTP response (no http_status: no reply arrived).
--- Whether it is retryable is core.decide's to say.
---@param action string the action called
---@param completion table the transport's completion: error_code, error, resolved, connected, too_large
---@param at ecs.AttemptTarget where the attempt went, and its limits
---@return ecs.Error err
function M.transport(action, completion, at)
  local code = completion.error_code
  return M.new { code = code, message = transport_message(code, completion, at), action = action }
end

M.MAX_RETRY_AFTER = core.MAX_RETRY_AFTER -- seconds: the longest server hint honoured

--- The server's x-acs-retry-after hint (milliseconds) in seconds, at most MAX_RETRY_AFTER; nil
--- when absent or not a plain number (a hint that cannot be read is ignored, never raised).
---@param head? string the raw header block
---@return number|nil seconds
function M.retry_after(head)
  if not head then return nil end
  local digits = head:match("\n[Xx]%-[Aa][Cc][Ss]%-[Rr][Ee][Tt][Rr][Yy]%-[Aa][Ff][Tt][Ee][Rr]:[ \t]*(%d+)[ \t]*\r?\n")
  if not digits then return nil end
  if #digits > 9 then return nil end -- not a hint anyone meant
  return math.min(tonumber(digits) / 1000, M.MAX_RETRY_AFTER)
end

local function snippet(body)
  body = body:gsub("%s+", " ")
  if #body > 120 then body = body:sub(1, 120) .. "..." end
  return body
end

-- A string field of a reply, or nil.
local function text(v)
  return type(v) == "string" and v or nil
end

--- The error for an HTTP response: a service error when `decoded` (the JSON body) has a Code,
--- else a Transport.BadResponse. A 2xx whose body could not be read is a BadResponse too;
--- since the request did arrive, core.decide resends that only for an idempotent call.
---@param action string the action called
---@param status integer the HTTP status
---@param head? string the raw header block (for x-acs-retry-after)
---@param body string the response body
---@param decoded any the body decoded as JSON, or nil when it was not JSON
---@return ecs.Error err
function M.response(action, status, head, body, decoded)
  local err
  if type(decoded) == "table" and type(decoded.Code) == "string" then
    err = M.new {
      code = decoded.Code,
      message = text(decoded.Message) or "",
      request_id = text(decoded.RequestId),
      host_id = text(decoded.HostId),
      recommend = text(decoded.Recommend),
      http_status = status,
      action = action,
    }
    if err.code == "SignatureNonceUsed" then
      -- Every attempt has a fresh nonce, so the service saw this very request
      -- twice: the HTTP library resent it after the connection broke without
      -- a reply. The first copy may have taken effect: report the broken
      -- connection, as if no reply had come (no HTTP status).
      err.service_code, err.code, err.http_status = err.code, "Transport.Reset", nil
      err.message = "the connection closed after the request was sent, before its reply"
    end
  else
    err = M.new {
      code = "Transport.BadResponse",
      message = ("HTTP %d with a body that is not an ECS reply: %s"):format(status, snippet(body)),
      http_status = status,
      action = action,
    }
  end
  err.retry_after = M.retry_after(head)
  return err
end

return M
