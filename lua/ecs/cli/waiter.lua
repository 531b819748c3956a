-- `--waiter expr=Instances.Instance[0].Status to=Running`: polls the action with the library's
-- waiter (client:wait: backoff from `interval`, 1.5 times longer each poll up to 30 s, within
-- `timeout`) until the value at the path is the wanted one; stops at once on a state from which
-- it can never get there.
local path = require "ecs.cli.path"
local waiters = require "ecs.waiters"

local M = {}

M.DEFAULT_TIMEOUT = 600

local function seconds(fields, name, default)
  local raw = fields[name]
  if raw == nil then return default end
  local n = tonumber(raw)
  if not n or n ~= n or n < 0 or n == math.huge then
    error(("--waiter: %s=%s: expected seconds (a number >= 0)"):format(name, raw), 0)
  end
  return n
end

--- Checks the fields of `--waiter`: expr and to (required), timeout and interval (seconds),
--- fail (values that stop the wait at once, comma-separated). Raises a message.
---@param shape ecs.ActionShape
---@param fields table<string, string>
---@return table spec
function M.spec(shape, fields)
  if not fields.expr or fields.expr == "" or not fields.to then
    error("--waiter: expr= and to= are required (--waiter expr=Instances.Instance[0].Status to=Running)", 0)
  end
  local ok, steps = pcall(path.parse, fields.expr)
  if not ok then error("--waiter: expr=" .. steps, 0) end
  local fail = {}
  for value in (fields.fail or ""):gmatch("[^,]+") do fail[value] = true end
  -- a Status path of a kind the library knows: its terminal states too
  local last = steps[#steps]
  local terminal = last.key == "Status" and waiters.terminal_states(shape.name, fields.to)
  return {
    expr = fields.expr, steps = steps, to = fields.to, fail = fail, terminal = terminal or {},
    timeout = seconds(fields, "timeout", M.DEFAULT_TIMEOUT), interval = seconds(fields, "interval", nil),
  }
end

local function text(v)
  if v == nil or v == require("cjson").null then return nil end
  return tostring(v)
end

-- The values the path gave: one, or each element's for a path with [].
local function values(reply, spec)
  local v, projected = path.eval(reply, spec.steps)
  if not projected then return { n = 1, text(v) } end
  if v == nil then return { n = 0 } end
  local out = { n = v.n }
  for i = 1, v.n do out[i] = text(v[i]) end
  return out
end

local function shown(vals)
  if vals.n == 1 then return vals[1] or "missing" end
  if vals.n == 0 then return "an empty list" end
  local parts = {}
  for i = 1, vals.n do parts[i] = vals[i] or "missing" end
  return "[" .. table.concat(parts, ", ") .. "]"
end

--- Polls until the value at spec.expr is spec.to (for a path with [], every element's, and at
--- least one); the reply, or nil and the error: the call's, WaitTimeout (the message adds the last
--- value seen) or WaitFailed (a terminal state, or a value of fail=).
---@param client ecs.Client
---@param shape ecs.ActionShape
---@param params table
---@param spec table from M.spec
---@return table|nil reply
---@return ecs.Error|nil err
function M.run(client, shape, params, spec)
  local last
  local res, err = client:wait(shape.name, params, {
    timeout = spec.timeout, interval = spec.interval,
    ready = function(reply)
      last = values(reply, spec)
      if last.n == 0 then return false end
      for i = 1, last.n do
        if last[i] ~= spec.to then return false end
      end
      return true
    end,
    failed = function()
      for i = 1, last.n do
        local v = last[i]
        if v and (spec.fail[v] or spec.terminal[v]) then
          return ("%s: %s cannot become %s"):format(spec.expr, v, spec.to)
        end
      end
    end,
  })
  if err and err.code == "WaitTimeout" and last then
    err.message = ("%s; %s is %s, waiting for %s"):format(err.message, spec.expr, shown(last), spec.to)
  end
  return res, err
end

return M
