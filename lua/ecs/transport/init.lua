-- Which runtime the code is in: a script (tasks on ecs.loop, libcurl) or nginx (light threads
-- on cosockets). Decided once, at load, from whether nginx's Lua module is the host.
local M = {}

-- nginx's Lua module defines the global `ngx` with get_phase; plain Lua has neither.
local in_nginx = type(ngx) == "table" and type(ngx.get_phase) == "function"
  and type(ngx.socket) == "table"

--- The host runtime when it is not a plain script: the cosocket module inside nginx, else nil.
---@return table|nil host
function M.host()
  if in_nginx then return require "ecs.transport.cosocket" end
  return nil
end

--- Whether the code runs inside nginx.
---@return boolean
function M.in_nginx()
  return in_nginx
end

return M
