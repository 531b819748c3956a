-- A throwaway nginx with the http Lua module on a free loopback port, for the credentials specs:
-- each spec gives its locations as Lua code (content_by_lua_block), built from the helpers of the
-- `stub` module below (fake STS, metadata service, credentials URI and ECS endpoint), and reads or
-- sets the counters and switches that live in a lua_shared_dict through GET /__stub.
-- Only ever listens on 127.0.0.1.
local M = {}

local shell = require "support.shell"
local sh = shell.sh

local function module_dir()
  for _, d in ipairs { "/usr/share/nginx/modules", "/usr/lib/nginx/modules" } do
    local f = io.open(d .. "/ngx_http_lua_module.so", "rb")
    if f then f:close(); return d end
  end
  return nil
end

--- Whether nginx with the Lua module is installed (the specs are pending without it).
---@return boolean
function M.available()
  return module_dir() ~= nil and select(2, sh("command -v nginx")) == 0
end

-- The helpers the locations call: require("stub").<name>(...). Runs inside nginx (LuaJIT).
local STUB_MODULE = [==[
local cjson = require "cjson.safe"
local dict = ngx.shared.stub
local S = {}

function S.incr(key, by) return dict:incr(key, by or 1, 0) end
function S.get(key) return dict:get(key) end
function S.set(key, value) return dict:set(key, value) end
function S.iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

function S.args()
  local args = ngx.req.get_uri_args(200)
  if ngx.req.get_method() == "POST" or ngx.req.get_method() == "PUT" then
    ngx.req.read_body()
    for k, v in pairs(ngx.req.get_post_args(200) or {}) do args[k] = v end
  end
  return args
end

function S.reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(type(body) == "table" and cjson.encode(body) or body)
  return ngx.exit(status)
end

function S.error(status, code, message)
  return S.reply(status, { Code = code, Message = message or code, RequestId = "stub-" .. S.incr("rid") })
end

-- New temporary credentials valid for `lifetime` seconds (setting sts_lifetime overrides it);
-- the fake ECS endpoint knows their token until it expires.
function S.issue(prefix, lifetime)
  ngx.update_time()
  lifetime = tonumber(dict:get("lifetime")) or lifetime or 3600
  local n = S.incr("issued")
  local expires = math.floor(ngx.now()) + lifetime
  local token = prefix .. "-token-" .. n .. "-" .. ngx.worker.pid()
  dict:set("tok:" .. token, expires)
  dict:set("latest_token", token)
  return { AccessKeyId = "STS." .. prefix .. n, AccessKeySecret = prefix .. "-secret-" .. n,
           SecurityToken = token, Expiration = S.iso(expires) }
end

-- Waits `delay` seconds when set (to keep a fetch in flight), and fails when `fail` says so:
-- "500" (a server error), "403" (a refusal), "hang" (no reply before the client gives up).
function S.mood(name)
  local delay = tonumber(dict:get(name .. "_delay") or dict:get("delay"))
  if delay then ngx.sleep(delay) end
  local fail = dict:get(name .. "_fail")
  fail = fail and tostring(fail)
  if fail == "500" then return S.error(500, "InternalError", "stub: failing on purpose") end
  if fail == "403" then return S.error(403, "NoPermission", "stub: refusing on purpose") end
  if fail == "hang" then ngx.sleep(30) end
  return nil
end

-- STS: AssumeRole (signature checked loosely: the emulator checks it properly) and
-- AssumeRoleWithOIDC.
function S.sts()
  local args = S.args()
  local action = args.Action
  S.incr("sts")
  S.incr("sts:" .. tostring(action))
  dict:set("sts_last", cjson.encode {
    method = ngx.req.get_method(), action = action, RoleArn = args.RoleArn,
    RoleSessionName = args.RoleSessionName, DurationSeconds = args.DurationSeconds, Policy = args.Policy,
    ExternalId = args.ExternalId, AccessKeyId = args.AccessKeyId, has_signature = args.Signature ~= nil,
    has_token = args.SecurityToken ~= nil, OIDCProviderArn = args.OIDCProviderArn, OIDCToken = args.OIDCToken,
    in_query = ngx.var.arg_Action ~= nil,
  })
  S.mood("sts")
  if action == "AssumeRole" then
    if not args.Signature or not args.AccessKeyId or args.SignatureMethod ~= "HMAC-SHA1" then
      return S.error(400, "IncompleteSignature", "stub: AssumeRole without a v1 signature")
    end
    if args.SecurityToken then
      local exp = dict:get("tok:" .. args.SecurityToken)
      if not exp then return S.error(400, "InvalidSecurityToken.Malformed", "stub: unknown token " .. args.SecurityToken) end
      if ngx.now() >= exp then return S.error(400, "InvalidSecurityToken.Expired", "stub: expired token") end
    end
  elseif action == "AssumeRoleWithOIDC" then
    local want = dict:get("oidc_token")
    if not args.OIDCToken or (want and args.OIDCToken ~= want) then
      return S.error(400, "InvalidParameter.OIDCToken", "stub: unexpected OIDC token")
    end
  else
    return S.error(400, "InvalidAction.NotFound", "stub: " .. tostring(action))
  end
  local creds = S.issue(action == "AssumeRole" and "role" or "oidc", tonumber(args.DurationSeconds))
  return S.reply(200, { RequestId = "stub-sts-" .. S.get("sts"), Credentials = creds,
    AssumedRoleUser = { Arn = args.RoleArn, AssumedRoleId = "stub:" .. tostring(args.RoleSessionName) } })
end

-- The instance metadata service: the token flow, the role name, the credentials.
function S.metadata()
  local uri, method = ngx.var.uri, ngx.req.get_method()
  local given = ngx.req.get_headers()["X-aliyun-ecs-metadata-token"]
  if uri == "/latest/api/token" then
    S.incr("md_token")
    if method ~= "PUT" then return S.error(405, "MethodNotAllowed", "stub: the token needs PUT") end
    if dict:get("md_token_fail") then return S.error(404, "NotFound", "stub: no token service") end
    local ttl = ngx.req.get_headers()["X-aliyun-ecs-metadata-token-ttl-seconds"]
    if not tonumber(ttl) then return S.error(400, "MissingTTL", "stub: no ttl header") end
    local token = "md-" .. S.incr("md_tokens_issued")
    dict:set("md_valid:" .. token, true)
    ngx.header["Content-Type"] = "text/plain"
    return ngx.print(token)
  end
  local key = given and "md_with_token" or "md_without_token"
  S.incr(key)
  if given and not dict:get("md_valid:" .. given) then return S.error(401, "Unauthorized", "stub: bad token") end
  if not given and dict:get("md_v1_off") then return S.error(403, "Forbidden", "stub: IMDSv1 is off") end
  local prefix = "/latest/meta-data/ram/security-credentials/"
  local role = dict:get("md_role") or "stub-role"
  if uri == prefix then
    S.incr("md_list")
    ngx.header["Content-Type"] = "text/plain"
    return ngx.print(role)
  end
  if uri == prefix .. role then
    S.incr("md_creds")
    S.mood("md")
    local creds = S.issue("md", 21600)
    creds.Code = dict:get("md_code") or "Success"
    creds.LastUpdated = S.iso(ngx.time())
    return S.reply(200, creds)
  end
  return S.error(404, "NotFound", "stub: " .. uri)
end

-- A credentials URI.
function S.uri()
  S.incr("uri")
  S.mood("uri")
  local creds = S.issue("uri", 3600)
  creds.Code = dict:get("uri_code") or "Success"
  return S.reply(200, creds)
end

-- A fake ECS endpoint: it accepts a known, unexpired SecurityToken (or none), refuses the rest.
function S.ecs()
  local args = S.args()
  S.incr("ecs")
  local token = args.SecurityToken
  if token then
    ngx.update_time()
    local exp = dict:get("tok:" .. token)
    if not exp then
      S.incr("ecs_refused")
      return S.error(400, "InvalidSecurityToken.Malformed", "stub: unknown token")
    end
    if ngx.now() >= exp then
      S.incr("ecs_refused")
      return S.error(400, "InvalidSecurityToken.Expired", "stub: the token expired")
    end
  end
  return S.reply(200, { RequestId = "stub-ecs-" .. S.get("ecs"), Regions = { Region = {} } })
end

-- GET /__stub?op=get&key=K | op=set&key=K&value=V | op=del&key=K | op=revoke (every token) | op=reset
function S.control()
  local a = ngx.req.get_uri_args()
  if a.op == "get" then return ngx.print(tostring(dict:get(a.key))) end
  if a.op == "set" then dict:set(a.key, tonumber(a.value) or a.value); return ngx.print("ok") end
  if a.op == "del" then dict:delete(a.key); return ngx.print("ok") end
  if a.op == "revoke" then
    for _, k in ipairs(dict:get_keys(0)) do
      if k:sub(1, 4) == "tok:" then dict:set(k, 0) end
    end
    return ngx.print("ok")
  end
  if a.op == "reset" then dict:flush_all(); dict:flush_expired(); return ngx.print("ok") end
  return S.error(400, "BadOp", "stub: op?")
end

return S
]==]

