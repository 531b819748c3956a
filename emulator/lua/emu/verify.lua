-- Request authentication: signature v1 (HMAC-SHA1) and v3 (ACS3-HMAC-SHA256),
-- timestamps, nonces, access keys and STS tokens (of the access key file, and the temporary
-- keys the emulator issues: emu.tempkeys). Own implementation, on purpose.
local crypto = require "emu.crypto"
local util = require "emu.util"
local respond = require "emu.respond"
local conf = require "emu.conf"
local tempkeys = require "emu.tempkeys"

local ngx = ngx
local fail = respond.fail
local pct = util.percent_encode
local sort, concat = table.sort, table.concat
local type, pairs = type, pairs
local find, sub, lower, gsub = string.find, string.sub, string.lower, string.gsub

local M = {}

local SKEW = 15 * 60
local nonces = ngx.shared.emu_nonce

-- parameters that belong to the protocol, not to the action
M.COMMON = {
  Action = true, Version = true, AccessKeyId = true, Signature = true, SignatureMethod = true,
  SignatureVersion = true, SignatureNonce = true, SignatureType = true, Timestamp = true,
  Format = true, SecurityToken = true,
}

local function missing(name)
  fail(400, "MissingParameter", "The input parameter \"" .. name ..
    "\" that is mandatory for processing this request is not supplied.")
end

local function check_time(ts, settings)
  local t = util.parse_iso8601(ts)
  if not t then
    fail(400, "IllegalTimestamp", "The input parameter \"Timestamp\" that is mandatory for processing this request is not supplied or has an invalid format: " .. tostring(ts))
  end
  if settings.timestamp_check ~= false then
    local now = ngx.time()
    if t < now - SKEW or t > now + SKEW then
      fail(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired. Timestamp " ..
        ts .. " differs from the server time " .. util.iso8601(now) .. " by more than 15 minutes.")
    end
  end
end

M.check_time = check_time

local function check_token(want, token)
  if not token or token == "" then
    fail(400, "MissingSecurityToken", "SecurityToken is mandatory for this action.")
  end
  if token ~= want then
    fail(400, "InvalidSecurityToken.MismatchWithAccessKey", "The SecurityToken does not match the AccessKeyId.")
  end
end

