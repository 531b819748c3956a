-- The libcurl transport: the scheduler's view of the ecs.loop event loop.
-- The transport interface (what the scheduler and the request pipeline ask of
-- any transport; nothing above it names libcurl):
--   request(request) -> response: sends and waits, yielding the running task (what the
--                             request pipeline and the credential fetches use)
--   submit(request, on_done)  request = { method, url, headers, body,
--                             timeout, connect_timeout, ca_file, verify_tls };
--                             on_done(response) once, with { status, head (the
--                             raw header block), body, latency } or
--                             { error_code, error, maybe_sent, resolved,
--                             connected, too_large, latency } (no status)
--   timer(seconds, on_fire) -> id,  cancel(id),  run_once([max_wait]),  pending(),
--   tcp() -> a stream socket with ngx.socket.tcp's interface (for other services: Redis),
--   and optionally trim() (give back memory after a burst)
local loop_module = require "ecs.loop"
local scheduler = require "ecs.scheduler"

local M = {}
--- The scheduler's view of an event loop (this one runs libcurl's).
---@class ecs.Transport
local Transport = {}
Transport.__index = Transport

--- A transport on a new ecs.loop event loop.
---@return ecs.Transport transport
function M.new()
  return setmetatable({ loop = loop_module.new(), callbacks = {} }, Transport)
end

--- Starts a request; on_done(response) is called once, from run_once, with
--- { id, status, head, body, latency } or { id, error_code, error, maybe_sent, latency }.
---@param request {method: string, url: string, headers: table, body: string|nil, timeout: number|nil, connect_timeout: number|nil, ca_file: string|nil, verify_tls: boolean|nil}
---@param on_done fun(response: table)
---@return integer id
function Transport:submit(request, on_done)
  -- The request table carries the transfer options too.
  local id = self.loop:submit(request, request)
  self.callbacks[id] = on_done
  return id
end

--- Sends a request and waits for its response, suspending the running task (the loop runs the
--- other tasks meanwhile); the response has either shape that submit describes.
---@param request table as for submit
---@return table response
function Transport:request(request)
  local task = scheduler.current()
  local deliver = task.deliver
  if not deliver then
    deliver = function(response) scheduler.wake(task, response) end
    task.deliver = deliver
  end
  self:submit(request, deliver)
  return scheduler.suspend()
end

--- Calls on_fire, from run_once, after the given seconds.
---@param seconds number
---@param on_fire fun(completion: table)
---@return integer id for cancel
function Transport:timer(seconds, on_fire)
  local id = self.loop:timer(seconds)
  self.callbacks[id] = on_fire
  return id
end

-- A cancelled timer still fires inside the loop, with nobody listening.
--- Forgets the callback of a timer or request.
---@param id integer what submit or timer returned
function Transport:cancel(id)
  self.callbacks[id] = nil
end

--- Waits for activity (at most max_wait seconds when given) and calls the
--- callbacks of what completed, outside any libcurl callback.
---@param max_wait? number seconds
---@return integer completed how many requests and timers completed
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

--- Requests and timers not completed yet.
---@return integer
function Transport:pending()
  return self.loop:pending()
end

--- The loop's monotonic clock, in seconds.
---@return number
function Transport:now()
  return self.loop:now()
end

--- Gives memory held for reuse back after a burst (keeps a few handles).
---@return integer freed pooled handles freed
function Transport:trim()
  return self.loop:trim()
end

--- A stream socket on this loop with the cosocket interface (connect, send, receive,
--- settimeouts, setkeepalive, close), for clients of other services such as the Redis rate store.
---@return table socket
function Transport:tcp()
  return require("ecs.transport.socket").new(self)
end

--- Closes the loop, ending what is still in flight.
---@return nil
function Transport:close()
  self.loop:close()
end

return M