--- Starts a stub. locations: { [nginx location spec] = Lua code }, e.g.
---   { ["/sts"] = 'require("stub").sts()', ["/latest/"] = 'require("stub").metadata()' }.
--- Returns { url, stop(), get(key), set(key, value), del(key), count(key), revoke(), reset() }.
---@param locations table<string, string>
---@return table server
function M.start(locations)
  local moddir = assert(module_dir(), "the nginx Lua module is not installed")
  local prefix = os.tmpname()
  os.remove(prefix)
  assert(sh("mkdir -p '" .. prefix .. "/logs' && chmod 755 '" .. prefix .. "'"))
  local f = assert(io.open(prefix .. "/stub.lua", "w"))
  f:write(STUB_MODULE)
  f:close()
  local port = shell.free_port()
  local blocks = {}
  for spec, code in pairs(locations) do
    blocks[#blocks + 1] = ("    location %s { content_by_lua_block { %s } }"):format(spec, code)
  end
  local is_root = select(1, sh("id -u")):match("^0") ~= nil
  local conf = table.concat({
    "load_module " .. moddir .. "/ndk_http_module.so;",
    "load_module " .. moddir .. "/ngx_http_lua_module.so;",
    is_root and "user root root;" or "",
    "worker_processes 1; daemon on; pid " .. prefix .. "/nginx.pid;",
    "error_log " .. prefix .. "/logs/error.log warn;",
    "events { worker_connections 1024; }",
    "http { access_log off; default_type application/json;",
    "  client_body_temp_path " .. prefix .. "; proxy_temp_path " .. prefix .. ";",
    "  fastcgi_temp_path " .. prefix .. "; uwsgi_temp_path " .. prefix .. "; scgi_temp_path " .. prefix .. ";",
    "  lua_package_path '" .. prefix .. "/?.lua;/usr/share/lua/5.1/?.lua;;';",
    "  lua_package_cpath '/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;/usr/local/lib/lua/5.1/?.so;;';",
    "  lua_shared_dict stub 4m;",
    "  keepalive_requests 100000;",
    "  server { listen 127.0.0.1:" .. port .. ";",
    "    location = /__stub { content_by_lua_block { require('stub').control() } }",
    table.concat(blocks, "\n"),
    "    location / { return 404 '{\"Code\":\"NoStub\",\"Message\":\"no stub here\"}'; } } }",
  }, "\n")
  f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  local out, rc = sh("nginx -p '" .. prefix .. "' -c '" .. prefix .. "/nginx.conf' -e '" .. prefix .. "/logs/error.log'")
  assert(rc == 0, "lua stub nginx did not start: " .. out)
  local server = { url = "http://127.0.0.1:" .. port, prefix = prefix }
  local function control(query)
    local body = sh(("curl -s --max-time 5 '%s/__stub?%s'"):format(server.url, query))
    return (body:gsub("__rc=%d+%s*$", ""))
  end
  -- wait until it answers
  for _ = 1, 100 do
    if control("op=get&key=ready"):match("^nil") then break end
    sh("sleep 0.05")
  end
  function server.get(key) return control("op=get&key=" .. key) end
  function server.count(key) return tonumber(control("op=get&key=" .. key)) or 0 end
  function server.set(key, value) return control("op=set&key=" .. key .. "&value=" .. tostring(value)) end
  function server.del(key) return control("op=del&key=" .. key) end
  function server.revoke() return control("op=revoke") end
  function server.reset() return control("op=reset") end
  function server.error_log()
    local ef = io.open(prefix .. "/logs/error.log", "rb")
    if not ef then return "" end
    local text = ef:read("*a")
    ef:close()
    return text
  end
  function server.stop()
    sh("kill $(cat '" .. prefix .. "/nginx.pid') 2>/dev/null; sleep 0.1; rm -rf '" .. prefix .. "'")
  end
  return server
end

return M
