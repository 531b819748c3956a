-- The request pipeline: parse, authenticate, route, throttle, inject faults,
-- validate, run the action (idempotency, DryRun), write JSON or XML. Requests of the STS API
-- (Version 2015-04-01) take a shorter way through the same steps (emu.sts).
local conf = require "emu.conf"
local faults = require "emu.faults"
local params = require "emu.params"
local quotas = require "emu.quotas"
local respond = require "emu.respond"
local state = require "emu.state"
local stats = require "emu.stats"
local util = require "emu.util"
local verify = require "emu.verify"
local actions = require "emu.actions"
local sts = require "emu.sts"

local ngx = ngx
local req = ngx.req
local fail = respond.fail
local floor = math.floor
local sub, find, lower = string.sub, string.find, string.lower
local pcall, type, pairs = pcall, type, pairs

local M = {}

local VERSION = "2014-05-26"
local static_cache = {}   -- action .. format -> { prefix, suffix }
local RID_MARK = "@@EMU-REQUEST-ID@@"

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

local function first(v)
  if type(v) == "table" then return v[1] end
  return v
end

-- the STS action of a request of the STS API ("-" when it names none), or nil
local function sts_action(r)
  local p = r.params
  local version, action = p.Version, p.Action
  if version == nil then
    local h = r.headers
    if h then
      version, action = first(h["x-acs-version"]), first(h["x-acs-action"])
    else
      version, action = ngx.var.http_x_acs_version, ngx.var.http_x_acs_action
    end
  end
  if version == sts.VERSION then return action or "-" end
end

-- STS: authenticate (AssumeRoleWithOIDC is unsigned), count, throttle and inject faults only
-- when a quota or fault names the action, run, reply
local function process_sts(r, rid, action, settings_all)
  local settings = settings_all.settings
  r.action, r.sts = action, true
  stats.sts(action)
  local def = sts.actions[action]
  if not def then
    if sts.not_simulated[action] then
      fail(501, "Emulator.ActionNotSimulated", "The STS action " .. action ..
        " exists but is not simulated by the lua-ecs emulator; nothing was done.")
    end
    fail(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
  end
  local ak, sigver = "-", "none"
  if not def.anonymous then
    local auth = r.auth
    if auth and sub(auth, 1, 5) == "ACS3-" then
      sigver = "v3"
      local _, _, key = verify.v3(r, auth, settings)
      ak = key
    else
      sigver = "v1"
      local _, _, key = verify.v1(r, settings)
      ak = key
    end
  elseif r.params.Timestamp then
    verify.check_time(r.params.Timestamp, settings)
  end
  stats.remember(action, { params = r.params, method = r.method, signature_version = sigver, time = ngx.now() })
  if settings_all.has_quotas then quotas.throttle(ak, action, settings_all.quotas, true) end
  local fault = settings_all.has_faults and faults.pick(action, settings_all.faults, true) or nil
  if fault then
    faults.apply(fault, r)
    if r.drop then return end
  end
  local res = def.run({ action = action, ak = ak }, r.params)
  res.RequestId = rid
  stats.sts_result(action, "OK")
  return respond.ok_body(action, res, r.xml)
end

local function process(r, rid)
  local settings_all = conf.get()
  local settings = settings_all.settings
  local s_action = sts_action(r)
  if s_action then return process_sts(r, rid, s_action, settings_all) end
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
  stats.request(action)
  if version ~= VERSION then
    fail(400, "InvalidParameter", "The specified parameter \"Action or Version\" is not valid: Version must be " .. VERSION .. ".")
  end
  local def = actions[action]
  if not def then
    if params.known(action) then
      fail(501, "Emulator.ActionNotSimulated", "The ECS action " .. action ..
        " exists but is not simulated by the lua-ecs emulator; nothing was done.")
    end
    fail(403, "InvalidAction", "Specified action is not valid.")
  end

  stats.remember(action, { params = r.params, method = r.method, signature_version = sigver, time = ngx.now() })

  if settings_all.has_quotas then quotas.throttle(ak, action, settings_all.quotas) end
  local fault = settings_all.has_faults and faults.pick(action, settings_all.faults) or nil
  if fault then
    faults.apply(fault, r)
    if r.drop then return end
  end

  local xml = r.xml
  if def.static and not r.params.DryRun then
    params.parse(action, r.params)
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
    stats.ok(action)
    return { c[1], rid, c[2] }
  end

  local p = params.parse(action, r.params)
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
    local seen = S.tokens[token_key]
    local fp = fingerprint(p)
    if seen then
      if seen.fp ~= fp then
        fail(400, "IdempotentParameterMismatch", "The request uses the same client token as a previous, but non-identical request.")
      end
      stats.replay()
      local res = util.deepcopy(seen.result)
      res.RequestId = rid
      stats.ok(action)
      return respond.ok_body(action, res, xml)
    end
    ctx.fp = fp
  end

  local res = def.run(ctx, p)
  ctx.commit() -- read-only actions reach here on DryRun
  if token_key then S.tokens[token_key] = { fp = ctx.fp, result = util.deepcopy(res) } end
  res.RequestId = rid
  stats.ok(action)
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
    if r and r.sts then stats.sts_result(r.action, e.code) else stats.error(r and r.action, e.code) end
    status = e.status
    body, ctype = respond.error_body(e, rid, xml, r and r.sts and sts.HOST or nil)
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
