-- The command line's words: options (lower case, `--pager`, `--region cn-hangzhou`), the
-- command, and an action's parameters by their documented names (`--InstanceIds '["i-1"]'`,
-- `--Tag.1.Key app`), turned into the Lua values the action's helper takes, by the model's types.
local util = require "ecs.util"
local json = require("cjson").new()

local M = {}

--- A usage error: the command line cannot work as given (exit status 2).
---@class ecs.cli.UsageError
---@field message string
local Usage = {}
Usage.__index = Usage
Usage.__tostring = function(self) return self.message end

--- Raises a usage error.
---@param message string
---@return nil
function M.usage(message)
  error(setmetatable({ message = message }, Usage), 0)
end

--- Whether an error value is a usage error.
---@param e any
---@return boolean
function M.is_usage(e)
  return getmetatable(e) == Usage
end

-- The options: "flag" takes no value, "value" one word, "fields" key=value words after it.
M.OPTIONS = {
  profile = "value", region = "value", endpoint = "value", ["signature-version"] = "value",
  method = "value", quiet = "flag", debug = "flag", dryrun = "flag", help = "flag",
  pager = "fields", waiter = "fields", output = "fields", version = "flag",
}
M.OPTION_NAMES = util.sorted_keys(M.OPTIONS)
-- The fields each option with fields takes.
M.FIELDS = {
  pager = { "mode", "path" },
  waiter = { "expr", "fail", "interval", "timeout", "to" },
  output = { "cols", "rows" },
}
-- Options that apply to the client, and so also to `run`.
M.CLIENT_OPTIONS = { profile = true, region = true, endpoint = true, ["signature-version"] = true,
  method = true, debug = true }

local function is_flag(word) return word:sub(1, 2) == "--" and #word > 2 end

