-- Shared helpers of the bench/*.lua scripts: a client for the emulator,
-- RSS from /proc, percentiles, and the one-line result format bench/run reads.
local M = {}

M.ecs = require "ecs"

--- A client of the emulator at endpoint (test keys), with extra options.
function M.client(endpoint, extra)
  local opts = { endpoint = endpoint, access_key_id = "testid", access_key_secret = "testsecret" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return M.ecs.client(opts)
end

--- Monotonic wall-clock seconds.
M.now = require("ecs.core").now

--- VmRSS and VmHWM of this process, in kB.
function M.rss()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

--- Resets VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs).
function M.reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then return false end
  local ok = f:write("5")
  f:close()
  return ok and true or false
end

--- p-th percentile (0..100) of a sorted array, nearest rank.
function M.percentile(sorted, p)
  if #sorted == 0 then return 0 / 0 end
  local rank = math.ceil(p / 100 * #sorted)
  if rank < 1 then rank = 1 end
  return sorted[rank]
end

--- Prints "RESULT name k=v k=v ..." (keys sorted) for bench/run.
function M.result(name, fields)
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = { "RESULT", name }
  for _, k in ipairs(keys) do
    local v = fields[k]
    if math.type(v) == "float" then v = ("%.6g"):format(v) end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  print(table.concat(parts, " "))
  io.stdout:flush()
end

return M
