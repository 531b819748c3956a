-- Small helpers shared by modules that check user input.
local M = {}

--- Case-insensitive edit distance between two strings.
---@param a string
---@param b string
---@return integer distance
local function distance(a, b)
  -- Case-insensitive edit distance: "InstanceID" is one step from "InstanceId".
  a, b = a:lower(), b:lower()
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = (ca == b:byte(j)) and 0 or 1
      local best = prev[j] + 1
      if cur[j - 1] + 1 < best then best = cur[j - 1] + 1 end
      if prev[j - 1] + cost < best then best = prev[j - 1] + cost end
      cur[j] = best
    end
    prev = cur
  end
  return prev[#b]
end
M.distance = distance

--- The candidate closest to name, or nil when none is plausibly meant
--- (more than a third of the name would have to change).
---@param name string
---@param candidates string[]
---@return string|nil closest
function M.closest(name, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(name, c)
    if not best_d or d < best_d or (d == best_d and c < best) then
      best, best_d = c, d
    end
  end
  if best and best_d <= math.max(2, math.floor(#name / 3)) then return best end
  return nil
end

--- Sorted keys of a table.
---@param t table
---@return any[] keys
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- The value at a dotted path ("Instances.Instance") of a reply, or nil.
---@param t any
---@param path string
---@return any value
function M.get_path(t, path)
  for part in path:gmatch("[^.]+") do
    if type(t) ~= "table" then return nil end
    t = t[part]
  end
  return t
end

--- A shallow copy of a table (nil gives an empty table).
---@generic T: table
---@param t? T
---@return T copy
function M.copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

return M
