-- The debug log: a client's `log` function, or stderr when ECS_DEBUG is 1 or 2.
-- One line per attempt; level 2 adds the parameters as sent and the reply.
-- Values that could authenticate a request are masked.
local M = {}

--- Writes a line to stderr.
---@param line string
---@return nil
function M.stderr(line) io.stderr:write(line, "\n") end

--- The log function and level of a client: `opts.log`, else stderr when ECS_DEBUG is 1 or 2
--- (false when neither); the level from `opts.log_level`, else ECS_DEBUG, else 1.
---@param opts table the client's options
---@param getenv? fun(name: string): string|nil
---@return (fun(line: string))|false log
---@return integer level
function M.setup(opts, getenv)
  local level = tonumber((getenv or os.getenv)("ECS_DEBUG") or "")
  level = level and level >= 1 and math.min(math.floor(level), 2) or nil
  local log = opts.log or (level and M.stderr)
  if not log then return false, 0 end
  return log, opts.log_level or level or 1
end

--- An AccessKeyId shortened: enough to tell keys apart, not the whole id.
---@param id string
---@return string
function M.mask(id)
  if #id <= 8 then return "****" end
  return id:sub(1, 4) .. "****" .. id:sub(-4)
end

local MASKED = { Signature = true, SecurityToken = true }

--- A query string or form body with what could authenticate a request masked: the
--- `Signature` and `SecurityToken` values as `****`, the `AccessKeyId` shortened (log.mask).
---@param query string "k=v&k2=v2", as sent (percent-encoded)
---@return string masked
function M.mask_query(query)
  local out = {}
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if MASKED[k] then v = "****" elseif k == "AccessKeyId" then v = M.mask(v) end
    out[#out + 1] = k .. "=" .. v
  end
  return table.concat(out, "&")
end

--- A copy of a signed request (client:prepare) that can be shown: the query and form body
--- masked as by mask_query, the v3 Authorization header's Credential shortened and its
--- Signature masked, the x-acs-security-token header masked.
---@param req ecs.PreparedRequest
---@return ecs.PreparedRequest masked
function M.mask_request(req)
  local base, query = req.url:match("^([^?]*)%?(.*)$")
  local headers = {}
  for name, value in pairs(req.headers or {}) do
    local lower = name:lower()
    if lower == "x-acs-security-token" then
      value = "****"
    elseif lower == "authorization" then
      value = value:gsub("Credential=([^,%s]+)", function(id) return "Credential=" .. M.mask(id) end)
        :gsub("Signature=[^,%s]+", "Signature=****")
    end
    headers[name] = value
  end
  local body = req.body
  if body and body ~= "" then body = M.mask_query(body) end
  return { method = req.method, url = base and (base .. "?" .. M.mask_query(query)) or req.url,
    headers = headers, body = body }
end

-- The parameters of a signed request, with the signature and token masked.
local function sent_params(req)
  local query = req.body
  if not query or query == "" then query = req.url:match("%?(.*)$") or "" end
  return M.mask_query(query)
end

M.BODY_BYTES = 8192 -- of a reply, shown at level 2

--- The lines of one attempt: action, attempt, HTTP status, latency, request id, error code and
--- the retry decision; at level 2 the parameters as sent and the reply body.
---@param log fun(line: string)
---@param level integer
---@param action string
---@param attempt integer
---@param req table the signed request
---@param response table the transport's completion
---@param request_id? string
---@param err? ecs.Error
---@param decision string "done", "retry in 0.123s" or "no retry: <why>"
---@return nil
function M.attempt(log, level, action, attempt, req, response, request_id, err, decision)
  log(("ecs: %s attempt=%d status=%s latency=%s request_id=%s code=%s -> %s"):format(
    action, attempt, tostring(response.status or "-"),
    response.latency and ("%.1fms"):format(response.latency * 1000) or "-",
    tostring(request_id or "-"), err and err.code or "-", decision))
  if level >= 2 then
    log("ecs:   sent " .. req.method .. " " .. sent_params(req))
    local body = response.body
    if body then
      if #body > M.BODY_BYTES then body = body:sub(1, M.BODY_BYTES) .. ("... (%d bytes)"):format(#body) end
      log("ecs:   reply " .. body)
    end
  end
end

--- The warning that verify_tls = false leaves the connection unauthenticated.
---@param log (fun(line: string))|false the client's log (stderr when false)
---@param endpoint string
---@return nil
function M.unverified(log, endpoint)
  local write = log or M.stderr
  write(("ecs: warning: verify_tls = false: the connection to %s is encrypted but not "
    .. "authenticated (anyone on the path can read and change it)"):format(endpoint))
end

return M
