-- STS, API version 2015-04-01: AssumeRole and AssumeRoleWithOIDC, issuing the emulator's
-- temporary keys (emu.tempkeys), which ECS actions then accept with their SecurityToken. The
-- request pipeline (emu.main) routes here by Version, authenticates AssumeRole (signature v1 or
-- v3, with a key of the access key file or a temporary key) and leaves AssumeRoleWithOIDC
-- unsigned, as the service does. Each action: { run = function(ctx, p), anonymous = true|nil };
-- p: the request parameters as sent (strings).
local cjson = require "cjson.safe"
local conf = require "emu.conf"
local respond = require "emu.respond"
local tempkeys = require "emu.tempkeys"
local util = require "emu.util"

local ngx = ngx
local fail = respond.fail
local lower, format = string.lower, string.format
local type, ipairs, tonumber = type, ipairs, tonumber

local M = {
  VERSION = "2015-04-01",
  HOST = "sts.aliyuncs.com",   -- HostId of error replies
  actions = {},
  -- STS actions of the service that the emulator does not simulate
  not_simulated = { AssumeRoleWithSAML = true, GetCallerIdentity = true, GenerateSessionAccessKey = true },
}

local DEFAULT_DURATION = 3600
local MIN_DURATION, MAX_DURATION = 900, 43200

local function present(v) return v ~= nil and v ~= "" and v ~= true end

local function required(p, name)
  local v = p[name]
  if not present(v) then
    fail(400, "MissingParameter." .. name, "The input parameter \"" .. name ..
      "\" that is mandatory for processing this request is not supplied.")
  end
  return v
end

-- acs:ram::<account id>:role/<name> -> arn, account id, name
local function role_arn(p)
  local arn = required(p, "RoleArn")
  local uid, name = arn:match("^acs:ram::(%d+):role/([%w%.@_%-]+)$")
  if not uid then
    fail(400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed: " .. arn ..
      " (expected acs:ram::<account id>:role/<role name>).")
  end
  return arn, uid, name
end

local function session_name(p)
  local s = required(p, "RoleSessionName")
  if #s < 2 or #s > 64 or not s:match("^[%w%.@_%-]+$") then
    fail(400, "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed: " ..
      "2 to 64 letters, digits and . @ - _ are expected.")
  end
  return s
end

-- the lifetime of the keys: DurationSeconds (default 3600, 900..43200), or the sts_lifetime
-- setting, which overrides it (any positive DurationSeconds is then accepted)
local function duration(p)
  local v, requested = p.DurationSeconds, DEFAULT_DURATION
  if present(v) then
    requested = tonumber(v)
    if not requested or requested % 1 ~= 0 or requested < 1 then
      fail(400, "InvalidParameter.DurationSeconds", "The parameter DurationSeconds must be a whole number of seconds.")
    end
  end
  local life = tempkeys.lifetime(nil)
  if life then return life end
  if requested < MIN_DURATION or requested > MAX_DURATION then
    fail(400, "InvalidParameter.DurationSeconds", format("The Min/Max value of DurationSeconds is %ds/%ds.",
      MIN_DURATION, MAX_DURATION))
  end
  return requested
end

local function policy(p)
  local v = p.Policy
  if present(v) and type(cjson.decode(v)) ~= "table" then
    fail(400, "InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check.")
  end
end

