-- Every simulated action, by name.
local A = {}
for _, mod in ipairs { "regions", "images", "network", "instances", "disks", "tags" } do
  local ok, m = pcall(require, "emu.actions." .. mod)
  if not ok then
    if not tostring(m):find("module 'emu.actions." .. mod .. "' not found", 1, true) then error(m) end
  else
    for name, def in pairs(m) do A[name] = def end
  end
end
return A
