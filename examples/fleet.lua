-- A fleet workflow written as coroutines: launch a batch of servers at
-- once, wait until they all run, tag them, list them page by page, then stop
-- and delete them. `make demo` runs it against the local emulator:
--   ECS_ENDPOINT=http://127.0.0.1:PORT  ALIBABA_CLOUD_ACCESS_KEY_ID=testid  ...
-- Without ECS_ENDPOINT it talks to the real service: it creates and deletes
-- pay-as-you-go instances in your account.
local ecs = require "ecs"

local REGION = os.getenv("ALIBABA_CLOUD_REGION_ID") or "cn-hangzhou"
local BATCHES, PER_BATCH = 4, 3 -- 12 servers, launched by 4 concurrent RunInstances
local IMAGE = "debian_12_4_x64_20G_alibase_20240126.vhd"
local TYPE = "ecs.t6-c1m1.large"

local client = ecs.client { region = REGION, endpoint = os.getenv("ECS_ENDPOINT") }
local clock = require("ecs.core").loop()
local started = clock:now()
local function elapsed() return ("%5.2fs"):format(clock:now() - started) end
local function say(fmt, ...) print(elapsed() .. "  " .. fmt:format(...)) end

-- Calls that must succeed: stop the workflow with the service's message otherwise.
local function must(action, params)
  local res, err = client:call(action, params)
  if not res then error(tostring(err), 2) end
  return res
end

-- Polls DescribeInstances until every id has the status, printing progress.
local function wait_for(ids, status)
  local json_ids = '["' .. table.concat(ids, '","') .. '"]'
  while true do
    local res = must("DescribeInstances", { RegionId = REGION, InstanceIds = json_ids, PageSize = 100 })
    local counts, ready = {}, 0
    for _, inst in ipairs(res.Instances.Instance) do
      counts[inst.Status] = (counts[inst.Status] or 0) + 1
      if inst.Status == status then ready = ready + 1 end
    end
    local parts = {}
    for s, n in pairs(counts) do parts[#parts + 1] = s .. "=" .. n end
    table.sort(parts)
    say("waiting for %s: %s", status, table.concat(parts, " "))
    if ready == #ids then return end
    ecs.sleep(0.5)
  end
end

ecs.run(function()
  say("client %s", tostring(client))

  local sg = must("CreateSecurityGroup", {
    RegionId = REGION, SecurityGroupName = "fleet-demo", Description = "lua-ecs fleet demo",
  }).SecurityGroupId
  must("AuthorizeSecurityGroup", {
    RegionId = REGION, SecurityGroupId = sg, IpProtocol = "tcp", PortRange = "22/22", SourceCidrIp = "0.0.0.0/0",
  })
  say("security group %s allows ssh", sg)

  -- Launch the batches concurrently: each task is one RunInstances call.
  local launches = {}
  for b = 1, BATCHES do
    launches[b] = ecs.spawn(function()
      local res = must("RunInstances", {
        RegionId = REGION, ImageId = IMAGE, InstanceType = TYPE, SecurityGroupId = sg,
        Amount = PER_BATCH, InstanceName = ("fleet-%d-"):format(b), UniqueSuffix = true,
        InstanceChargeType = "PostPaid", InternetMaxBandwidthOut = 1,
        Tag = { { Key = "batch", Value = tostring(b) } },
      })
      say("batch %d launched: %s", b, table.concat(res.InstanceIdSets.InstanceIdSet, " "))
      return res.InstanceIdSets.InstanceIdSet
    end)
  end
  local ids = {}
  for _, t in ipairs(launches) do
    for _, id in ipairs(assert(t:wait())) do ids[#ids + 1] = id end
  end
  say("%d instances launched", #ids)
  wait_for(ids, "Running")

  must("TagResources", {
    RegionId = REGION, ResourceType = "instance", ResourceId = ids,
    Tag = { { Key = "app", Value = "fleet-demo" }, { Key = "owner", Value = "lua-ecs" } },
  })
  say("tagged app=fleet-demo")

  -- List the tagged fleet page by page, following NextToken.
  local token, page, seen = nil, 0, 0
  repeat
    local res = must("DescribeInstances", {
      RegionId = REGION, MaxResults = 10, NextToken = token,
      Tag = { { Key = "app", Value = "fleet-demo" } },
    })
    page = page + 1
    seen = seen + #res.Instances.Instance
    local names = {}
    for _, inst in ipairs(res.Instances.Instance) do names[#names + 1] = inst.InstanceName end
    say("page %d: %s", page, table.concat(names, " "))
    token = res.NextToken ~= "" and res.NextToken or nil
  until not token
  assert(seen == #ids, "listing missed instances")

  -- Stop everything at once, then delete each instance concurrently.
  must("StopInstances", { RegionId = REGION, InstanceId = ids })
  wait_for(ids, "Stopped")
  local deletions = {}
  for i, id in ipairs(ids) do
    deletions[i] = ecs.spawn(function() return must("DeleteInstance", { InstanceId = id }) end)
  end
  for _, t in ipairs(deletions) do assert(t:wait()) end
  say("deleted %d instances", #ids)
  must("DeleteSecurityGroup", { RegionId = REGION, SecurityGroupId = sg })
  say("deleted security group %s", sg)
end)

print(("\nsummary: %d instances launched in %d concurrent batches, run, tagged, listed, "
  .. "stopped and deleted in %s"):format(BATCHES * PER_BATCH, BATCHES, elapsed():gsub("^%s+", "")))
