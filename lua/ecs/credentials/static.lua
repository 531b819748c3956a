-- The static credentials provider: a key pair (and an STS token) that never
-- changes. The first provider of the chain (ecs.credentials); the environment
-- and the CLI profile end in one too.
--
-- The provider interface (what the request pipeline asks of any provider):
--   provider:get() -> credentials | nil, err   (may yield while it fetches)
--       credentials = { access_key_id, access_key_secret, security_token,
--                       expiration (epoch seconds, or nil: never) }
--       the same table while the credentials are unchanged: a new table
--       makes the client re-key its signer
--   provider:invalidate()   the service refused the credentials: fetch anew
--   provider.source         what to name in tostring(client) ("explicit", ...)
--   provider.static         true when get() never changes: the client keys its
--                           signer once and drops the provider, so the secret
--                           stays only in C memory
local M = {}

local Static = {}
Static.__index = Static

--- The credentials, always the same table.
---@return ecs.Credentials credentials
function Static:get() return self.credentials end

--- Static credentials cannot be fetched anew.
---@return nil
function Static:invalidate() end

--- A provider of fixed credentials.
---@param access_key_id string
---@param access_key_secret string
---@param security_token? string
---@param source string what tostring(client) names as the credentials' origin
---@return ecs.CredentialsProvider
function M.new(access_key_id, access_key_secret, security_token, source)
  return setmetatable({
    credentials = { access_key_id = access_key_id, access_key_secret = access_key_secret,
                    security_token = security_token },
    source = source,
    static = true,
  }, Static)
end

return M
