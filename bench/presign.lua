-- Prints a signed DescribeRegions request for wrk: the URL on the first line,
-- then one "name: value" header per line (v3 signs headers, v1 only the URL).
-- Replaying it needs the emulator's nonce check off (--no-nonce-check).
--   lua5.4 bench/presign.lua ENDPOINT v1|v3
local common = require "bench.common"
local client = common.client(assert(arg[1], "usage: presign.lua ENDPOINT v1|v3"),
  { signature_version = arg[2] or "v1" })
local req = client:prepare("DescribeRegions", {})
print(req.url)
local names = {}
for name in pairs(req.headers) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  -- wrk sets Host itself (the same value); a second one would be a bad request.
  if name ~= "host" then print(name .. ": " .. req.headers[name]) end
end
