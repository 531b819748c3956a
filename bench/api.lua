-- The API model and helpers: validation CPU per call, the time of require "ecs"
-- (and that it does not load the model), and the memory of the model and of
-- compiled action shapes. No network.
--
--   lua5.4 bench/api.lua [N=100000] [RUNS=11]
--     validation: N x validate.params(api.action("DescribeInstances"), params, "cn-hangzhou")
--       with Status, InstanceIds (JSON list), Tag (repeated list of objects),
--       MaxResults; os.clock. Target <= 10 us per call. RunInstances too (for reference).
--     require: RUNS fresh processes, each timing require "ecs" with os.clock
--       (CPU) and core-free wall time; the median. Target <= 20 ms.
--     memory: collectgarbage("count") after a full GC, in a fresh process:
--       after require "ecs", after loading the model file, after compiling the
--       shape of DescribeInstances, of RunInstances, and of all actions.
--   lua5.4 bench/api.lua require-once   (one measurement, used by the above)
--   lua5.4 bench/api.lua memory-once    (the memory steps, used by the above)
local mode = arg[1]

local function kb() collectgarbage("collect"); collectgarbage("collect"); return collectgarbage("count") end

if mode == "require-once" then
  -- Nothing loaded before the clock starts but what the interpreter has.
  local c0 = os.clock()
  local ecs = require "ecs"
  local cpu = os.clock() - c0
  local model_loaded = package.loaded["ecs.api.generated.ecs_2014_05_26"] ~= nil
  local api_loaded = package.loaded["ecs.api"] ~= nil
  io.write(("%.6f %s %s %s\n"):format(cpu, tostring(model_loaded), tostring(api_loaded), ecs.version))
  return
end

