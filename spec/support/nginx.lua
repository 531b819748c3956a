-- A throwaway nginx with the http Lua module and this checkout's lua-ecs (the LuaJIT build,
-- build-luajit/) on a free loopback port, for the OpenResty specs. Each spec gives its own
-- http-level directives and server locations. Only ever listens on 127.0.0.1.
local M = {}

M.ROOT = require("support.shell").ROOT

local shell = require "support.shell"
local sh, shq = shell.sh, shell.shq
M.sh, M.shq = sh, shq

local function module_dir()
  for _, d in ipairs { "/usr/share/nginx/modules", "/usr/lib/nginx/modules" } do
    local f = io.open(d .. "/ngx_http_lua_module.so", "rb")
    if f then f:close(); return d end
  end
  error("the nginx Lua module is not installed (tools/install-deps installs libnginx-mod-http-lua)")
end

--- A free loopback port.
M.free_port = shell.free_port

--- Starts nginx. opts: workers (default 1), main (main-context lines: env ...), http (http-level
--- lines), server (the locations), shared_dict (false: no lua_shared_dict ecs), lua_path (more
--- package.path entries), env (environment variables of nginx; `env` directives pass them on).
--- Returns { url, port, prefix, stop(), log(), get(path) }.
---@param opts {workers?: integer, main?: string, http?: string, server?: string, shared_dict?: boolean, lua_path?: string, env?: table<string, string>}
---@return table server
function M.start(opts)
  local moddir = module_dir()
  local prefix = os.tmpname()
  os.remove(prefix)
  assert(sh("mkdir -p " .. shq(prefix .. "/logs") .. " && chmod 755 " .. shq(prefix)))
  local port = M.free_port()
  local root = M.ROOT
  if root:sub(1, 1) ~= "/" then root = sh("pwd"):gsub("%s+$", "") .. "/" .. root end
  local is_root = select(1, sh("id -u")):match("^0") ~= nil
  local conf = table.concat({
    "load_module " .. moddir .. "/ndk_http_module.so;",
    "load_module " .. moddir .. "/ngx_http_lua_module.so;",
    is_root and "user root root;" or "",
    ("worker_processes %d; daemon on; pid %s/nginx.pid;"):format(opts.workers or 1, prefix),
    "error_log " .. prefix .. "/logs/error.log info;",
    opts.main or "",
    "events { worker_connections 4096; }",
    "http { access_log off; default_type text/plain;",
    "  client_body_temp_path " .. prefix .. "; proxy_temp_path " .. prefix .. ";",
    "  fastcgi_temp_path " .. prefix .. "; uwsgi_temp_path " .. prefix .. "; scgi_temp_path " .. prefix .. ";",
    ("  lua_package_path '%s%s/lua/?.lua;%s/lua/?/init.lua;%s/examples/openresty/?.lua;%s/spec/support/openresty/?.lua;/usr/share/lua/5.1/?.lua;;';")
      :format(opts.lua_path or "", root, root, root, root),
    ("  lua_package_cpath '%s/build-luajit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;';"):format(root),
    opts.shared_dict == false and "" or "  lua_shared_dict ecs 10m;",
    "  keepalive_requests 100000;",
    opts.http or "",
    "  server { listen 127.0.0.1:" .. port .. ";",
    opts.server or "",
    "  } }",
  }, "\n")
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  local env = ""
  for k, v in pairs(opts.env or {}) do env = env .. k .. "=" .. shq(v) .. " " end
  local out, rc = sh(env .. "nginx -p " .. shq(prefix) .. " -c " .. shq(prefix .. "/nginx.conf")
    .. " -e " .. shq(prefix .. "/logs/error.log"))
  assert(rc == 0, "nginx did not start: " .. out .. "\n" .. conf)
  local server = { url = "http://127.0.0.1:" .. port, port = port, prefix = prefix, conf = conf }
  -- up once it answers
  for _ = 1, 100 do
    local _, up = sh("curl -s -o /dev/null --max-time 1 " .. server.url .. "/")
    if up == 0 then break end
    sh("sleep 0.05")
  end
  function server.log()
    local fh = io.open(prefix .. "/logs/error.log", "rb")
    if not fh then return "" end
    local s = fh:read("*a")
    fh:close()
    return s
  end
  function server.stop()
    local pidf = io.open(prefix .. "/nginx.pid", "rb")
    if pidf then
      local pid = pidf:read("*l")
      pidf:close()
      -- Gracefully, then not: a request a failing spec left hanging must not keep nginx alive.
      sh("kill -QUIT " .. pid .. "; for i in $(seq 30); do kill -0 " .. pid .. " 2>/dev/null || break; sleep 0.1; done; "
        .. "kill -TERM " .. pid .. " 2>/dev/null; for i in $(seq 20); do kill -0 " .. pid
        .. " 2>/dev/null || break; sleep 0.1; done; pkill -KILL -P " .. pid .. " 2>/dev/null; kill -KILL " .. pid
        .. " 2>/dev/null; true")
    end
    sh("rm -rf " .. shq(prefix))
  end
  --- GET path; returns body, status, seconds.
  function server.get(path, max_time)
    local t0 = os.clock()
    local out2 = sh(("curl -s --max-time %d -w '\\n%%{http_code} %%{time_total}' %s"):format(
      max_time or 30, shq(server.url .. path)))
    local body, status, secs = out2:match("^(.*)\n(%d+) ([%d.]+)%s*$")
    local _ = t0
    return body, tonumber(status), tonumber(secs)
  end
  return server
end

return M
