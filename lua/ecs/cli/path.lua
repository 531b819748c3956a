-- Paths into a reply, as the aliyun CLI writes them for --waiter and --output:
-- `Instances.Instance[0].Status` (0-based, `[-1]` the last), `Instances.Instance[]`
-- (every element). One `[]` at most: what the CLI's options need, no more.
local M = {}

--- Parses a path into its steps: { key = "Instances" }, { index = 0 }, { all = true }.
--- Raises a message (without position) when the path is malformed.
---@param text string such as "Instances.Instance[0].Status"
---@return table[] steps
function M.parse(text)
  local bad = ("'%s' is not a path such as Instances.Instance[0].Status"):format(tostring(text))
  if type(text) ~= "string" or text == "" then error(bad, 0) end
  local steps, pos, alls = {}, 1, 0
  while true do
    local start = #steps
    local key, after = text:match("^([%w_%-]+)()", pos)
    if key then
      steps[#steps + 1] = { key = key }
      pos = after
    end
    while true do
      local inner, close = text:match("^%[(%-?%d*)%]()", pos)
      if not inner then break end
      if inner == "-" then error(bad, 0) end -- a sign with no number
      if inner == "" then
        alls = alls + 1
        steps[#steps + 1] = { all = true }
      else
        steps[#steps + 1] = { index = tonumber(inner) }
      end
      pos = close
    end
    if #steps == start then error(bad, 0) end -- nothing between two dots
    if pos > #text then break end
    if text:sub(pos, pos) ~= "." or pos == #text then error(bad, 0) end
    pos = pos + 1
  end
  if alls > 1 then error(("'%s': one [] at most"):format(text), 0) end
  return steps
end

local unpack = table.unpack or unpack

local function step(value, s)
  if type(value) ~= "table" then return nil end
  if s.key then return value[s.key] end
  local n = #value
  local i = s.index < 0 and n + s.index + 1 or s.index + 1
  return value[i]
end

--- The value at a parsed path. For a path with `[]`: the list of the values under each element
--- (with `n`, as an element may lack the rest of the path), or nil when the list itself is
--- missing; the second result says it was such a path.
---@param value any a decoded reply
---@param steps table[] from M.parse
---@return any value
---@return boolean projected
function M.eval(value, steps)
  for i, s in ipairs(steps) do
    if s.all then
      if type(value) ~= "table" then return nil, true end
      local rest = { unpack(steps, i + 1) }
      local out = { n = #value }
      for k = 1, #value do out[k] = (M.eval(value[k], rest)) end
      return out, true
    end
    value = step(value, s)
  end
  return value, false
end

return M