local function external_id(p)
  local v = p.ExternalId
  if present(v) and (#v < 2 or #v > 1224 or not v:match("^[%w_+=,%.@:/%-]+$")) then
    fail(400, "InvalidParameter.ExternalId", "The parameter ExternalId is wrongly formed.")
  end
end

local function listed(list, value)
  for _, x in ipairs(list) do if x == value then return true end end
  return false
end

-- the sts_roles setting: the role ARNs that may be assumed (empty: any)
local function role_allowed(arn)
  local list = conf.get().settings.sts_roles
  if type(list) ~= "table" or #list == 0 then return true end
  for _, x in ipairs(list) do if lower(x) == lower(arn) then return true end end
  return false
end

-- AssumedRoleUser of a session: a stable numeric role id per ARN, as the service's
local function assumed_user(arn, uid, name, session)
  local c = ngx.crc32_long(lower(arn))
  return { Arn = "acs:ram::" .. uid .. ":role/" .. name .. "/" .. session,
    AssumedRoleId = format("3%010d%06d", c, c % 999983) .. ":" .. session }
end

local function credentials(lifetime)
  local k = tempkeys.issue(lifetime)
  return { AccessKeyId = k.AccessKeyId, AccessKeySecret = k.AccessKeySecret,
    SecurityToken = k.SecurityToken, Expiration = k.Expiration }
end

M.actions.AssumeRole = {
  run = function(_, p)
    local arn, uid, name = role_arn(p)
    local session = session_name(p)
    local life = duration(p)
    policy(p)
    external_id(p)
    if not role_allowed(arn) then
      fail(403, "NoPermission", "You are not authorized to do this action. No permission perform " ..
        "sts:AssumeRole on this Role (" .. arn .. " is not in the emulator's sts_roles setting).")
    end
    return { AssumedRoleUser = assumed_user(arn, uid, name, session), Credentials = credentials(life) }
  end,
}

-- claims of a JWT's payload, best effort (the emulator does not check signatures)
local function claims(token)
  local payload = token:match("^[^%.]+%.([^%.]+)%.")
  if not payload then return {} end
  payload = payload:gsub("-", "+"):gsub("_", "/")
  payload = payload .. string.rep("=", (4 - #payload % 4) % 4)
  local raw = ngx.decode_base64(payload)
  local t = raw and cjson.decode(raw)
  return type(t) == "table" and t or {}
end

local function when(v, default)
  v = tonumber(v)
  if not v or v < 0 or v > 253402300799 then v = default end
  return util.iso8601(v)
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

M.actions.AssumeRoleWithOIDC = {
  anonymous = true,
  run = function(_, p)
    local provider = required(p, "OIDCProviderArn")
    local puid = provider:match("^acs:ram::(%d+):oidc%-provider/[%w%.@_%-]+$")
    if not puid then
      fail(400, "InvalidParameter.OIDCProviderArn", "The parameter OIDCProviderArn is wrongly formed: " ..
        provider .. " (expected acs:ram::<account id>:oidc-provider/<name>).")
    end
    local arn, uid, name = role_arn(p)
    local token = p.OIDCToken
    if not present(token) or trim(token) == "" then
      fail(401, "AuthenticationFail.OIDCToken.Invalid", "The OIDCToken can not empty.")
    end
    token = trim(token)
    local session = session_name(p)
    local life = duration(p)
    policy(p)
    if puid ~= uid then
      fail(401, "AuthenticationFail.NoPermission", "No such OIDC Provider registered.")
    end
    local accepted = conf.get().settings.oidc_tokens
    if type(accepted) ~= "table" or not listed(accepted, token) then
      fail(401, "AuthenticationFail.OIDCToken.Invalid", "The OIDCToken is not one the emulator accepts " ..
        "(its oidc_tokens setting, from --oidc-tokens).")
    end
    if not role_allowed(arn) then
      fail(401, "AuthenticationFail.NoPermission", "There is no permission (" .. arn ..
        " is not in the emulator's sts_roles setting).")
    end
    local c = claims(token)
    local now = ngx.time()
    local aud = c.aud
    if type(aud) == "table" then aud = table.concat(aud, ",") end
    return {
      AssumedRoleUser = assumed_user(arn, uid, name, session),
      Credentials = credentials(life),
      OIDCTokenInfo = {
        Subject = type(c.sub) == "string" and c.sub or "emulator",
        Issuer = type(c.iss) == "string" and c.iss or "https://oidc.emulator.invalid",
        ClientIds = type(aud) == "string" and aud or "sts.aliyuncs.com",
        IssuanceTime = when(c.iat, now),
        ExpirationTime = when(c.exp, now + 3600),
      },
    }
  end,
}

return M
