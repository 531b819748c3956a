-- `lua-ecs run script.lua [args...]`: a prototype runs as a task of ecs.run, with `ecs` and a
-- default `client` (made from --region, --profile, --endpoint, ...) in scope.
local M = {}

local unpack = table.unpack or unpack

-- A chunk from a file with its own environment, on Lua 5.4 and LuaJIT alike.
local function load_script(file, env)
  local fn, err
  if setfenv then
    fn, err = loadfile(file)
    if fn then setfenv(fn, env) end
  else
    fn, err = loadfile(file, "bt", env)
  end
  return fn, err
end

--- The environment of a script: `ecs`, `client` (raising the reason when no client could be
--- made: it is only needed when used), `arg`, and the globals behind them.
---@param ecs table the ecs module
---@param client_opts table options of the default client
---@param script_arg table the script's arg table (arg[0] the script)
---@return table env
function M.environment(ecs, client_opts, script_arg)
  local ok, client = pcall(ecs.default_client, client_opts)
  if not ok then client = tostring(client):gsub("^[^\n]-ecs/init%.lua:%d+: ", "") end
  local env = { ecs = ecs, arg = script_arg }
  if ok then env.client = client end
  return setmetatable(env, { __index = function(_, key)
    if key == "client" and not ok then error(client, 2) end
    return _G[key]
  end })
end

--- Runs the script inside ecs.run; returns the exit status (a number 0..255 the script returns,
--- else 0) or nil and the error message (a raise, with its traceback).
---@param ecs table the ecs module
---@param file string the script
---@param script_args string[] its arguments
---@param client_opts table options of the default client
---@return integer|nil status
---@return string|nil err
---@return boolean|nil usage true when the script could not be read
function M.script(ecs, file, script_args, client_opts)
  local script_arg = { [0] = file }
  for i, a in ipairs(script_args) do script_arg[i] = a end
  local f = io.open(file, "rb")
  if not f then return nil, ("run: cannot open %s"):format(file), true end
  f:close()
  local env = M.environment(ecs, client_opts, script_arg)
  local fn, err = load_script(file, env)
  if not fn then return nil, err end
  _G.arg = script_arg -- for modules the script requires that read the command line
  local ok, status = pcall(ecs.run, fn, unpack(script_args))
  if not ok then
    if type(status) == "table" then status = tostring(status) end
    return nil, tostring(status)
  end
  if type(status) == "number" and status >= 0 and status <= 255 and status % 1 == 0 then return status end
  return 0
end

return M
