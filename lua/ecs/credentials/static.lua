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
--   provider:invalidate([refused])   the service refused the credentials: fetch
--                           anew (refused: the credentials table the refused
--                           request was signed with; a report about credentials
--                           already replaced changes nothing)
--   provider.source         what to name in tostring(client) ("explicit", ...)
--   provider.static         true when get() never changes: the client keys its
--                           signer once and drops the provider, so the secret
--                           stays only in C memory
--   provider.refreshing     true when get() fetches (credentials/refresh.lua):
--                           it does so only inside a task, on first use
local M = {}

local Static = {}
Static.__index = Static

--- The credentials, always the same table.
---@return ecs.Credentials credentials
function Static:get() return self.credentials end

--- Static credentials cannot be fetched anew.
---@param refused? ecs.Credentials
---@return nil
function Static:invalidate(refused) end -- luacheck: ignore 212

function Static:__tostring()
  return "ecs.credentials.static (" .. tostring(self.source) .. ")"
end

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

--- A provider of fixed credentials from a table: access_key_id, access_key_secret and, for
--- temporary ones, security_token. Raises naming a missing or bad field (never its value).
---@param opts {access_key_id: string, access_key_secret: string, security_token?: string, source?: string}
---@return ecs.CredentialsProvider
function M.from(opts)
  if type(opts) ~= "table" then error("static: expected { access_key_id = ..., access_key_secret = ... }", 2) end
  for _, name in ipairs { "access_key_id", "access_key_secret", "security_token" } do
    local v = opts[name]
    if (v ~= nil or name ~= "security_token") and (type(v) ~= "string" or v == "") then
      error(name .. ": expected a non-empty string", 2)
    end
    if name ~= "access_key_secret" and v and v:find("[\r\n%z]") then
      error(name .. ": must not contain CR, LF or NUL", 2)
    end
  end
  if opts.source ~= nil and type(opts.source) ~= "string" then error("source: expected a string", 2) end
  return M.new(opts.access_key_id, opts.access_key_secret, opts.security_token, opts.source or "static")
end

return M
