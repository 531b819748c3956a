-- LuaLS annotation coverage of the hand-written modules under lua/ecs.
-- lua-language-server is not packaged in Debian, so this checks mechanically what
-- it would need: every exported function (a field of a module, or of a class the
-- module exports: a field whose name starts with an upper-case letter) has a
-- comment block directly above its definition with a ---@param, ---@return or
-- ---@type line. A C function or a function re-exported from another module needs
-- a ---@field line in the exporting module (a re-export may instead rely on its
-- annotated origin). Metamethods and names starting with "_" are skipped.

local ROOT = "lua/ecs"
-- Hand-written modules today; a new one (or one gone) must be noticed here.
local HAND_WRITTEN_COUNT = 45

local cwd = (os.getenv("PWD") or ""):gsub("/+$", "")

local function normalize(path)
  path = path:gsub("^%./", "")
  if cwd ~= "" and path:sub(1, #cwd + 1) == cwd .. "/" then path = path:sub(#cwd + 2) end
  return path
end

local line_cache = {}
local function lines_of(path)
  local lines = line_cache[path]
  if lines then return lines end
  local f = assert(io.open(path, "r"))
  lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  line_cache[path] = lines
  return lines
end

local function text_of(path)
  return table.concat(lines_of(path), "\n")
end

-- Generated files say so on their first line (after a ---@meta line, if any).
local function is_generated(path)
  local lines = lines_of(path)
  local first = lines[1] or ""
  if first:match("^%-%-%-@meta") then first = lines[2] or "" end
  return first:match("^%-%-+%s*Generated") ~= nil
end

local function hand_written_modules()
  local p = assert(io.popen("find " .. ROOT .. " -name '*.lua' | sort"))
  local out = {}
  for path in p:lines() do
    path = normalize(path)
    if not is_generated(path) then out[#out + 1] = path end
  end
  p:close()
  return out
end

local function module_name(path)
  return (path:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", "."))
end

-- Whether the comment lines directly above line n hold a LuaLS annotation.
local ANNOTATION = { "^%s*%-%-%-@param%s", "^%s*%-%-%-@return%s", "^%s*%-%-%-@type%s" }
local function annotated_at(path, n)
  local lines = lines_of(path)
  local i = n - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") do
    for _, pat in ipairs(ANNOTATION) do
      if lines[i]:match(pat) then return true end
    end
    i = i - 1
  end
  return false
end

local function has_field(path, name)
  for _, line in ipairs(lines_of(path)) do
    local field = line:match("^%s*%-%-%-@field%s+([%w_]+)")
    if field == name then return true end
  end
  return false
end

local function under(root, path)
  return path:sub(1, #root + 1) == root .. "/"
end

-- Checks one exported function; appends to `missing` what lacks an annotation.
local function check_function(fn, name, field, owner, root, missing)
  local info = debug.getinfo(fn, "S")
  if info.what == "C" then
    if not has_field(owner, field) then
      missing[#missing + 1] = ("%s %s (C function: no ---@field %s)"):format(owner, name, field)
    end
    return
  end
  local src = info.source:sub(1, 1) == "@" and normalize(info.source:sub(2)) or nil
  if src == owner then
    if not annotated_at(src, info.linedefined) then
      missing[#missing + 1] = ("%s:%d %s"):format(src, info.linedefined, name)
    end
  elseif src and under(root, src) then
    -- A re-export: a ---@field in the exporting module, or the origin annotated.
    if not has_field(owner, field) and not annotated_at(src, info.linedefined) then
      missing[#missing + 1] = ("%s:%d %s (re-exported by %s: no ---@field %s there either)")
        :format(src, info.linedefined, name, owner, field)
    end
  elseif not has_field(owner, field) then
    missing[#missing + 1] = ("%s %s (defined in %s: no ---@field %s)")
      :format(owner, name, tostring(src or info.source), field)
  end
end

local function skipped(key)
  return type(key) ~= "string" or key:sub(1, 1) == "_" -- metamethods (__index, ...) too
end

local function sorted_keys(t)
  local keys = {}
  for k in next, t do
    if not skipped(k) then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

--- Every exported function of module table `mod` (file `owner`) that lacks an
--- annotation, as "file:line name" strings. `root`: where the project's Lua files are.
---@param mod table
---@param modname string
---@param owner string
---@param root string
---@return string[] missing
local function check_module(mod, modname, owner, root)
  local missing = {}
  for _, key in ipairs(sorted_keys(mod)) do
    local v = rawget(mod, key)
    if type(v) == "function" then
      check_function(v, modname .. "." .. key, key, owner, root, missing)
    elseif type(v) == "table" and key:match("^%u") then
      -- An exported class: its functions and methods (raw fields only).
      for _, k2 in ipairs(sorted_keys(v)) do
        local f = rawget(v, k2)
        if type(f) == "function" then
          check_function(f, modname .. "." .. key .. "." .. k2, k2, owner, root, missing)
        end
      end
    end
  end
  return missing
end

-- The ---@field names of the comment block starting at the `---@class <class>` line.
local function class_fields(path, class)
  local lines = lines_of(path)
  for i, line in ipairs(lines) do
    if line:match("^%-%-%-@class%s+" .. class:gsub("%.", "%%.") .. "%f[^%w_.]") then
      local fields = {}
      local j = i + 1
      while lines[j] and lines[j]:match("^%-%-%-") do
        if lines[j]:match("^%-%-%-@class") then break end
        local f = lines[j]:match("^%-%-%-@field%s+([%w_]+)")
        if f then fields[f] = true end
        j = j + 1
      end
      return fields
    end
  end
  return nil
end

local function report(missing)
  table.sort(missing)
  return #missing .. " without an annotation:\n  " .. table.concat(missing, "\n  ")
end

describe("LuaLS annotations", function()
  local modules = hand_written_modules()

  it("covers every hand-written module under lua/ecs (and notices a new one)", function()
    assert.are.equal(HAND_WRITTEN_COUNT, #modules,
      "hand-written modules changed; update HAND_WRITTEN_COUNT after annotating:\n  "
        .. table.concat(modules, "\n  "))
    local names = {}
    for _, path in ipairs(modules) do names[path] = true end
    assert.is_true(names["lua/ecs/client.lua"], "client.lua is a hand-written module")
    assert.is_nil(names["lua/ecs/api/generated/ecs_2014_05_26.lua"], "the generated model is not checked")
    assert.is_true(is_generated("lua/ecs/api/generated/ecs_2014_05_26.lua"), "the model's first line says Generated")
  end)

  it("annotates every exported function and method of the hand-written modules", function()
    local missing = {}
    for _, path in ipairs(modules) do
      local name = module_name(path)
      local ok, mod = pcall(require, name)
      if not ok then
        missing[#missing + 1] = ("%s (cannot require %s: %s)"):format(path, name, tostring(mod))
      elseif type(mod) == "table" then
        for _, m in ipairs(check_module(mod, name, path, ROOT)) do missing[#missing + 1] = m end
      end
    end
    assert(#missing == 0, report(missing))
  end)

  it("annotates every top-level function statement, exported or not (e.g. the transport's methods)",
    function()
      local missing = {}
      for _, path in ipairs(modules) do
        for n, line in ipairs(lines_of(path)) do
          local name = line:match("^function%s+([%w_]+[.:][%w_]+)%s*%(")
            or line:match("^([%w_]+%.[%w_]+)%s*=%s*function%s*%(")
          if name and not name:match("[.:]_") and not annotated_at(path, n) then
            missing[#missing + 1] = ("%s:%d %s"):format(path, n, name)
          end
        end
      end
      assert(#missing == 0, report(missing))
    end)

  it("lists the ecs module's plain values and re-exports as ---@field of class ecs", function()
    local ecs = require "ecs"
    local fields = class_fields("lua/ecs/init.lua", "ecs")
    assert.is_table(fields, "no ---@class ecs in lua/ecs/init.lua")
    local missing = {}
    for _, key in ipairs(sorted_keys(ecs)) do
      local v = ecs[key]
      local info = type(v) == "function" and debug.getinfo(v, "S")
      local local_fn = info and info.source:sub(1, 1) == "@"
        and normalize(info.source:sub(2)) == "lua/ecs/init.lua"
      if not local_fn and not fields[key] then
        missing[#missing + 1] = ("lua/ecs/init.lua ecs.%s (%s: no ---@field)"):format(key, type(v))
      end
    end
    assert(#missing == 0, report(missing))
  end)

  it("declares the shared classes", function()
    local missing = {}
    for path, classes in pairs {
      ["lua/ecs/init.lua"] = { "ecs" },
      ["lua/ecs/scheduler.lua"] = { "ecs.Task" },
      ["lua/ecs/errors.lua"] = { "ecs.Error" },
      ["lua/ecs/paginate.lua"] = { "ecs.PaginateOptions" },
      ["lua/ecs/waiters.lua"] = { "ecs.WaiterOptions", "ecs.WaitOptions", "ecs.InstanceWaitSpec",
        "ecs.DiskWaitSpec", "ecs.SnapshotWaitSpec", "ecs.ImageWaitSpec" },
      ["lua/ecs/transport/curl.lua"] = { "ecs.Transport" },
    } do
      for _, class in ipairs(classes) do
        if not class_fields(path, class) then missing[#missing + 1] = path .. " ---@class " .. class end
      end
    end
    assert(#missing == 0, "missing class declarations:\n  " .. table.concat(missing, "\n  "))
  end)

  it("documents every field an ecs.Error carries", function()
    local fields = class_fields("lua/ecs/errors.lua", "ecs.Error")
    assert.is_table(fields, "no ---@class ecs.Error in lua/ecs/errors.lua")
    local wanted = {}
    for _, f in ipairs { "code", "message", "request_id", "http_status", "retryable", "attempts" } do
      wanted[f] = "required"
    end
    -- And whatever the code sets: err.x = ..., err.x, err.y = ..., and the
    -- fields of errors.new { ... } / M.new { ... } tables.
    for _, path in ipairs(modules) do
      local text = text_of(path)
      for f in text:gmatch("err%.([%a_]+)%s*=[^=]") do wanted[f] = wanted[f] or path end
      for f in text:gmatch("err%.([%a_]+)%s*,%s*err%.[%a_]+%s*=[^=]") do wanted[f] = wanted[f] or path end
      for body in text:gmatch("[%w_]%.new%s*(%b{})") do
        for f in body:gmatch("([%a_][%w_]*)%s*=[^=]") do wanted[f] = wanted[f] or path end
      end
    end
    local missing = {}
    for f, where in pairs(wanted) do
      if not fields[f] then missing[#missing + 1] = f .. " (" .. where .. ")" end
    end
    table.sort(missing)
    assert(#missing == 0, "ecs.Error lacks ---@field for: " .. table.concat(missing, ", "))
  end)

  it("the checker itself reports unannotated functions", function()
    local p = assert(io.popen("mktemp -d"))
    local dir = normalize(p:read("l"))
    p:close()
    local function write(name, text)
      local f = assert(io.open(dir .. "/" .. name, "w"))
      f:write(text)
      f:close()
      return dir .. "/" .. name
    end
    local origin = write("origin.lua", [[
local O = {}
function O.plain() end
---@return nil
function O.typed() end
function O.fielded() end
return O
]])
    local path = write("fake.lua", ([[
---@class fake
---@field clock fun(): number
---@field fielded fun()
local M = {}
M.clock = os.clock
M.time = os.time
--- Documented, but no annotation.
function M.bare(x) return x end
---@param x number
---@return number
function M.good(x) return x end
local Obj = {}
Obj.__index = Obj
M.Obj = Obj
function Obj:method() end
---@return nil
function Obj:fine() end
function Obj:__tostring() return "" end
function M._private() end
local O = dofile(%q)
M.plain, M.typed, M.fielded = O.plain, O.typed, O.fielded
M.outside = require("ecs.util").copy
return M
]]):format(origin))
    local mod = assert(loadfile(path))()
    local missing = check_module(mod, "fake", path, dir)
    os.remove(origin)
    os.remove(path)
    os.remove(dir)
    table.sort(missing)
    local expected = {
      path .. ":8 fake.bare",
      path .. ":15 fake.Obj.method",
      path .. " fake.time (C function: no ---@field time)",
      origin .. ":2 fake.plain (re-exported by " .. path .. ": no ---@field plain there either)",
      -- From outside the root (here lua/ecs/util.lua) a ---@field is required.
      path .. " fake.outside (defined in lua/ecs/util.lua: no ---@field outside)",
    }
    table.sort(expected)
    assert.are.same(expected, missing)
    assert.is_truthy(report(missing):find(path .. ":8 fake.bare", 1, true))
  end)
end)
