-- Shell helpers the spec harnesses share (emulator, nginx, redis and stub servers): running a
-- command, quoting, and finding a free loopback port.
local M = {}

--- The checkout's root, from where this file lies (spec/support/).
M.ROOT = (function()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/spec/support/[^/]*$")
  if dir and dir ~= "" then return dir end
  return "."
end)()

--- Runs a shell command; returns its output (stderr too) and its exit status.
---@param cmd string
---@return string output
---@return integer|nil status
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo __rc=$?"))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return (out:gsub("__rc=%d+%s*$", "")), rc
end

--- A string quoted for the shell.
---@param s any
---@return string
function M.shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Whether something listens on the loopback port. Through bash: /dev/tcp is bash's own, and
--- /bin/sh (dash on Debian) would fail to open it whatever listens.
---@param port integer
---@return boolean
function M.listening(port)
  local _, rc = M.sh("bash -c '(exec 3<>/dev/tcp/127.0.0.1/" .. port .. ")' 2>/dev/null")
  return rc == 0
end

--- A loopback port nobody listens on, below the kernel's ephemeral range.
---@return integer
function M.free_port()
  for _ = 1, 50 do
    local port = math.random(20000, 32000)
    if not M.listening(port) then return port end
  end
  error("no free port")
end

return M
