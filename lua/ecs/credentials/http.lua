-- HTTP for the providers that fetch: one request over the running task's transport (the task
-- yields until the reply; the loop never blocks), and the checks and errors around it. Nothing
-- here ever puts a reply body that may hold a secret into an error.
local core = require "ecs.core"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"
local json = require("cjson.safe").new()

local M = {}

M.USER_AGENT = "lua-ecs/" .. core.version

--- A URL's parts: scheme, host (with the port), hostname, address (host:port) and path; nil and
--- a reason when it is not an http(s) URL.
---@param url string
---@return {scheme: string, host: string, hostname: string, address: string, path: string}|nil parts
---@return string|nil reason
function M.parse_url(url)
  if type(url) ~= "string" then return nil, "expected a URL string" end
  local scheme, host, path = url:match("^(%a[%w+.-]*)://([^/?#]+)(.*)$")
  if not scheme then return nil, "not a URL (expected http://host[:port]/...)" end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return nil, "expected an http or https URL" end
  if host:find("@", 1, true) then return nil, "credentials in a URL are not accepted" end
  if url:find("[%s%c]") then return nil, "a URL must not contain spaces or control characters" end
  local hostname = host:match("^(%[.-%])") or host:match("^[^:]+")
  local address = host:find(":%d+$") and not host:find("^%[.*%]$") and host
    or (host .. ":" .. (scheme == "https" and 443 or 80))
  return { scheme = scheme, host = host, hostname = hostname, address = address,
           path = path ~= "" and path or "/" }
end

--- A full endpoint URL from an option: a URL as given (without a trailing slash), a bare host
--- name with `default_scheme`. Raises naming `what` when it is neither.
---@param value string
---@param what string the option's name, for the error
---@param default_scheme? string "https" unless given
---@return string url
---@return {scheme: string, host: string, hostname: string, address: string, path: string} parts
function M.endpoint(value, what, default_scheme)
  if type(value) ~= "string" or value == "" then error(what .. ": expected a URL or a host name", 3) end
  local url = value
  if not url:find("://", 1, true) then url = (default_scheme or "https") .. "://" .. url end
  url = url:gsub("/+$", "")
  local parts, why = M.parse_url(url)
  if not parts then error(("%s: %s (got %q)"):format(what, why, value), 3) end
  return url, parts
end

--- Sends one request from the running task and waits for its reply (the task yields). Returns
--- the transport's response ({ status, head, body, latency }) or nil and a Transport.* error
--- naming `action`. Raises outside a task.
---@param req {method: string, url: string, headers?: table<string, string>, body?: string, timeout: number, connect_timeout: number, ca_file?: string, verify_tls?: boolean}
---@param action string what the request is, for errors ("AssumeRole", "ECS metadata", ...)
---@return table|nil response
---@return ecs.Error|nil err
function M.request(req, action)
  local task = scheduler.current()
  if not task or not scheduler.isyieldable() then
    error("credentials: a fetch must run inside a task, where it can wait", 2)
  end
  local headers = req.headers or {}
  if not headers["user-agent"] then headers["user-agent"] = M.USER_AGENT end
  req.headers = headers
  local response = scheduler.transport():request(req)
  if response.error_code then
    local parts = M.parse_url(req.url) or { hostname = req.url, address = req.url }
    return nil, errors.transport(action, response, {
      hostname = parts.hostname, address = parts.address, timeout = req.timeout,
      connect_timeout = req.connect_timeout,
    })
  end
  return response
end

--- A reply body decoded as a JSON object, or nil when it is not one.
---@param body string
---@return table|nil
local function decode_object(body)
  if type(body) ~= "string" or not body:find("^%s*{") then return nil end
  local decoded = json.decode(body)
  if type(decoded) ~= "table" then return nil end
  return decoded
end
M.decode_object = decode_object

--- The error of a reply that is not a success: the service's Code and Message when the body is
--- a JSON error, else Transport.BadResponse naming the status. `scrub` lists strings (tokens)
--- that must not appear in the message. A 2xx body is never quoted (it may hold credentials).
---@param action string
---@param response table the transport's response
---@param scrub? string[] strings to mask in the message
---@return ecs.Error err
function M.reply_error(action, response, scrub)
  local status, body = response.status, response.body or ""
  local err
  local decoded = status >= 300 and decode_object(body) or nil
  if decoded and type(decoded.Code) == "string" then
    err = errors.response(action, status, response.head, body, decoded)
  elseif status >= 200 and status < 300 then
    err = errors.new { code = "Transport.BadResponse", action = action, http_status = status,
      message = ("HTTP %d with a reply that is not what %s gives"):format(status, action) }
  else
    err = errors.response(action, status, response.head, body, nil)
  end
  for _, secret in ipairs(scrub or {}) do
    if type(secret) == "string" and #secret >= 4 then
      local once = core.percent_encode(secret)
      -- as sent, as in a query, and as in a string-to-sign (encoded twice)
      for _, form in ipairs { secret, once, core.percent_encode(once) } do
        local from = 1
        while true do
          local i, j = err.message:find(form, from, true)
          if not i then break end
          err.message = err.message:sub(1, i - 1) .. "****" .. err.message:sub(j + 1)
          from = i + 4
        end
      end
    end
  end
  return err
end

--- Reads `fields` (AccessKeyId, AccessKeySecret, SecurityToken, Expiration) of a decoded reply
--- into credential fields, or nil and a BadResponse naming what is missing (never a value).
---@param t table the object holding the credentials
---@param action string
---@param status integer
---@param token_required boolean whether SecurityToken must be there
---@param parse_time fun(text: string): number|nil
---@return {access_key_id: string, access_key_secret: string, security_token: string|nil, expiration: number|nil}|nil fields
---@return ecs.Error|nil err
function M.credential_fields(t, action, status, token_required, parse_time)
  local function bad(what)
    return nil, errors.new { code = "Transport.BadResponse", action = action, http_status = status,
      message = ("the reply of %s %s"):format(action, what) }
  end
  local function text(v) return type(v) == "string" and v ~= "" and v or nil end
  local id, secret, token = text(t.AccessKeyId), text(t.AccessKeySecret), text(t.SecurityToken)
  if not id or not secret then return bad("lacks AccessKeyId or AccessKeySecret") end
  if token_required and not token then return bad("lacks SecurityToken") end
  for _, v in ipairs { id, token or "" } do
    if v:find("[\r\n%z]") then return bad("holds a credential with CR, LF or NUL") end
  end
  local expiration
  if t.Expiration ~= nil and t.Expiration ~= json.null and t.Expiration ~= "" then
    expiration = parse_time(t.Expiration)
    if not expiration then return bad("has an Expiration that is not an ISO 8601 time") end
  end
  return { access_key_id = id, access_key_secret = secret, security_token = token, expiration = expiration }
end

return M