if mode == "memory-once" then
  local base = kb()
  require "ecs"
  local after_ecs = kb()
  local api = require "ecs.api"
  local validate = require "ecs.api.validate"
  local after_api = kb()
  assert(api.has("DescribeInstances")) -- loads the model file, compiles nothing
  local after_model = kb()
  assert(api.action("DescribeInstances"))
  local after_di = kb()
  assert(api.action("RunInstances"))
  local after_ri = kb()
  local names = api.actions()
  for _, name in ipairs(names) do assert(api.action(name), name) end
  local after_all = kb()
  local _ = validate
  io.write(("%.1f %.1f %.1f %.1f %.1f %.1f %.1f %d\n"):format(base, after_ecs, after_api, after_model,
    after_di, after_ri, after_all, #names))
  return
end

local common = require "bench.common"
local N = tonumber(mode) or 100000
local RUNS = tonumber(arg[2]) or 11
local lua = arg[-1] or "lua5.4"
local script = arg[0]

-------------------------------------------------------------- validation
local api = require "ecs.api"
local validate = require "ecs.api.validate"

local DI = {
  Status = "Running",
  InstanceIds = { "i-bp67acfmxazb4p0001", "i-bp67acfmxazb4p0002", "i-bp67acfmxazb4p0003" },
  Tag = { { Key = "env", Value = "prod" }, { Key = "team", Value = "web ops" } },
  MaxResults = 50,
}
local RI = {
  ImageId = "debian_12_4_x64_20G_alibase_20240126.vhd", InstanceType = "ecs.g6.large",
  SecurityGroupId = "sg-bp1fg655nh68xyz9****", VSwitchId = "vsw-bp1s5fnvk4gn2tws0****",
  InstanceName = "web-[1,4]", Amount = 4, InternetMaxBandwidthOut = 10,
  SystemDisk = { Category = "cloud_essd", Size = 40 },
  DataDisk = { { Category = "cloud_essd", Size = 100, DeleteWithInstance = true } },
  Tag = { { Key = "env", Value = "prod" } },
}

local function time(n, fn)
  fn(n // 10)
  collectgarbage("collect")
  local c0 = os.clock()
  fn(n)
  return (os.clock() - c0) / n * 1e6
end

local di_shape, ri_shape = api.action("DescribeInstances"), api.action("RunInstances")
local out = validate.params(di_shape, DI, "cn-hangzhou")
assert(out.RegionId == "cn-hangzhou" and out.InstanceIds:sub(1, 1) == "[", "unexpected validate output")
local v_di = time(N, function(k) for _ = 1, k do validate.params(di_shape, DI, "cn-hangzhou") end end)
local v_di_lookup = time(N, function(k)
  for _ = 1, k do validate.params(api.action("DescribeInstances"), DI, "cn-hangzhou") end end)
local v_ri = time(N, function(k) for _ = 1, k do validate.params(ri_shape, RI, "cn-hangzhou") end end)
local v_empty = time(N, function(k) for _ = 1, k do validate.params(di_shape, {}, "cn-hangzhou") end end)
-- Where the time goes, for DescribeInstances: the JSON encode of InstanceIds and
-- the copy-and-check of the Tag list, each alone.
local cjson = require("cjson").new()
local ids = DI.InstanceIds
local p_json = time(N, function(k) for _ = 1, k do cjson.encode(ids) end end)
local only_tag = { Tag = DI.Tag }
local p_tag = time(N, function(k) for _ = 1, k do validate.params(di_shape, only_tag, "cn-hangzhou") end end)
local only_scalars = { Status = "Running", MaxResults = 50 }
local p_scalars = time(N, function(k) for _ = 1, k do validate.params(di_shape, only_scalars, "cn-hangzhou") end end)
local only_ids = { InstanceIds = ids }
local p_ids = time(N, function(k) for _ = 1, k do validate.params(di_shape, only_ids, "cn-hangzhou") end end)

print(("validation per call, N=%d, os.clock (µs):"):format(N))
print(("  DescribeInstances {Status, InstanceIds x3, Tag x2, MaxResults}  %6.2f  (target <= 10) %s"):format(
  v_di_lookup, v_di_lookup <= 10 and "ok" or "MISSED"))
print(("    the same with the shape held (no api.action lookup)            %6.2f"):format(v_di))
print(("    parts: {} %.2f, {Status, MaxResults} %.2f, {InstanceIds} %.2f (cjson.encode alone %.2f), {Tag} %.2f"):format(
  v_empty, p_scalars, p_ids, p_json, p_tag))
print(("  RunInstances, 11 parameters incl. SystemDisk, DataDisk x1, Tag x1   %6.2f"):format(v_ri))

-------------------------------------------------------------- require
local function popen_line(cmd)
  local p = assert(io.popen(cmd))
  local line = p:read("l")
  local ok = p:close()
  assert(ok and line, "failed: " .. cmd)
  return line
end
local env = ("LUA_PATH=%q LUA_CPATH=%q "):format(package.path, package.cpath)
local cpus, model_loaded, api_loaded = {}, false, false
local walls = {}
for _ = 1, RUNS do
  local t0 = common.now()
  local line = popen_line(env .. lua .. " " .. script .. " require-once")
  walls[#walls + 1] = common.now() - t0
  local cpu, m, a = line:match("^(%S+) (%S+) (%S+)")
  cpus[#cpus + 1] = tonumber(cpu)
  model_loaded = model_loaded or m == "true"
  api_loaded = api_loaded or a == "true"
end
table.sort(cpus)
table.sort(walls)
local req_ms = cpus[(#cpus + 1) // 2] * 1000
-- The interpreter alone, for the process wall time.
local bare = {}
for _ = 1, RUNS do
  local t0 = common.now()
  popen_line(lua .. " -e 'print(1)'")
  bare[#bare + 1] = common.now() - t0
end
table.sort(bare)
print(("require \"ecs\" (os.clock in a fresh process, median of %d): %.2f ms (min %.2f, max %.2f) (target <= 20) %s"):format(
  RUNS, req_ms, cpus[1] * 1000, cpus[#cpus] * 1000, req_ms <= 20 and "ok" or "MISSED"))
print(("  model loaded by require \"ecs\": %s (target: no) %s; ecs.api loaded: %s"):format(
  tostring(model_loaded), model_loaded and "MISSED" or "ok", tostring(api_loaded)))
print(("  whole process (lua5.4 + require \"ecs\") %.1f ms wall vs the bare interpreter %.1f ms (medians)"):format(
  walls[(#walls + 1) // 2] * 1000, bare[(#bare + 1) // 2] * 1000))

-------------------------------------------------------------- memory
local m = {}
for v in popen_line(env .. lua .. " " .. script .. " memory-once"):gmatch("%S+") do m[#m + 1] = tonumber(v) end
local base, after_ecs, after_api, after_model, after_di, after_ri, after_all, nactions = table.unpack(m)
print("memory (collectgarbage(\"count\") after a full GC, fresh process, kB):")
print(("  interpreter %.0f; require \"ecs\" +%.0f; ecs.api + validate +%.0f; the model file +%.0f"):format(
  base, after_ecs - base, after_api - after_ecs, after_model - after_api))
print(("  shape DescribeInstances +%.1f; RunInstances +%.1f; all %d shapes +%.0f (%.2f per action)"):format(
  after_di - after_model, after_ri - after_di, nactions, after_all - after_model, (after_all - after_model) / nactions))

common.result("api", {
  validate_di_us = v_di_lookup, validate_di_held_us = v_di, validate_ri_us = v_ri,
  validate_empty_us = v_empty, part_scalars_us = p_scalars, part_ids_us = p_ids, part_json_us = p_json,
  part_tag_us = p_tag,
  require_ms = req_ms, require_min_ms = cpus[1] * 1000, require_max_ms = cpus[#cpus] * 1000,
  model_loaded_by_require = tostring(model_loaded),
  mem_base_kb = base, mem_ecs_kb = after_ecs - base, mem_api_kb = after_api - after_ecs,
  mem_model_kb = after_model - after_api, mem_shape_di_kb = after_di - after_model,
  mem_shape_ri_kb = after_ri - after_di, mem_all_shapes_kb = after_all - after_model, actions = nactions,
})
