-- One error type for what the service answers and what the network does.
-- Expected failures are returned as `nil, err`; err is one of these.
local core = require "ecs.core"

local M = {}

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
function M.new(fields)
  return setmetatable(fields, Error)
end

function M.is(value)
  return getmetatable(value) == Error
end

local function classify(err, maybe_sent, idempotent)
  err.retryable, err.throttled = core.classify(err.code, err.http_status, maybe_sent, idempotent)
  return err
end

--- The error for a transfer that got no HTTP response.
function M.transport(action, completion, idempotent)
  return classify(M.new {
    code = completion.error_code,
    message = completion.error,
    action = action,
    http_status = completion.status,
  }, completion.maybe_sent, idempotent)
end

local function snippet(body)
  body = body:gsub("%s+", " ")
  if #body > 120 then body = body:sub(1, 120) .. "..." end
  return body
end

--- The error for an HTTP response (head: its raw header block): `decoded` is the JSON body when it was
--- JSON. A 2xx whose body could not be read is a BadResponse too; since the
--- request did arrive, that is resent only for an idempotent call.
local function text(v)
  return type(v) == "string" and v or nil
end

function M.response(action, status, head, body, decoded, idempotent)
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
      -- twice: libcurl resent it after the connection broke without a reply.
      -- The first copy may have taken effect; treat it as the broken connection.
      err.service_code, err.code = err.code, "Transport.Reset"
      err.message = "the connection broke after the request was sent (the service then "
        .. "refused libcurl's resend: SignatureNonceUsed)"
    end
  else
    err = M.new {
      code = "Transport.BadResponse",
      message = ("HTTP %d with a body that is not an ECS reply: %s"):format(status, snippet(body)),
      http_status = status,
      action = action,
    }
  end
  local retry_after = head and tonumber(head:lower():match("\nx%-acs%-retry%-after:%s*(%d+)"))
  if retry_after then err.retry_after = retry_after / 1000 end
  return classify(err, true, idempotent)
end

return M
