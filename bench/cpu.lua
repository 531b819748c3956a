-- Per-call CPU of the C path, no network: N client:prepare() and N core.sign{}
-- of a typical DescribeInstances (flatten + percent-encode + nonce + timestamp +
-- HMAC + request table), v1 and v3, timed with os.clock (process CPU time).
-- The parts (flatten, nonce, timestamp, hmac) are timed alone too.
--   lua5.4 bench/cpu.lua [N=100000]
local common = require "bench.common"
local core = require "ecs.core"

local N = tonumber(arg[1]) or 100000

local PARAMS = {
  RegionId = "cn-hangzhou",
  VpcId = "vpc-bp1opxu1zkhn00gzv26cm",
  InstanceIds = '["i-bp67acfmxazb4p****","i-bp67acfmxazb4q****","i-bp67acfmxazb4r****"]',
  Status = "Running",
  InstanceNetworkType = "vpc",
  PageSize = 50,
  Tag = { { Key = "env", Value = "prod" }, { Key = "team", Value = "web ops" } },
}

local function time(n, fn)
  collectgarbage("collect")
  local c0 = os.clock()
  for _ = 1, n do fn() end
  return (os.clock() - c0) / n * 1e6
end

local endpoint = "http://127.0.0.1:8080"
for _, version in ipairs { "v1", "v3" } do
  local client = common.client(endpoint, { signature_version = version })
  local spec = {
    version = version, method = "GET", endpoint = endpoint, host = "127.0.0.1:8080",
    action = "DescribeInstances", api_version = "2014-05-26",
    access_key_id = "testid", access_key_secret = "testsecret", params = PARAMS,
  }
  -- warm up
  time(N // 10, function() client:prepare("DescribeInstances", PARAMS) end)
  local prepare = time(N, function() client:prepare("DescribeInstances", PARAMS) end)
  local sign = time(N, function() core.sign(spec) end)
  local prepare_regions = time(N, function() client:prepare("DescribeRegions", {}) end)
  common.result("cpu-" .. version, {
    n = N, prepare_us = prepare, sign_us = sign, prepare_describe_regions_us = prepare_regions,
  })
end

-- Parts of the signing, alone.
local sts = ("GET&%2F&" .. ("AccessKeyId%3Dtestid%26"):rep(12))
common.result("cpu-parts", {
  n = N,
  flatten_us = time(N, function() core.flatten(PARAMS) end),
  nonce_us = time(N, function() core.nonce() end),
  timestamp_us = time(N, function() core.timestamp() end),
  hmac_sha1_us = time(N, function() core.hmac("sha1", "testsecret&", sts) end),
  hmac_sha256_us = time(N, function() core.hmac("sha256", "testsecret", sts) end),
})
