-- Response writing: success bodies and the service's error shape, JSON or XML.
local util = require "emu.util"

local ngx = ngx
local M = {}

M.HOST_ID = "ecs.aliyuncs.com"

-- An error raised by checks and actions: caught by the request handler.
local Err = {}
Err.__index = Err
Err.__tostring = function(e) return e.code .. ": " .. e.message end
M.Err = Err

function M.err(status, code, message, extra)
  return setmetatable({ status = status, code = code, message = message, extra = extra }, Err)
end
function M.fail(status, code, message, extra)
  error(M.err(status, code, message, extra), 0)
end
function M.is_err(e) return getmetatable(e) == Err end

function M.error_body(e, request_id, xml)
  local body = { RequestId = request_id, HostId = M.HOST_ID, Code = e.code, Message = e.message }
  if e.recommend then body.Recommend = e.recommend end
  if e.extra then for k, v in pairs(e.extra) do body[k] = v end end
  if xml then return util.xml("Error", body), "text/xml;charset=utf-8" end
  return util.json(body), "application/json;charset=utf-8"
end

function M.ok_body(action, result, xml)
  if xml then return util.xml(action .. "Response", result), "text/xml;charset=utf-8" end
  return util.json(result), "application/json;charset=utf-8"
end

-- sends a prepared body (faults may cut it short)
function M.send(status, body, ctype, request_id)
  ngx.status = status
  ngx.header["Content-Type"] = ctype
  ngx.header["x-acs-request-id"] = request_id
  ngx.print(body)
end

return M
