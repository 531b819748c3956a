-- Every simulated action, by name. Each module returns only actions ({ run = function(ctx, p),
-- static = true|nil }); what they share lives below them (emu.model.*, emu.describe, emu.args).
-- ctx: { action, ak, dry_run, S (the worker's store), commit() (DryRunOperation on a dry run: called
-- once the checks have passed, before anything changes) }; p: the parameters parsed by emu.params.
local params = require "emu.params"

local MODULES = { "regions", "images", "network", "instances.launch", "instances.lifecycle",
  "instances.describe", "disks", "tags" }

local A = {}
for _, mod in ipairs(MODULES) do
  for name, def in pairs(require("emu.actions." .. mod)) do
    if type(def) ~= "table" or type(def.run) ~= "function" then
      error("emu.actions." .. mod .. " exports " .. tostring(name) .. ", which is not an action", 0)
    end
    if not params.known(name) then error("emu.actions." .. mod .. ": " .. name .. " is not an ECS action", 0) end
    if A[name] then error("emu.actions." .. mod .. ": " .. name .. " is defined twice", 0) end
    A[name] = def
  end
end
return A
