-- The instance metadata service (IMDS) of an ECS instance with a RAM role, and a credentials URI,
-- on the emulator's port:
--   PUT /latest/api/token (X-aliyun-ecs-metadata-token-ttl-seconds: 1..21600) -> a session token
--   GET /latest/meta-data/ram/security-credentials/ -> the role name (404 when none is attached)
--   GET /latest/meta-data/ram/security-credentials/<role> -> the role's temporary keys (JSON)
--   GET /__emulator/credentials-uri -> temporary keys (JSON), for ALIBABA_CLOUD_CREDENTIALS_URI
-- The GETs of the metadata service need X-aliyun-ecs-metadata-token unless the imdsv1 setting
-- allows them without; a wrong or expired token is 401. The keys are the emulator's temporary
-- keys (emu.tempkeys). Faults apply when they name "metadata" (or "credentials-uri") or the path.
local conf = require "emu.conf"
local faults = require "emu.faults"
local respond = require "emu.respond"
local stats = require "emu.stats"
local tempkeys = require "emu.tempkeys"
local util = require "emu.util"

local ngx = ngx
local sub, floor = string.sub, math.floor
local M = {}

local TOKEN_PATH = "/latest/api/token"
local CREDS = "/latest/meta-data/ram/security-credentials"
local URI_PATH = "/__emulator/credentials-uri"
local MAX_TTL = 21600
-- lifetime of the keys handed out, unless the sts_lifetime setting says otherwise
local IMDS_LIFETIME, URI_LIFETIME = 21600, 3600

local TEXT, JSON = "text/plain", "application/json"

local function keys_json(c, extra)
  local t = { AccessKeyId = c.AccessKeyId, AccessKeySecret = c.AccessKeySecret,
    SecurityToken = c.SecurityToken, Expiration = c.Expiration, Code = "Success" }
  for k, v in pairs(extra or {}) do t[k] = v end
  return util.json(t)
end

-- status, body, content type
local function imds(method, path, settings)
  if path == TOKEN_PATH then
    if method ~= "PUT" then return 405, "Method Not Allowed: the token is made by PUT\n", TEXT end
    local ttl = tonumber(ngx.var.http_x_aliyun_ecs_metadata_token_ttl_seconds)
    if not ttl or ttl % 1 ~= 0 or ttl < 1 or ttl > MAX_TTL then
      return 400, "Bad Request: X-aliyun-ecs-metadata-token-ttl-seconds must be 1.." .. MAX_TTL .. "\n", TEXT
    end
    return 200, tempkeys.metadata_token(ttl), TEXT
  end
  if method ~= "GET" then return 405, "Method Not Allowed\n", TEXT end
  local token = ngx.var.http_x_aliyun_ecs_metadata_token
  if token then
    if not tempkeys.metadata_token_valid(token) then return 401, "Unauthorized\n", TEXT end
  elseif settings.imdsv1 == false then
    return 401, "Unauthorized: X-aliyun-ecs-metadata-token is required (imdsv1 is off)\n", TEXT
  else
    stats.metadata_tokenless()
  end
  if sub(path, 1, #CREDS) ~= CREDS then return 404, "Not Found\n", TEXT end
  local rest = sub(path, #CREDS + 1)
  local role = settings.role_name or ""
  if rest == "" or rest == "/" then
    if role == "" then return 404, "Not Found\n", TEXT end
    return 200, role, TEXT
  end
  local name = rest:match("^/([^/]+)/?$")
  if role == "" or name ~= role then return 404, "Not Found\n", TEXT end
  local c = tempkeys.current("imds", IMDS_LIFETIME)
  return 200, keys_json(c, { LastUpdated = c.LastUpdated }), JSON
end

local function credentials_uri(method)
  if method ~= "GET" then return 405, "Method Not Allowed\n", TEXT end
  return 200, keys_json(tempkeys.current("uri", URI_LIFETIME)), JSON
end

function M.handle()
  local path = ngx.var.uri
  local method = ngx.req.get_method()
  local is_uri = path == URI_PATH
  local name = is_uri and "credentials-uri" or "metadata"
  if is_uri then stats.credentials_uri() else stats.metadata(path) end
  stats.remember(name, { params = { path = path,
    ttl = ngx.var.http_x_aliyun_ecs_metadata_token_ttl_seconds,
    token = ngx.var.http_x_aliyun_ecs_metadata_token and "present" or "absent" },
    method = method, signature_version = "none", time = ngx.now() })
  local settings_all = conf.get()
  local r = {}
  local ok, status, body, ctype = pcall(function()
    if settings_all.has_faults then
      local f = faults.pick(path, settings_all.faults, true, name)
      if f then
        faults.apply(f, r)
        if r.drop then return end
      end
    end
    if is_uri then return credentials_uri(method) end
    return imds(method, path, settings_all.settings)
  end)
  if r.drop then return ngx.exit(444) end
  if not ok then
    local e = status
    if not respond.is_err(e) then
      ngx.log(ngx.ERR, "emulator: ", tostring(e))
      e = respond.err(500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.")
    end
    status = e.status
    body, ctype = respond.error_body(e, util.request_id(), false)
  end
  if r.drop_after then return ngx.exit(444) end
  ngx.status = status
  ngx.header["Content-Type"] = ctype
  ngx.header["Content-Length"] = #body
  if r.truncate then
    ngx.print(sub(body, 1, floor(#body / 2)))
    ngx.flush(true)
    return ngx.exit(444)
  end
  ngx.print(body)
end

return M
