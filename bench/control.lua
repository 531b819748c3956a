-- The emulator's control API (/__emulator/...) for the bench scripts, through
-- the curl CLI (docs/emulator.md, "Control API"): reset, config, quotas,
-- faults, stats. JSON in and out.
local cjson = require "cjson"

local M = {}

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- control(url, method, path[, body]) -> decoded JSON reply (raises on an HTTP error).
function M.request(url, method, path, body)
  local cmd = { "curl -s -S --max-time 10 -X", method, "-w '\\n%{http_code}'" }
  if body ~= nil then
    cmd[#cmd + 1] = "-H 'Content-Type: application/json' --data-binary " .. shq(cjson.encode(body))
  end
  cmd[#cmd + 1] = shq(url .. "/__emulator/" .. path)
  local p = assert(io.popen(table.concat(cmd, " ")))
  local out = p:read("a")
  p:close()
  local text, status = out:match("^(.-)\n?(%d+)$")
  status = tonumber(status)
  if not status or status >= 300 then
    error(("emulator control %s %s: HTTP %s %s"):format(method, path, tostring(status), tostring(text)), 2)
  end
  return text ~= "" and cjson.decode(text) or {}
end

--- A clean emulator: no resources, quotas, faults or counters; then settings.
function M.reset(url, settings)
  M.request(url, "POST", "reset")
  if settings then M.request(url, "POST", "config", settings) end
end

function M.stats(url) return M.request(url, "GET", "stats") end

return M
