-- Helpers for the emulator specs: plain HTTP with the curl CLI, JSON with cjson.
-- Requests are signed by the lua-ecs client (client:prepare); tampered cases take a
-- prepared request and alter it. The emulator itself runs from spec/run.sh
-- (ECS_EMULATOR_ENDPOINT) or from the CLI for the specs that test the CLI.
local cjson = require "cjson"

local M = {}

M.endpoint = os.getenv("ECS_EMULATOR_ENDPOINT")
if not M.endpoint or M.endpoint == "" then
  error("ECS_EMULATOR_ENDPOINT is not set: run the emulator specs through spec/run.sh (make test), " ..
    "or start one with emulator/ecs-emulator start and export ECS_EMULATOR_ENDPOINT=<url>", 0)
end

M.ROOT = require("support.shell").ROOT
M.CLI = M.ROOT .. "/emulator/ecs-emulator"

local shq = require("support.shell").shq
M.shq = shq

local function tmpname()
  local n = os.tmpname()
  return n
end

local function readfile(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local s = fh:read("a")
  fh:close()
  return s
end
M.readfile = readfile

-- runs a shell command; returns stdout, exit code
function M.sh(cmd)
  local p = io.popen(cmd .. "; echo \"__rc=$?\"", "r")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  out = out:gsub("__rc=%d+%s*$", "")
  return out, rc
end

-- one HTTP exchange with curl; returns { status, headers (lower-case names), body, json, curl_rc, time }
function M.http(method, url, headers, body, extra)
  local hfile, bfile = tmpname(), tmpname()
  local cmd = { "curl -s -S -g -X", method, "-D", shq(hfile), "-o", shq(bfile),
    "-w '%{http_code} %{time_total}'", "--max-time 20" }
  if extra then cmd[#cmd + 1] = extra end
  local has_ct = false
  for k, v in pairs(headers or {}) do
    if k:lower() == "content-type" then has_ct = true end
    cmd[#cmd + 1] = "-H " .. shq(k .. ": " .. v)
  end
  local infile
  if body and body ~= "" then
    infile = tmpname()
    local fh = assert(io.open(infile, "wb"))
    fh:write(body)
    fh:close()
    cmd[#cmd + 1] = "--data-binary @" .. shq(infile)
    if not has_ct then cmd[#cmd + 1] = "-H 'Content-Type:'" end
  end
  cmd[#cmd + 1] = shq(url)
  cmd[#cmd + 1] = "2>/dev/null"
  local out, rc = M.sh(table.concat(cmd, " "))
  local res = { curl_rc = rc }
  local code, t = out:match("^(%d+) ([%d%.]+)")
  res.status = tonumber(code)
  res.time = tonumber(t)
  res.headers = {}
  local raw = readfile(hfile) or ""
  for line in raw:gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then res.headers[k:lower()] = v end
  end
  res.body = readfile(bfile) or ""
  local ok, j = pcall(cjson.decode, res.body)
  if ok then res.json = j end
  os.remove(hfile); os.remove(bfile)
  if infile then os.remove(infile) end
  return res
end

-- control API
function M.control(method, path, tbl)
  local body = tbl and cjson.encode(tbl) or nil
  local res = M.http(method, M.endpoint .. "/__emulator/" .. path,
    body and { ["Content-Type"] = "application/json" } or nil, body)
  return res.status, res.json, res
end

function M.reset(settings)
  local st = M.control("POST", "reset")
  assert(st == 200, "emulator reset failed: " .. tostring(st))
  if settings then
    local s2 = M.control("POST", "config", settings)
    assert(s2 == 200, "emulator config failed: " .. tostring(s2))
  end
end

function M.stats()
  local _, j = M.control("GET", "stats")
  return j
end

function M.last(action)
  local _, j = M.control("GET", "last/" .. action)
  return j
end

-- the lua-ecs client as signer
local ecs
local function lib()
  if not ecs then
    local ok, m = pcall(require, "ecs")
    if not ok then error("the emulator specs sign with lua-ecs (require 'ecs' failed: " .. tostring(m) .. "); build it first", 0) end
    ecs = m
  end
  return ecs
end

-- opts: v = "v1"|"v3", method = "GET"|"POST", id, secret, token, endpoint, pin (timestamp/nonce)
function M.prepare(action, params, opts)
  opts = opts or {}
  local c = lib().client {
    endpoint = opts.endpoint or M.endpoint,
    access_key_id = opts.id or "testid",
    access_key_secret = opts.secret or "testsecret",
    security_token = opts.token,
    signature_version = opts.v or "v1",
    api_version = opts.api_version,
    method = opts.method or "GET",
  }
  return c:prepare(action, params or {}, opts.pin or {})
end

function M.send(req)
  return M.http(req.method, req.url, req.headers, req.body)
end

-- with extra curl options (a string of shell words)
function M.send_with(req, extra)
  return M.http(req.method, req.url, req.headers, req.body, extra)
end

-- prepare + send; returns the response (res.json decoded)
function M.call(action, params, opts)
  local req = M.prepare(action, params, opts)
  return M.send_with(req, opts and opts.curl)
end

-- call that must succeed: returns the decoded body
function M.ok(action, params, opts)
  local res = M.call(action, params, opts)
  if res.status ~= 200 then
    error(("%s failed: HTTP %s %s"):format(action, tostring(res.status), res.body), 2)
  end
  return res.json, res
end

-- ---------------------------------------------------------------- tampering
-- query string / form body as ordered raw pairs
local function split_pairs(s)
  local t = {}
  for part in (s or ""):gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    t[#t + 1] = { k, v }
  end
  return t
end
local function join_pairs(t)
  local out = {}
  for i, kv in ipairs(t) do out[i] = kv[1] .. "=" .. kv[2] end
  return table.concat(out, "&")
end

local function pct(s)
  return (tostring(s):gsub("[^%w%-_%.~]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end
M.pct = pct

-- sets (value) or removes (nil) a parameter of a v1 request, wherever it sits (query or form body)
function M.set_param(req, name, value)
  local function edit(s)
    local t = split_pairs(s)
    local found = false
    for i = #t, 1, -1 do
      if t[i][1] == pct(name) then
        found = true
        if value == nil then table.remove(t, i) else t[i][2] = pct(value) end
      end
    end
    return join_pairs(t), found
  end
  local base, q = req.url:match("^([^?]*)%??(.*)$")
  local nq, inq = edit(q)
  if inq then
    req.url = base .. (nq ~= "" and ("?" .. nq) or "")
    return req
  end
  if req.body and req.body ~= "" then
    local nb, inb = edit(req.body)
    if inb then req.body = nb; return req end
  end
  if value ~= nil then
    if req.method == "POST" and req.body and req.body ~= "" then
      req.body = req.body .. "&" .. pct(name) .. "=" .. pct(value)
    else
      req.url = base .. "?" .. (q ~= "" and (q .. "&") or "") .. pct(name) .. "=" .. pct(value)
    end
  end
  return req
end

function M.get_param(req, name)
  local q = req.url:match("%?(.*)$") or ""
  for _, s in ipairs { q, req.body or "" } do
    for _, kv in ipairs(split_pairs(s)) do
      if kv[1] == pct(name) then
        return (kv[2]:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
      end
    end
  end
end

function M.header(req, name)
  for k, v in pairs(req.headers) do if k:lower() == name:lower() then return v, k end end
end
function M.set_header(req, name, value)
  local _, k = M.header(req, name)
  req.headers[k or name] = value
  return req
end

-- flips one character of a string (for tampering with signatures)
function M.flip(s, at)
  at = at or 5
  local ch = s:sub(at, at)
  local repl = ch == "A" and "B" or "A"
  if ch:match("%x") and #s == 64 then repl = ch == "a" and "b" or "a" end
  return s:sub(1, at - 1) .. repl .. s:sub(at + 1)
end

function M.iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t or os.time()) end

-- waits (polling) until fn() is truthy; returns its value or nil on timeout
function M.wait(fn, seconds)
  local deadline = os.time() + (seconds or 10)
  repeat
    local v = fn()
    if v then return v end
    M.sh("sleep 0.1")
  until os.time() > deadline
  return nil
end

-- a free loopback port for CLI specs
M.free_port = require("support.shell").free_port


-- ---------------------------------------------------------------- STS, metadata, credentials URI
M.STS_VERSION = "2015-04-01"
M.ROLE_ARN = "acs:ram::1234567890123456:role/emulator-role"
M.OIDC_PROVIDER_ARN = "acs:ram::1234567890123456:oidc-provider/emulator"
M.OIDC_TOKEN = "emulator-oidc-token" -- one of emulator/conf/oidc_tokens

-- epoch seconds of "yyyy-MM-ddTHH:mm:ssZ" (UTC, whatever the local time zone)
function M.epoch(iso)
  local y, mo, d, h, mi, s = tostring(iso):match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)Z$")
  if not y then return nil end
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then y = y - 1 end
  local floor = math.floor
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((mo + 9) % 12) + 2) / 5) + tonumber(d) - 1
  local days = era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

-- request options signing with temporary keys ({AccessKeyId, AccessKeySecret, SecurityToken}),
-- merged with `extra`
function M.keys_of(c, extra)
  local o = { id = c.AccessKeyId, secret = c.AccessKeySecret, token = c.SecurityToken }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function merged(defaults, params)
  local p = {}
  for k, v in pairs(defaults) do p[k] = v end
  for k, v in pairs(params or {}) do p[k] = v or nil end -- false drops a default
  return p
end

-- an STS request signed by the lua-ecs client: v1 over POST unless opts say otherwise
function M.sts_prepare(action, params, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.api_version = M.STS_VERSION
  o.method = o.method or "POST"
  return M.prepare(action, params, o)
end

-- AssumeRole of M.ROLE_ARN by testid (params add or, with false, drop parameters); the response
function M.assume_role(params, opts)
  local p = merged({ RoleArn = M.ROLE_ARN, RoleSessionName = "emulator-spec" }, params)
  return M.send(M.sts_prepare("AssumeRole", p, opts))
end

-- AssumeRoleWithOIDC as the official libraries send it: unsigned POST, Version, Action, Format
-- and Timestamp in the query, the rest in a form body; the response
function M.assume_role_oidc(params, opts)
  local p = merged({ OIDCProviderArn = M.OIDC_PROVIDER_ARN, RoleArn = M.ROLE_ARN, OIDCToken = M.OIDC_TOKEN,
    RoleSessionName = "emulator-spec" }, params)
  local names = {}
  for k in pairs(p) do names[#names + 1] = k end
  table.sort(names)
  local form = {}
  for i, k in ipairs(names) do form[i] = pct(k) .. "=" .. pct(p[k]) end
  local url = (opts and opts.endpoint or M.endpoint) .. "/?Version=" .. M.STS_VERSION ..
    "&Action=AssumeRoleWithOIDC&Format=JSON&Timestamp=" .. pct(M.iso())
  return M.http("POST", url, { ["Content-Type"] = "application/x-www-form-urlencoded" }, table.concat(form, "&"))
end

-- PUT /latest/api/token with the TTL header (nil: no header); the response (res.body: the token)
function M.metadata_token(ttl, endpoint)
  local h = ttl and { ["X-aliyun-ecs-metadata-token-ttl-seconds"] = tostring(ttl) } or nil
  return M.http("PUT", (endpoint or M.endpoint) .. "/latest/api/token", h)
end

-- GET of a metadata path, with X-aliyun-ecs-metadata-token when `token` is given; the response
function M.metadata(path, token, endpoint)
  local h = token and { ["X-aliyun-ecs-metadata-token"] = token } or nil
  return M.http("GET", (endpoint or M.endpoint) .. path, h)
end

M.METADATA_CREDENTIALS = "/latest/meta-data/ram/security-credentials/"
M.CREDENTIALS_URI = "/__emulator/credentials-uri"

return M