-- the key of an access key file pair, or of a temporary key the emulator issued (which must come
-- with its SecurityToken and be unexpired)
local function lookup_key(id, token)
  local key = conf.keys[id]
  if key then
    if key.token then check_token(key.token, token) end
    return key
  end
  local secret, want, expires = tempkeys.lookup(id)
  if not secret then
    fail(400, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
  end
  check_token(want, token)
  if ngx.now() >= expires then
    fail(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired (it expired at " ..
      util.iso8601(expires) .. ").")
  end
  return { secret = secret, token = want, temporary = true }
end

-- drops every nonce seen (POST /__emulator/reset)
function M.forget_nonces() nonces:flush_all() end

local function check_nonce(id, nonce, settings)
  if settings.nonce_check == false then return end
  local ok, err = nonces:add(id .. "\0" .. nonce, true, SKEW)
  if not ok and err == "exists" then
    fail(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
  end
end

local function str(v)
  if type(v) == "table" then return v[1] end
  return v
end

-- v1 string to sign: METHOD&%2F&pct(sorted pct(k)=pct(v) pairs joined by &), for every
-- parameter but Signature. The outer encoding is done per piece: inside an encoded pair only
-- "%" needs encoding again, and "=" and "&" become %3D and %26.
local function twice(s)
  if find(s, "%", 1, true) then return (gsub(s, "%%", "%%25")) end
  return s
end

local function v1_string_to_sign(method, params)
  local ek, n = {}, 0
  local bykey = {}
  for k in pairs(params) do
    if k ~= "Signature" then
      n = n + 1
      local e = pct(k)
      ek[n] = e
      bykey[e] = k
    end
  end
  sort(ek)
  local parts = {}
  for i = 1, n do
    local v = params[bykey[ek[i]]]
    if v == true then v = "" end
    parts[i] = twice(ek[i]) .. "%3D" .. twice(pct(str(v)))
  end
  return method .. "&%2F&" .. concat(parts, "%26")
end

function M.v1(req, settings)
  local p = req.params
  if not p.Action then missing("Action") end
  if not p.AccessKeyId then missing("AccessKeyId") end
  if not p.Signature then missing("Signature") end
  if not p.Timestamp then missing("Timestamp") end
  if not p.Version then missing("Version") end
  if not p.SignatureMethod or not p.SignatureVersion or not p.SignatureNonce then
    fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards: " ..
      "SignatureMethod, SignatureVersion and SignatureNonce are all required.")
  end
  if p.SignatureMethod ~= "HMAC-SHA1" then
    fail(400, "InvalidParamater", "The specified parameter \"SignatureMethod\" is not valid.")
  end
  if p.SignatureVersion ~= "1.0" then
    fail(400, "InvalidParamater", "The specified parameter \"SignatureVersion\" is not valid.")
  end
  check_time(p.Timestamp, settings)
  local key = lookup_key(p.AccessKeyId, p.SecurityToken)
  local sts = v1_string_to_sign(req.method, p)
  local want = crypto.b64_digest(crypto.hmac_sha1(key.secret .. "&", sts))
  if want ~= p.Signature then
    fail(400, "SignatureDoesNotMatch",
      "Specified signature is not matched with our calculation. server string to sign is:" .. sts)
  end
  check_nonce(p.AccessKeyId, p.SignatureNonce, settings)
  return p.Action, p.Version, p.AccessKeyId
end

local function trim(s) return (gsub(s, "^%s+", ""):gsub("%s+$", "")) end

-- v3: ACS3-HMAC-SHA256 over a canonical request built from method, path, query,
-- the signed headers and the body hash
function M.v3(req, auth, settings)
  local h = req.headers
  local algo, rest = auth:match("^(%S+)%s+(.*)$")
  if not algo then
    fail(400, "IncompleteSignature", "The Authorization header does not conform to Aliyun standards.")
  end
  if algo ~= "ACS3-HMAC-SHA256" then
    fail(400, "InvalidParamater", "The specified parameter \"SignatureMethod\" is not valid: " .. algo ..
      " (the emulator verifies ACS3-HMAC-SHA256).")
  end
  local cred = rest:match("Credential=([^,%s]+)")
  local signed = rest:match("SignedHeaders=([^,%s]+)")
  local sig = rest:match("Signature=([0-9a-fA-F]+)")
  if not cred or not signed or not sig then
    fail(400, "IncompleteSignature", "The Authorization header must carry Credential, SignedHeaders and Signature.")
  end
  local action, version = str(h["x-acs-action"]), str(h["x-acs-version"])
  local date, nonce = str(h["x-acs-date"]), str(h["x-acs-signature-nonce"])
  if not action then missing("x-acs-action") end
  if not version then missing("x-acs-version") end
  if not date then missing("x-acs-date") end
  if not nonce then
    fail(400, "IncompleteSignature", "The header x-acs-signature-nonce is required.")
  end
  -- every x-acs-* header and host must be covered by the signature
  local names, set = {}, {}
  for name in signed:gmatch("[^;]+") do names[#names + 1] = name; set[name] = true end
  if not set.host then
    fail(400, "IncompleteSignature", "SignedHeaders must include host.")
  end
  for name in pairs(h) do
    local ln = lower(name)
    if sub(ln, 1, 6) == "x-acs-" and not set[ln] then
      fail(400, "IncompleteSignature", "The header " .. ln .. " is not in SignedHeaders.")
    end
  end
  check_time(date, settings)
  local key = lookup_key(cred, str(h["x-acs-security-token"]))

  -- canonical query string, from the query part only
  local q = req.query
  local qk = {}
  for k in pairs(q) do qk[#qk + 1] = k end
  sort(qk)
  local qs = {}
  for i = 1, #qk do
    local v = q[qk[i]]
    if v == true then v = "" end
    qs[i] = pct(qk[i]) .. "=" .. pct(str(v))
  end
  local ch = {}
  for i = 1, #names do
    local v = h[names[i]]
    if type(v) == "table" then
      local t = {}
      for j = 1, #v do t[j] = trim(v[j]) end
      sort(t)
      v = concat(t, ",")
    else
      v = trim(v or "")
    end
    ch[i] = names[i] .. ":" .. v .. "\n"
  end
  local payload = crypto.sha256_hex(req.body or "")
  local path = req.path
  local cr = req.method .. "\n" .. path .. "\n" .. concat(qs, "&") .. "\n" .. concat(ch) .. "\n" ..
    signed .. "\n" .. payload
  local sts = "ACS3-HMAC-SHA256\n" .. crypto.sha256_hex(cr)
  local want = crypto.tohex(crypto.hmac_sha256(key.secret, sts))
  if want ~= lower(sig) then
    fail(400, "SignatureDoesNotMatch",
      "Specified signature is not matched with our calculation. server string to sign is:" .. sts ..
      " (canonical request: " .. cr .. ")")
  end
  check_nonce(cred, nonce, settings)
  return action, version, cred
end

return M
