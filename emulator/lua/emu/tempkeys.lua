-- Temporary credentials the emulator issues (STS AssumeRole*, the metadata service, the
-- credentials URI), kept in the shared dict emu_sts so that every worker accepts them:
-- AccessKeyId -> secret, SecurityToken, expiry. Also the metadata service's session tokens and
-- the pair it currently hands out. Cleared by POST /__emulator/reset.
local cjson = require "cjson.safe"
local conf = require "emu.conf"
local util = require "emu.util"

local ngx = ngx
local dict = ngx.shared.emu_sts
local random, ceil, floor = math.random, math.ceil, math.floor
local sub, concat = string.sub, table.concat
local M = {}

-- an expired key stays known this long after its expiry (InvalidSecurityToken.Expired, not
-- InvalidAccessKeyId.NotFound)
local KEEP = 86400

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local B64 = ALNUM .. "+/"
local function rand(n, alphabet)
  local t, m = {}, #alphabet
  for i = 1, n do
    local k = random(1, m)
    t[i] = sub(alphabet, k, k)
  end
  return concat(t)
end

-- the lifetime of a key asked for `requested` seconds: the sts_lifetime setting when set
function M.lifetime(requested)
  local s = tonumber(conf.get().settings.sts_lifetime)
  if s and s > 0 then return s end
  return requested
end

-- A new key pair valid `lifetime` seconds from now. Its expiry is rounded up to the whole second
-- that Expiration shows; from that second on the key is refused. Returns { AccessKeyId,
-- AccessKeySecret, SecurityToken, Expiration, expires (epoch seconds), issued (epoch) }.
function M.issue(lifetime)
  local now = ngx.now()
  local expires = ceil(now + lifetime)
  -- shapes of the service's: STS. + 25 characters, a 44-character secret, a long base64 token
  -- (with + and /, which signers must percent-encode)
  local id = "STS." .. rand(25, ALNUM)
  local secret = rand(44, ALNUM)
  local token = "CAIS" .. rand(300, B64) .. "="
  dict:set("k|" .. id, secret .. "\n" .. token .. "\n" .. expires, expires - now + KEEP)
  return { AccessKeyId = id, AccessKeySecret = secret, SecurityToken = token,
    Expiration = util.iso8601(expires), expires = expires, issued = now }
end

-- secret, token and expiry (epoch seconds) of an issued key, or nil
function M.lookup(id)
  local v = dict:get("k|" .. id)
  if not v then return nil end
  local secret, token, expires = v:match("^([^\n]*)\n([^\n]*)\n(%d+)$")
  return secret, token, tonumber(expires)
end

-- ---------------------------------------------------------------- metadata service
-- A session token for the metadata service, valid ttl seconds.
function M.metadata_token(ttl)
  local token = rand(56, ALNUM)
  dict:set("t|" .. token, true, ttl)
  return token
end

function M.metadata_token_valid(token)
  return token ~= "" and dict:get("t|" .. token) == true
end

-- The pair a credential endpoint hands out (slot: "imds" or "uri"): the current one while more
-- than half of its lifetime remains (the service rotates them ahead of expiry), else a new one.
-- Adds LastUpdated (when the pair was issued).
function M.current(slot, lifetime)
  local now = ngx.now()
  local cur = cjson.decode(dict:get("s|" .. slot) or "null")
  if type(cur) == "table" and cur.expires - now > (cur.expires - cur.issued) / 2 then return cur end
  cur = M.issue(M.lifetime(lifetime))
  cur.LastUpdated = util.iso8601(floor(cur.issued))
  dict:set("s|" .. slot, cjson.encode(cur))
  return cur
end

-- the pairs handed out by the metadata service and the credentials URI are issued anew
-- (after a change of lifetime or role)
function M.forget_current()
  dict:delete("s|imds")
  dict:delete("s|uri")
end

-- Expires every key issued so far, now (POST /__emulator/expire-keys): ECS actions refuse them
-- with InvalidSecurityToken.Expired although their Expiration is still ahead, as when the
-- service revokes them early; the metadata service and the credentials URI issue new pairs.
-- Returns how many keys were still valid.
function M.expire_all()
  local now = floor(ngx.now())
  local n = 0
  for _, k in ipairs(dict:get_keys(0)) do
    if sub(k, 1, 2) == "k|" then
      local v = dict:get(k)
      local secret, token, expires = (v or ""):match("^([^\n]*)\n([^\n]*)\n(%d+)$")
      if secret and tonumber(expires) > now then
        dict:set(k, secret .. "\n" .. token .. "\n" .. now, KEEP)
        n = n + 1
      end
    end
  end
  M.forget_current()
  return n
end

-- every key, metadata token and current pair (POST /__emulator/reset)
function M.clear() dict:flush_all() end

return M
