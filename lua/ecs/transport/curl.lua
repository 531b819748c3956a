-- The libcurl transport: the scheduler's view of the ecs.loop event loop.
-- Interface (shared with the OpenResty transport):
--   submit(request, on_done)  request = { method, url, headers, body,
--                             timeout, connect_timeout, ca_file, verify_tls };
--                             on_done(response) once, with { status, head (the
--                             raw header block), body, latency } or
--                             { error_code, error, maybe_sent, latency }
--   timer(seconds, on_fire) -> id,  cancel(id),  run_once([max_wait]),  pending(),
--   and optionally trim() (give back memory after a burst)
local loop_module = require "ecs.loop"

local M = {}
local Transport = {}
Transport.__index = Transport

function M.new()
  return setmetatable({ loop = loop_module.new(), callbacks = {} }, Transport)
end

function Transport:submit(request, on_done)
  -- The request table carries the transfer options too.
  local id = self.loop:submit(request, request)
  self.callbacks[id] = on_done
  return id
end

function Transport:timer(seconds, on_fire)
  local id = self.loop:timer(seconds)
  self.callbacks[id] = on_fire
  return id
end

-- A cancelled timer still fires inside the loop, with nobody listening.
function Transport:cancel(id)
  self.callbacks[id] = nil
end

--- Waits for activity (at most max_wait seconds when given) and calls the
--- callbacks of what completed, outside any libcurl callback.
function Transport:run_once(max_wait)
  local done = self.loop:run_once(max_wait)
  local callbacks = self.callbacks
  for i = 1, #done do
    local completion = done[i]
    local cb = callbacks[completion.id]
    callbacks[completion.id] = nil
    if cb then cb(completion) end
  end
  return #done
end

function Transport:pending()
  return self.loop:pending()
end

function Transport:now()
  return self.loop:now()
end

--- Gives memory held for reuse back after a burst (keeps a few handles).
function Transport:trim()
  return self.loop:trim()
end

function Transport:close()
  self.loop:close()
end

return M
