-- Signs a real ECS request without sending it: the URL that DescribeInstances
-- would fetch for the instances tagged env=demo, in both signature versions.
-- Run: make demo (or lua5.4 examples/sign_request.lua with LUA_PATH/LUA_CPATH set).
local ecs = require "ecs"

local client = ecs.client {
  region = "cn-hangzhou",
  access_key_id = os.getenv("ALIBABA_CLOUD_ACCESS_KEY_ID") or "testid",
  access_key_secret = os.getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET") or "testsecret",
}
print(client)

local params = {
  RegionId = "cn-hangzhou",
  Status = "Running",
  Tag = { { Key = "env", Value = "demo" } },
  MaxResults = 100,
}

local req, string_to_sign = client:prepare("DescribeInstances", params)
print("\nv1 (HMAC-SHA1) string to sign:\n  " .. string_to_sign)
print("GET " .. req.url)

local v3 = ecs.client { region = "cn-hangzhou", signature_version = "v3", method = "POST",
  access_key_id = "testid", access_key_secret = "testsecret" }
req = v3:prepare("DescribeInstances", params)
print("\nv3 (ACS3-HMAC-SHA256): " .. req.method .. " " .. req.url)
local names = {}
for name in pairs(req.headers) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do print("  " .. name .. ": " .. req.headers[name]) end
print("  body: " .. req.body)
