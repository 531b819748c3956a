-- A throwaway nginx on a free loopback port that answers canned replies,
-- chosen by the Action query argument: for replies the emulator never gives
-- (JSON nulls, non-JSON bodies, odd statuses).
local M = {}

local shell = require "support.shell"
local sh = shell.sh


--- replies: { [Action] = { status = 200, body = "..." (one line), headers = { [name] = value } } }
--- Returns { url, stop = function() }.
function M.start(replies)
  local prefix = os.tmpname()
  os.remove(prefix)
  assert(sh("mkdir -p '" .. prefix .. "/logs'"))
  local port = shell.free_port()
  local rules = {}
  for action, r in pairs(replies) do
    local headers = {}
    for name, value in pairs(r.headers or {}) do
      headers[#headers + 1] = ("add_header %s %q always;"):format(name, value)
    end
    rules[#rules + 1] = ("if ($arg_Action = %q) { %s return %d %q; }")
      :format(action, table.concat(headers, " "), r.status or 200, r.body)
  end
  local conf = table.concat({
    "worker_processes 1; daemon on; pid " .. prefix .. "/nginx.pid;",
    "error_log " .. prefix .. "/logs/error.log;",
    "events { worker_connections 256; }",
    "http { access_log off; default_type application/json;",
    "  client_body_temp_path " .. prefix .. "; proxy_temp_path " .. prefix .. ";",
    "  fastcgi_temp_path " .. prefix .. "; uwsgi_temp_path " .. prefix .. "; scgi_temp_path " .. prefix .. ";",
    "  server { listen 127.0.0.1:" .. port .. "; location / {",
    "    " .. table.concat(rules, "\n    "),
    "    return 404 '{\"Code\":\"NoStub\",\"Message\":\"no canned reply\"}'; } } }",
  }, "\n")
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  local out, rc = sh("nginx -p '" .. prefix .. "' -c '" .. prefix .. "/nginx.conf'")
  assert(rc == 0, "stub nginx did not start: " .. out)
  local server = { url = "http://127.0.0.1:" .. port }
  function server.stop()
    sh("kill $(cat '" .. prefix .. "/nginx.pid') 2>/dev/null; sleep 0.1; rm -rf '" .. prefix .. "'")
  end
  return server
end

return M
