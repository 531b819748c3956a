-- ecs.client: options, credentials and endpoint of one account and region,
-- and the signing of requests for it.
local core = require "ecs.core"
local credentials = require "ecs.credentials"
local endpoints = require "ecs.endpoints"
local util = require "ecs.util"

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
}
local OPTION_HINTS = {
  signature_version = "'v1' or 'v3'",
  method = "'GET' or 'POST'",
}

local function check_options(opts)
  if type(opts) ~= "table" then
    error("ecs.client: expected an options table", 3)
  end
  for name, value in pairs(opts) do
    local check = OPTIONS[name]
    if not check then
      local hint = type(name) == "string" and util.closest(name, util.sorted_keys(OPTIONS))
      error(("%s: unknown option of ecs.client%s"):format(tostring(name),
        hint and ("; did you mean " .. hint .. "?") or ""), 3)
    end
    if not check(value) then
      error(("%s: invalid value (expected %s)"):format(name,
        OPTION_HINTS[name] or "a non-empty string"), 3)
    end
  end
end

--- Creates a client. See README for the options.
function M.new(opts, getenv)
  opts = opts or {}
  check_options(opts)
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
  }, Client)
  secrets[self] = creds
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

--- Signs a request without sending it.
--- pin = { timestamp = "2016-02-23T12:46:24Z" or epoch seconds, nonce = "..." }
--- pins the otherwise fresh values (tests, presigned URLs).
--- Returns { method, url, headers, body }, and the string that was signed.
function Client:prepare(action, params, pin)
  if getmetatable(self) ~= Client then
    error("prepare: call it as client:prepare(action, params)", 2)
  end
  if type(action) ~= "string" or not action:match("^%a%w*$") then
    error("action: expected an ECS action name such as 'DescribeInstances'", 2)
  end
  if params ~= nil and type(params) ~= "table" then
    error("params: expected a table of parameters", 2)
  end
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
  local creds = secrets[self]
  local ok, req, string_to_sign = pcall(core.sign, {
    version = self.signature_version,
    method = self.method,
    endpoint = self.endpoint,
    host = self.host,
    action = action,
    api_version = self.api_version,
    access_key_id = creds.access_key_id,
    access_key_secret = creds.access_key_secret,
    security_token = creds.security_token,
    timestamp = timestamp,
    nonce = nonce,
    params = params,
  })
  if not ok then error(req, 2) end
  req.headers["user-agent"] = self.user_agent
  return req, string_to_sign
end

return M
