-- Credentials from the environment: ALIBABA_CLOUD_ACCESS_KEY_ID and
-- ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS).
local static = require "ecs.credentials.static"

local M = {}

M.ID, M.SECRET, M.TOKEN = "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
  "ALIBABA_CLOUD_SECURITY_TOKEN"

local function nonempty(v)
  if v == nil or v == "" then return nil end
  return v
end

--- The environment's credentials as a provider, or nil when the key pair is not set.
---@param getenv fun(name: string): string|nil
---@return ecs.CredentialsProvider|nil
function M.provider(getenv)
  local id, secret = nonempty(getenv(M.ID)), nonempty(getenv(M.SECRET))
  if not (id and secret) then return nil end
  return static.new(id, secret, nonempty(getenv(M.TOKEN)), "environment")
end

--- The environment's credentials as a provider (ecs.credentials.environment()); raises when
--- ALIBABA_CLOUD_ACCESS_KEY_ID or ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set.
---@param opts? {getenv?: fun(name: string): string|nil}
---@return ecs.CredentialsProvider
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("environment: expected nothing or a table", 2) end
  local found = M.provider((opts and opts.getenv) or os.getenv)
  if not found then error(("environment: %s and %s are not both set"):format(M.ID, M.SECRET), 2) end
  return found
end

return M
