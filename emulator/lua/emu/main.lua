-- The request pipeline: parse, authenticate, route, throttle, inject faults,
-- validate, run the action (idempotency, DryRun), write JSON or XML.
local cjson = require "cjson.safe"
local conf = require "emu.conf"
local verify = require "emu.verify"
local respond = require "emu.respond"
local params = require "emu.params"
local state = require "emu.state"
local util = require "emu.util"
local actions = require "emu.actions"

local ngx = ngx
local req = ngx.req
local shared = ngx.shared
local stats = shared.emu_stats
local last = shared.emu_last
local buckets = shared.emu_buckets
local fail = respond.fail
local random, floor, ceil, min = math.random, math.floor, math.ceil, math.min
local sub, find, lower = string.sub, string.find, string.lower
local pcall, type, pairs = pcall, type, pairs

local M = {}

local VERSION = "2014-05-26"
local static_cache = {}   -- action .. format -> { prefix, suffix }
local RID_MARK = "@@EMU-REQUEST-ID@@"

local function count(key) stats:incr(key, 1, 0) end
M.count = count

-- interned stats keys, so the hot path does not build strings
local function key_cache(prefix, suffix)
  return setmetatable({}, { __index = function(t, a)
    local k = prefix .. a .. (suffix or "")
    t[a] = k
    return k
  end })
end
local REQ_KEY, OK_KEY = key_cache("req|"), key_cache("res|", "|OK")

-- last request per action: a per-worker table (no encoding on the hot path); with several
-- workers it is also copied to the shared dict so the control API sees every worker
M.last_local = {}

local function first(v) if type(v) == "table" then return v[1] end return v end

local function read_request()
  local method = req.get_method()
  if method ~= "GET" and method ~= "POST" then
    fail(403, "UnsupportedHTTPMethod", "This HTTP method is not supported.")
  end
  local query = req.get_uri_args(0)
  local p = query
  local body
  if method == "POST" then
    req.read_body()
    body = req.get_body_data()
    if not body then
      local f = req.get_body_file()
      if f then
        local fh = io.open(f, "rb")
        if fh then body = fh:read("*a"); fh:close() end
      end
    end
    local ctype = ngx.var.http_content_type
    if body and body ~= "" and ctype and find(lower(ctype), "application/x-www-form-urlencoded", 1, true) then
      p = {}
      for k, v in pairs(query) do p[k] = v end
      for k, v in pairs(ngx.decode_args(body, 0)) do p[k] = v end
    end
  end
  -- keep the first value of a repeated name
  for k, v in pairs(p) do if type(v) == "table" then p[k] = v[1] end end
  local auth = ngx.var.http_authorization
  return { method = method, query = query, params = p, body = body or "", path = ngx.var.uri, auth = auth,
    headers = auth and req.get_headers(0) or nil }
end

local function throttle(ak, action, quotas)
  local q = quotas[action] or quotas["*"]
  if not q then return end
  local rate, burst = tonumber(q.rate) or 1, tonumber(q.burst) or tonumber(q.rate) or 1
  local key = ak .. "|" .. action
  local now = ngx.now()
  local v = buckets:get(key)
  local tokens, ts = burst, now
  if v then
    local a, b = v:match("^(%S+) (%S+)$")
    tokens, ts = tonumber(a), tonumber(b)
  end
  if rate > 0 then tokens = min(burst, tokens + (now - ts) * rate) end
  if tokens < 1 then
    buckets:set(key, tokens .. " " .. now)
    local wait = rate > 0 and ceil((1 - tokens) / rate * 1000) or 60000
    ngx.header["x-acs-retry-after"] = tostring(wait)
    count("throttled")
    fail(400, "Throttling.User", "Request was denied due to user flow control.")
  end
  buckets:set(key, (tokens - 1) .. " " .. now)
end

-- picks the fault to apply to this request, if any
local function pick_fault(action, faults)
  for i = 1, #faults do
    local f = faults[i]
    if (f.action == nil or f.action == "*" or f.action == action) and random() < (tonumber(f.rate) or 1)
      and conf.take_fault(i, f) then
      count("fault|" .. f.kind)
      return f
    end
  end
end

local function fingerprint(p)
  local keys = {}
  for k in pairs(p) do
    if k ~= "ClientToken" and k ~= "DryRun" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. util.json(p[k]) end
  return table.concat(parts, "&")
end