-- Reads the option at argv[i] (name and an inline "=value" already split); returns the next index.
local function read_option(cmd, argv, i, name, inline)
  local kind = M.OPTIONS[name]
  local options = cmd.options
  if kind == "flag" then
    if name == "debug" then
      if inline ~= nil and inline ~= "1" and inline ~= "2" then
        M.usage("--debug: 1 (a line per attempt) or 2 (plus parameters and replies), not '" .. inline .. "'")
      end
      options.debug = tonumber(inline or "1")
    elseif inline ~= nil then
      M.usage("--" .. name .. " takes no value")
    else
      options[name] = true
    end
    return i + 1
  elseif kind == "value" then
    local value = inline
    if value == nil then
      value = argv[i + 1]
      if value == nil or is_flag(value) then M.usage("--" .. name .. ": expected a value") end
      i = i + 1
    end
    if value == "" then M.usage("--" .. name .. ": expected a value") end
    options[name] = value
    return i + 1
  end
  -- fields: the key=value words that follow (--waiter expr=... to=...)
  if options[name] then M.usage("--" .. name .. " given twice") end
  local fields, allowed = {}, {}
  for _, f in ipairs(M.FIELDS[name]) do allowed[f] = true end
  local words = {}
  if inline ~= nil then words[1] = inline end
  i = i + 1
  while argv[i] and not is_flag(argv[i]) and argv[i]:find("^[%a_][%w_]*=") do
    words[#words + 1] = argv[i]
    i = i + 1
  end
  for _, word in ipairs(words) do
    local key, value = word:match("^([%a_][%w_]*)=(.*)$")
    if not key then
      M.usage(("--%s: '%s' is not a field=value (fields: %s)"):format(name, word,
        table.concat(M.FIELDS[name], ", ")))
    end
    if not allowed[key] then
      local hint = util.closest(key, M.FIELDS[name])
      M.usage(("--%s: unknown field '%s'%s (fields: %s)"):format(name, key,
        hint and ("; did you mean " .. hint .. "?") or "", table.concat(M.FIELDS[name], ", ")))
    end
    if fields[key] then M.usage(("--%s: %s= given twice"):format(name, key)) end
    fields[key] = value
  end
  options[name] = fields
  return i
end

local function unknown_option(name)
  local hint = util.closest(name, M.OPTION_NAMES)
  M.usage(("--%s: unknown option%s"):format(name, hint and ("; did you mean --" .. hint .. "?") or ""))
end

--- The command line split up: `options` (by name), `word` (the command: an action, help, run,
--- completion, version, __complete), `args` (the words after help/completion/run's script),
--- `flags` (an action's `--Name value` pairs, in order; value nil when none followed).
--- Raises a usage error.
---@param argv string[]
---@return {options: table, word: string|nil, args: string[], flags: {name: string, value: string|nil}[], script: string|nil}
function M.parse(argv)
  local cmd = { options = {}, args = {}, flags = {} }
  local i = 1
  while i <= #argv do
    local word = argv[i]
    if word == "-h" then
      cmd.options.help = true
      i = i + 1
    elseif is_flag(word) then
      local name, inline = word:match("^%-%-([^=]+)=(.*)$")
      name = name or word:sub(3)
      if M.OPTIONS[name] then
        i = read_option(cmd, argv, i, name, inline)
      elseif cmd.word and cmd.action then
        -- a parameter: --Name value, --Name=value; a boolean may stand alone (--DryRun)
        local value = inline
        if value == nil then
          local nxt = argv[i + 1]
          if nxt ~= nil and not is_flag(nxt) then
            value = nxt
            i = i + 1
          end
        end
        cmd.flags[#cmd.flags + 1] = { name = name, value = value }
        i = i + 1
      else
        unknown_option(name) -- before the command, or between run and its script
      end
    elseif not cmd.word then
      cmd.word = word
      if word == "help" or word == "completion" or word == "__complete" or word == "version" then
        for k = i + 1, #argv do cmd.args[#cmd.args + 1] = argv[k] end
        return cmd
      end
      cmd.action = word ~= "run"
      i = i + 1
    elseif cmd.word == "run" then
      -- the script, then its own arguments, untouched
      cmd.script = word
      for k = i + 1, #argv do cmd.args[#cmd.args + 1] = argv[k] end
      return cmd
    else
      M.usage(("unexpected '%s' after %s: parameters are given as --Name value"):format(word, cmd.word))
    end
  end
  return cmd
end

-- A word as the scalar the model's type wants; raises a usage error naming the flag.
local function scalar(node, raw, flag)
  local t = node.type
  if t == "string" then return raw end
  if t == "integer" or t == "long" then
    if not raw:match("^%-?%d+$") then
      M.usage(("--%s: expected an integer, got '%s'"):format(flag, raw))
    end
    local n = tonumber(raw)
    -- beyond 2^53 a number would round: the digits go as they are
    if n and n > -2 ^ 53 and n < 2 ^ 53 then return math.tointeger and math.tointeger(n) or n end
    return raw
  end
  if t == "float" then
    local n = tonumber(raw)
    if not n then M.usage(("--%s: expected a number, got '%s'"):format(flag, raw)) end
    return n
  end
  if t == "boolean" then
    local lower = raw:lower()
    if lower == "true" then return true end
    if lower == "false" then return false end
    M.usage(("--%s: expected true or false, got '%s'"):format(flag, raw))
  end
  return raw -- any
end

local function decode(raw, flag, what)
  local ok, value = pcall(json.decode, raw)
  if not ok or type(value) ~= "table" then
    M.usage(("--%s: expected %s, got '%s' (not valid JSON)"):format(flag, what, raw))
  end
  return value
end

-- A value decoded from JSON, brought to the model's types (integers as integers, "true" as true);
-- what does not fit is left for the model's check to name.
local function from_json(node, v)
  if v == json.null then return nil end
  local t = node and node.type
  if t == "integer" or t == "long" then
    if type(v) == "number" and v == math.floor(v) and math.tointeger then return math.tointeger(v) or v end
    return v
  elseif t == "boolean" and type(v) == "string" then
    if v:lower() == "true" then return true elseif v:lower() == "false" then return false end
  elseif t == "string" and type(v) == "number" then
    return (math.tointeger and math.tointeger(v)) and ("%d"):format(v) or tostring(v)
  elseif type(v) == "table" then
    if t == "list" then
      for i = 1, #v do v[i] = from_json(node.items, v[i]) end
    elseif t == "object" then
      local members = {}
      for _, m in ipairs(node.members or {}) do members[m.name] = m end
      for k, item in pairs(v) do v[k] = from_json(members[k], item) end
    elseif t == "map" then
      for k, item in pairs(v) do v[k] = from_json(node.values, item) end
    end
  end
  return v
end

-- What a container wants, for messages.
local function wanted(node)
  if node.type == "list" then
    local item = node.items or {}
    if item.type == "object" then return "a JSON array of objects such as '[{\"Key\":\"env\"}]'" end
    return "a JSON array such as '[\"a\",\"b\"]' (or the flag once per item)"
  end
  return "a JSON object such as '{\"Key\":\"value\"}'"
end

-- A word as the value of a node of any type.
local function value_of(node, raw, flag)
  local t = node.type
  if t == "list" then
    if raw:find("^%s*%[") then return from_json(node, decode(raw, flag, wanted(node))) end
    local item = node.items or { type = "any" }
    if item.type == "object" or item.type == "list" or item.type == "map" then
      M.usage(("--%s: expected %s"):format(flag, wanted(node)))
    end
    return { scalar(item, raw, flag) } -- one item; the flag again adds more
  elseif t == "object" or t == "map" then
    if raw:find("^%s*{") then return from_json(node, decode(raw, flag, wanted(node))) end
    M.usage(("--%s: expected %s, or --%s.<Field> value"):format(flag, wanted(node), flag))
  elseif t == "any" and raw:find("^%s*[%[{]") then
    local ok, v = pcall(json.decode, raw)
    if ok then return v end
  end
  return scalar(node, raw, flag)
end

local function names(list)
  local out = {}
  for i, n in ipairs(list or {}) do out[i] = n.name end
  return out
end

--- The parameters of an action from its `--Name value` flags: dotted names build lists and
--- objects (`--Tag.1.Key app`, `--SystemDisk.Category cloud_essd`), a list flag given again adds
--- an item, JSON values are decoded for lists and objects, scalars take the model's type. Raises
--- a usage error for an unknown name (with the closest parameter or option), a missing value or
--- a value of the wrong type; the rest is the model's check (ecs.api.validate).
---@param shape ecs.ActionShape
---@param flags {name: string, value: string|nil}[]
---@return table params
function M.params(shape, flags)
  local params = {}
  local given = {}
  for _, f in ipairs(flags) do
    local flag, raw = f.name, f.value
    local parts = {}
    for part in (flag .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = part end
    local node = shape.by_name[parts[1]]
    if not node then
      local candidates = names(shape.params)
      for _, o in ipairs(M.OPTION_NAMES) do candidates[#candidates + 1] = o end
      local hint = util.closest(parts[1], candidates)
      M.usage(("--%s: unknown parameter of %s%s (lua-ecs help %s lists them)"):format(parts[1], shape.name,
        hint and ("; did you mean --" .. hint .. "?") or "", shape.name))
    end
    -- walk the dotted name down the model, creating the tables on the way
    local holder, key = params, parts[1]
    for k = 2, #parts do
      local part = parts[k]
      local container = holder[key]
      if container == nil then
        container = {}
        holder[key] = container
      elseif type(container) ~= "table" then
        M.usage(("--%s: %s was given a value already"):format(flag, table.concat(parts, ".", 1, k - 1)))
      end
      if node.type == "list" then
        local index = tonumber(part)
        if not index or index < 1 or index % 1 ~= 0 then
          M.usage(("--%s: '%s' is not a position in the list %s (1, 2, ...)"):format(flag, part,
            table.concat(parts, ".", 1, k - 1)))
        end
        node, key = node.items or { type = "any" }, index
      elseif node.type == "object" then
        local member
        for _, m in ipairs(node.members or {}) do if m.name == part then member = m end end
        if not member then
          local hint = util.closest(part, names(node.members))
          M.usage(("--%s: %s has no field %s%s"):format(flag, table.concat(parts, ".", 1, k - 1), part,
            hint and ("; did you mean " .. hint .. "?") or ""))
        end
        node, key = member, part
      elseif node.type == "map" then
        node, key = node.values or { type = "any" }, part
      else
        M.usage(("--%s: %s is a %s, it has no fields"):format(flag, table.concat(parts, ".", 1, k - 1), node.type))
      end
      holder = container
    end
    local value
    if raw == nil then
      if node.type ~= "boolean" then M.usage("--" .. flag .. ": expected a value") end
      value = true
    else
      value = value_of(node, raw, flag)
    end
    local existing = holder[key]
    if existing ~= nil then
      if node.type == "list" and type(existing) == "table" and given[flag] then
        for _, item in ipairs(value) do existing[#existing + 1] = item end -- --InstanceId a --InstanceId b
        value = existing
      else
        M.usage(("--%s given twice"):format(flag))
      end
    end
    given[flag] = true
    holder[key] = value
  end
  return params
end

return M
