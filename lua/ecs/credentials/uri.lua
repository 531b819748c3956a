-- Credentials from a URL that serves them (ALIBABA_CLOUD_CREDENTIALS_URI; a sidecar, a vault
-- agent): GET it, JSON { Code = "Success", AccessKeyId, AccessKeySecret, SecurityToken,
-- Expiration }. Refreshed ahead of Expiration like every temporary credential.
local errors = require "ecs.errors"
local http = require "ecs.credentials.http"
local refresh = require "ecs.credentials.refresh"
local sts = require "ecs.credentials.sts"

local M = {}

M.ENV_URI = "ALIBABA_CLOUD_CREDENTIALS_URI"
M.TIMEOUT, M.CONNECT_TIMEOUT = 10, 5
local ACTION = "credentials URI"

--- A provider of the credentials a URL serves.
---@class ecs.UriProvider: ecs.RefreshingProvider
---@field url string
local Uri = refresh.class({})
M.Uri = Uri

--- Fetches the credentials the URL serves.
---@return table|nil fields
---@return ecs.Error|nil err
function Uri:fetch()
  local t = self.transfer
  local response, err = http.request({
    method = "GET", url = self.url, headers = { accept = "application/json" },
    timeout = t.timeout, connect_timeout = t.connect_timeout, ca_file = t.ca_file, verify_tls = t.verify_tls,
  }, ACTION)
  if not response then return nil, err end
  if response.status ~= 200 then return nil, http.reply_error(ACTION, response) end
  local decoded = http.decode_object(response.body)
  if not decoded then return nil, http.reply_error(ACTION, response) end
  if decoded.Code ~= nil and decoded.Code ~= "Success" then
    return nil, errors.new { code = "Credentials.URIRefused", action = ACTION, http_status = response.status,
      message = ("%s answered Code %s"):format(self.url_shown,
        type(decoded.Code) == "string" and decoded.Code or "(not a string)") }
  end
  return http.credential_fields(decoded, ACTION, response.status, false, refresh.parse_time)
end

--- A provider of the credentials served at a URL.
--- opts: url (else ALIBABA_CLOUD_CREDENTIALS_URI), timeout (10), connect_timeout (5), ca_file,
--- verify_tls, clock, getenv.
---@param opts? table
---@return ecs.UriProvider
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("uri: expected a table of options", 2) end
  opts = opts or {}
  local url, what = opts.url, "url"
  if url == nil then url, what = (opts.getenv or os.getenv)(M.ENV_URI), M.ENV_URI end
  if type(url) ~= "string" or url == "" then error(("%s: required (a URL)"):format(what), 2) end
  local parts, why = http.parse_url(url)
  if not parts then error(("%s: %s"):format(what, why), 2) end
  -- The query may carry a token: messages show the URL without it.
  local shown = parts.scheme .. "://" .. parts.host .. (parts.path:match("^[^?#]*"))
  return refresh.init(setmetatable({
    url = url,
    url_shown = shown,
    transfer = sts.transfer_options(opts, M.TIMEOUT, M.CONNECT_TIMEOUT),
  }, Uri), "uri " .. shown, opts.clock)
end

return M