local function process(r, rid)
  local settings_all = conf.get()
  local settings = settings_all.settings
  local S = state.sync(settings_all.gen)

  local auth = r.auth
  local action, version, ak, sigver
  if auth and sub(auth, 1, 5) == "ACS3-" then
    sigver = "v3"
    action, version, ak = verify.v3(r, auth, settings)
  else
    sigver = "v1"
    action, version, ak = verify.v1(r, settings)
  end
  r.action = action
  count(REQ_KEY[action])
  if version ~= VERSION then
    fail(400, "InvalidParameter", "The specified parameter \"Action or Version\" is not valid: Version must be " .. VERSION .. ".")
  end
  local def = actions[action]
  if not def then
    if conf.known_actions[action] then
      fail(501, "Emulator.ActionNotSimulated", "The ECS action " .. action ..
        " exists but is not simulated by the lua-ecs emulator; nothing was done.")
    end
    fail(403, "InvalidAction", "Specified action is not valid.")
  end

  local rec = { params = r.params, method = r.method, signature_version = sigver, time = ngx.now() }
  M.last_local[action] = rec
  if ngx.worker.count() > 1 then last:set(action, cjson.encode(rec)) end

  if settings_all.has_quotas then throttle(ak, action, settings_all.quotas) end
  local fault = settings_all.has_faults and pick_fault(action, settings_all.faults) or nil
  if fault then
    local k = fault.kind
    if k == "503" or k == "unavailable" then
      fail(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
    elseif k == "500" or k == "internal" then
      fail(500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.")
    elseif k == "reset" then
      r.drop = true
      return
    elseif k == "slow" then
      ngx.sleep((tonumber(fault.delay_ms) or 2000) / 1000)
    elseif k == "lost" then
      r.drop_after = true
    elseif k == "truncated" then
      r.truncate = true
    end
  end

  local xml = r.xml
  if def.static and not r.params.DryRun then
    params.parse(action, r.params, def)
    local ck = action .. (xml and "x" or "j")
    local c = static_cache[ck]
    if not c then
      local res = def.run({}, {})
      res.RequestId = RID_MARK
      local body = respond.ok_body(action, res, xml)
      local i = find(body, RID_MARK, 1, true)
      c = { sub(body, 1, i - 1), sub(body, i + #RID_MARK) }
      static_cache[ck] = c
    end
    count(OK_KEY[action])
    return { c[1], rid, c[2] }
  end

  local p = params.parse(action, r.params, def)
  local ctx = { action = action, ak = ak, dry_run = p.DryRun == true, S = S }
  function ctx.commit()
    if ctx.dry_run then
      fail(400, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
    end
  end

  -- ClientToken: same token and parameters -> the first result, nothing created
  local token_key
  if p.ClientToken and p.ClientToken ~= "" and not ctx.dry_run then
    token_key = ak .. "|" .. action .. "|" .. p.ClientToken
    local rec = S.tokens[token_key]
    local fp = fingerprint(p)
    if rec then
      if rec.fp ~= fp then
        fail(400, "IdempotentParameterMismatch", "The request uses the same client token as a previous, but non-identical request.")
      end
      count("replays")
      local res = util.deepcopy(rec.result)
      res.RequestId = rid
      count(OK_KEY[action])
      return respond.ok_body(action, res, xml)
    end
    ctx.fp = fp
  end

  local res = def.run(ctx, p)
  ctx.commit() -- read-only actions reach here on DryRun
  if token_key then S.tokens[token_key] = { fp = ctx.fp, result = util.deepcopy(res) } end
  res.RequestId = rid
  count(OK_KEY[action])
  return respond.ok_body(action, res, xml)
end

function M.handle()
  local rid = util.request_id()
  local r
  local ok, res = pcall(function()
    r = read_request()
    local fmt = r.params.Format
    r.xml = fmt ~= nil and lower(fmt) == "xml" or (fmt == nil and r.auth == nil)
    return process(r, rid)
  end)
  local xml = r and r.xml
  local status, body, ctype
  if ok then
    if r.drop then return ngx.exit(444) end
    status, body = 200, res
    ctype = xml and "text/xml;charset=utf-8" or "application/json;charset=utf-8"
  else
    local e = res
    if not respond.is_err(e) then
      ngx.log(ngx.ERR, "emulator: ", tostring(e))
      e = respond.err(500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.")
    end
    if e.code == "DryRunOperation" then
      -- a passed DryRun is an error reply by design
    end
    if r and r.action then count("res|" .. r.action .. "|" .. e.code) else count("res|-|" .. e.code) end
    status = e.status
    body, ctype = respond.error_body(e, rid, xml)
  end
  if r and r.drop_after then return ngx.exit(444) end
  ngx.status = status
  ngx.header["Content-Type"] = ctype
  ngx.header["x-acs-request-id"] = rid
  if type(body) == "table" and (r and r.truncate) then body = table.concat(body) end
  if r and r.truncate then
    ngx.header["Content-Length"] = #body
    ngx.print(sub(body, 1, floor(#body / 2)))
    ngx.flush(true)
    return ngx.exit(444)
  end
  ngx.header["Content-Length"] = type(body) == "table" and (#body[1] + #body[2] + #body[3]) or #body
  ngx.print(body)
end

return M
