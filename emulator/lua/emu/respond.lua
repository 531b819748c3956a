-- Response bodies: success bodies and the service's error shape, JSON or XML; the error that
-- checks, models and actions raise (caught by the request handler in emu.main).
local util = require "emu.util"

local M = {}

local HOST_ID = "ecs.aliyuncs.com"

local Err = {}
Err.__index = Err
Err.__tostring = function(e) return e.code .. ": " .. e.message end

function M.err(status, code, message)
  return setmetatable({ status = status, code = code, message = message }, Err)
end
function M.fail(status, code, message)
  error(M.err(status, code, message), 0)
end
function M.is_err(e) return getmetatable(e) == Err end

-- host: the HostId (default ecs.aliyuncs.com)
function M.error_body(e, request_id, xml, host)
  local body = { RequestId = request_id, HostId = host or HOST_ID, Code = e.code, Message = e.message }
  if xml then return util.xml("Error", body), "text/xml;charset=utf-8" end
  return util.json(body), "application/json;charset=utf-8"
end

function M.ok_body(action, result, xml)
  if xml then return util.xml(action .. "Response", result), "text/xml;charset=utf-8" end
  return util.json(result), "application/json;charset=utf-8"
end

return M
