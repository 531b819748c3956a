-- Every simulated action, by name (modules may also export helpers: only tables with run count).
local A = {}
for _, mod in ipairs { "regions", "images", "network", "instances", "disks", "tags" } do
  local m = require("emu.actions." .. mod)
  for name, def in pairs(m) do
    if type(def) == "table" and type(def.run) == "function" then A[name] = def end
  end
end
return A
