-- Coroutine scheduler: tasks, waiting, sleeping, and the run loop. It knows
-- a transport only through submit/timer/run_once/pending (see transport/curl.lua).
local M = {}

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

--- A coroutine started by ecs.run or ecs.spawn; task:wait() gives its results.
---@class ecs.Task
local Task = {}
Task.__index = Task
M.Task = Task

-- coroutine -> task, for tasks of every active run.
local task_of = setmetatable({}, { __mode = "k" })
local active -- the run context the running code belongs to
local shared_transport -- kept across top-level runs, so connections are reused
--- Makes the transport of a run (the libcurl one; tests and other hosts replace it).
---@type fun(): ecs.Transport
M.transport_factory = function() return require("ecs.transport.curl").new() end

--- The task the running coroutine belongs to, or nil outside every task.
---@return ecs.Task|nil task
local function current()
  local co = coroutine.running()
  return co and task_of[co] or nil
end
M.current = current

local function new_context(transport)
  return { transport = transport, ready = {}, head = 1, tail = 0, live = 0, failed = {}, spawned = 0 }
end

-- A run with at least this many tasks is a burst: afterwards its garbage is
-- collected and the transport gives memory back, so that a long-running
-- script returns to its size before the burst.
M.BURST = 1000

-- The ready queue holds tasks; what a task is resumed with waits in
-- task.resume_with (a wake passes one value: no table per wake).
local function enqueue(ctx, task, value)
  ctx.tail = ctx.tail + 1
  ctx.ready[ctx.tail] = task
  task.resume_with = value
end

--- Makes a suspended task runnable again; suspend() in it returns value.
--- Only the first wake after a suspend counts.
---@param task ecs.Task a task suspended in M.suspend
---@param value? any what its M.suspend() returns
---@return boolean woken false when the task was not suspended (or already woken)
function M.wake(task, value)
  if not task.suspended then return false end
  task.suspended = false
  enqueue(task.ctx, task, value)
  return true
end

-- The check is written out where it is needed rather than called through a
-- helper: a call at the depth of the yield keeps every waiting coroutine's
-- stack within its first allocation (a deeper one doubles it: 10,000 queued
-- calls took 12 MB more).
-- nginx's coroutine API has no isyieldable: there every task runs where it can yield (the
-- runtime checks the phase).
local isyieldable = coroutine.isyieldable or function() return true end
--- Whether the running code can yield (false inside a metamethod or a C callback).
---@return boolean
function M.isyieldable() return isyieldable() end
local CANNOT_WAIT = "ecs: cannot wait here (inside a metamethod such as __gc, or a C callback "
  .. "such as string.gsub's or table.sort's); wait from the task's own code"

--- Suspends the running task until M.wake(task, value); returns value. Raises, leaving nothing
--- behind, where the task cannot yield (a metamethod, a C callback such as string.gsub's).
---@return any value what M.wake passed
function M.suspend()
  local task = current()
  if not task then error("ecs: suspend outside a task", 2) end
  if not isyieldable() then error(CANNOT_WAIT, 2) end
  task.suspended = true
  return coroutine.yield()
end

--- What M.suspend_for returns when its time ran out.
M.TIMED_OUT = setmetatable({}, { __tostring = function() return "ecs.scheduler.TIMED_OUT" end })

--- Suspends the running task until M.wake(task, value) or until `seconds` pass, whichever comes
--- first; returns value, or M.TIMED_OUT. The timer is cancelled on a wake, so it can never wake
--- a later wait.
---@param seconds number
---@return any value what M.wake passed, or M.TIMED_OUT
function M.suspend_for(seconds)
  local task = current()
  if not task then error("ecs: suspend outside a task", 2) end
  local transport = task.ctx.transport
  local TIMED_OUT = M.TIMED_OUT
  local id = transport:timer(seconds, function() M.wake(task, TIMED_OUT) end)
  local value = M.suspend()
  if value ~= TIMED_OUT then transport:cancel(id) end
  return value
end

-- Records a task's outcome and wakes the tasks waiting for it.
local function settle(task, ok, ...)
  task.done = true
  task.ok = ok
  task.results = pack(...)
  for _, waiter in ipairs(task.waiters) do
    task.observed = true
    M.wake(waiter)
  end
  task.waiters = nil
end

local function finish(task, ok, ...)
  settle(task, ok, ...)
  local ctx = task.ctx
  ctx.live = ctx.live - 1
  task_of[task.co] = nil
  task.co = nil
  if not ok then ctx.failed[#ctx.failed + 1] = task end
end

local function resumed(task, co, ok, ...)
  if coroutine.status(co) == "dead" then
    if ok then
      finish(task, true, ...)
    else
      local e = ...
      if type(e) ~= "string" then
        local mt = getmetatable(e)
        e = (mt and mt.__tostring) and tostring(e) or ("(error object: " .. tostring(e) .. ")")
      end
      finish(task, false, debug.traceback(co, e))
    end
  elseif not task.suspended then
    -- Someone yielded past the scheduler (a bare coroutine.yield in a task):
    -- resume it at once rather than losing it.
    enqueue(task.ctx, task, nil)
  end
end

local function step(task)
  local co, value = task.co, task.resume_with
  task.resume_with = nil
  if task.start_args then -- first resume: the task's arguments
    local args = task.start_args
    task.start_args = nil
    return resumed(task, co, coroutine.resume(co, unpack(args, 1, args.n)))
  end
  return resumed(task, co, coroutine.resume(co, value))
end

local function spawn_in(ctx, fn, ...)
  if type(fn) ~= "function" then error("ecs.spawn: expected a function", 3) end
  local task = setmetatable({ ctx = ctx, waiters = {}, suspended = false }, Task)
  task.co = coroutine.create(fn)
  task_of[task.co] = task
  ctx.live = ctx.live + 1
  ctx.spawned = ctx.spawned + 1
  task.start_args = pack(...)
  enqueue(ctx, task, nil)
  return task
end

--- Starts fn(...) as a new task of the running ecs.run; returns the task.
---@param fn fun(...): ... the task's body
---@param ... any fn's arguments
---@return ecs.Task task
function M.spawn(fn, ...)
  local task = current()
  if not task then error("ecs.spawn: only inside ecs.run (or a task)", 2) end
  return spawn_in(task.ctx, fn, ...)
end

--- Waits for the task to finish; returns its results, or nil and its error
--- (a message with the task's traceback) when it raised one.
---@return any ... the task's results, or nil and its error message
function Task:wait()
  if not self.done then
    local me = M.current()
    if not me then error("task:wait: only inside ecs.run, or after it returned", 2) end
    if me == self then error("task:wait: a task cannot wait for itself", 2) end
    self.waiters[#self.waiters + 1] = me
    M.suspend()
  end
  self.observed = true
  if self.ok then return unpack(self.results, 1, self.results.n) end
  return nil, self.results[1]
end

--- Whether the task has finished (returned or raised).
---@return boolean
function Task:is_done() return self.done == true end

function Task:__tostring()
  return ("ecs.task (%s)"):format(self.done and (self.ok and "done" or "failed") or "running")
end

--- A counting semaphore for tasks (the shape of ngx.semaphore): wait() takes a unit or waits
--- for one in FIFO order, post() gives one back (handing it to the first waiter).
---@class ecs.Semaphore
---@field count integer Units free now.
local Semaphore = {}
Semaphore.__index = Semaphore
M.Semaphore = Semaphore

--- A semaphore with `count` units.
---@param count integer
---@return ecs.Semaphore
function M.semaphore(count)
  return setmetatable({ count = count, head = 1, tail = 0 }, Semaphore)
end

--- Takes a unit, waiting (the task yields) while none is free; with `timeout` (seconds) the wait
--- ends then. A waiter whose time ran out leaves the queue: no later post() can wake it.
---@param timeout? number
---@return boolean taken false when the timeout passed first
function Semaphore:wait(timeout)
  if self.count > 0 then
    self.count = self.count - 1
    return true
  end
  if timeout and timeout <= 0 then return false end
  local task = M.current()
  if not task then error("ecs: semaphore:wait outside a task", 2) end
  if not isyieldable() then error(CANNOT_WAIT, 2) end -- before it queues
  self.tail = self.tail + 1
  local entry = self.tail
  self[entry] = task
  if not timeout then
    M.suspend() -- post() hands its unit over
    return true
  end
  if M.suspend_for(timeout) == M.TIMED_OUT then
    if self[entry] == task then self[entry] = false end
    return false
  end
  return true
end

--- Gives a unit back: to the first waiter still waiting, else to the count.
---@return nil
function Semaphore:post()
  while self.head <= self.tail do
    local waiter = self[self.head]
    self[self.head] = nil
    self.head = self.head + 1
    if waiter and M.wake(waiter) then return end
  end
  self.count = self.count + 1
end

--- Guards a unit of `semaphore` the running task holds, for a host that can end tasks from
--- outside: returns nil here (a task of ecs.run always runs to its end); under nginx a guard
--- whose `held` is still true when the task is gone gives the unit back.
---@param semaphore ecs.Semaphore
---@return {held: boolean}|nil guard
function M.guard(semaphore) -- luacheck: ignore semaphore
  return nil
end

--- Runs fn() in a task of its own that nothing but its own end can stop (a task of the running
--- run here; under nginx a timer, which no request's end can kill). False when it cannot.
---@param fn fun()
---@return boolean started
function M.detach(fn)
  if not M.current() then return false end
  M.spawn(fn)
  return true
end

--- The transport of the running task's run.
---@return ecs.Transport|nil transport nil outside every task
function M.transport()
  local task = current()
  return task and task.ctx.transport or nil
end

M.MAX_SLEEP = 1e6 -- seconds (11.5 days): a longer sleep is a mistake

--- Sleeps the running task (or, outside ecs.run, the whole program) for
--- the given seconds, letting every other task go on.
---@param seconds number
function M.sleep(seconds)
  -- a negative time (a deadline just passed) sleeps 0; NaN or an absurd time is a mistake
  if type(seconds) ~= "number" or not (seconds <= M.MAX_SLEEP) then
    error(("ecs.sleep: expected seconds, at most %g (got %s)"):format(M.MAX_SLEEP, tostring(seconds)), 2)
  end
  if seconds < 0 then seconds = 0 end
  local task = current()
  if not task then return M.run(M.sleep, seconds) end
  if not isyieldable() then error(CANNOT_WAIT, 2) end -- before a timer is set
  task.ctx.transport:timer(seconds, function() M.wake(task) end)
  M.suspend()
end

local function drive(ctx)
  local transport = ctx.transport
  while true do
    local ready = ctx.ready
    while ctx.head <= ctx.tail do
      local task = ready[ctx.head]
      ready[ctx.head] = nil
      ctx.head = ctx.head + 1
      step(task)
    end
    if ctx.live == 0 then return end
    if transport:pending() == 0 then
      error(("ecs.run: %d task(s) wait for something that can never happen "
        .. "(each other, or a wake that never comes)"):format(ctx.live), 0)
    end
    transport:run_once()
  end
end

--- Runs fn(...) as the first task and drives the loop until every task has
--- finished; returns fn's results. Rules for errors: if fn raised, ecs.run
--- raises that error (with its traceback); otherwise, if another task raised
--- and nobody took its error through task:wait(), ecs.run raises the first
--- such error. Inside a task, ecs.run(fn) runs fn as a child task and waits.
---@param fn fun(...): ... the first task's body
---@param ... any fn's arguments
---@return any ... fn's results
function M.run(fn, ...)
  if type(fn) ~= "function" then error("ecs.run: expected a function", 2) end
  local task = current()
  if task then
    local child = spawn_in(task.ctx, fn, ...)
    local res = pack(child:wait())
    if not child.ok then error(res[2], 0) end
    return unpack(res, 1, res.n)
  end
  -- Top level: reuse the process transport. Inside a foreign coroutine of
  -- a run, or while a run is being driven, isolate with a transport of its own.
  local transport
  if active then
    transport = M.transport_factory()
  else
    shared_transport = shared_transport or M.transport_factory()
    transport = shared_transport
  end
  local outer = active
  local ctx = new_context(transport)
  active = ctx
  local main = spawn_in(ctx, fn, ...)
  local ok, err = pcall(drive, ctx)
  active = outer
  if transport ~= shared_transport then
    transport:close()
  elseif ctx.spawned >= M.BURST and transport.trim then
    ctx.ready = nil
    collectgarbage("collect")
    transport:trim()
  end
  if not ok then error(err, 0) end
  if not main.ok then error(main.results[1], 0) end
  for _, failed in ipairs(ctx.failed) do
    if not failed.observed then
      error("ecs.run: a task failed and nobody waited for it: " .. failed.results[1], 0)
    end
  end
  return unpack(main.results, 1, main.results.n)
end

-- Inside nginx the host runs the tasks: light threads, cosockets and ngx.sleep replace this
-- module's loop (transport/cosocket.lua installs them; libcurl is never loaded there).
local host = require("ecs.transport").host()
if host then host.install(M, { Task = Task, settle = settle, CANNOT_WAIT = CANNOT_WAIT }) end

return M
