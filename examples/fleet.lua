-- A fleet workflow written as coroutines: launch a batch of servers at
-- once, wait until they all run, tag them, list them page by page, then stop
-- and delete them. `make demo` runs it against the local emulator:
--   ECS_ENDPOINT=http://127.0.0.1:PORT  ALIBABA_CLOUD_ACCESS_KEY_ID=testid  ...
-- Without ECS_ENDPOINT it talks to the real service: it creates and deletes
-- pay-as-you-go instances in your account.
local ecs = require "ecs"

local BATCHES, PER_BATCH = 4, 3 -- 12 servers, launched by 4 concurrent RunInstances
local IMAGE = "debian_12_4_x64_20G_alibase_20240126.vhd"
local TYPE = "ecs.t6-c1m1.large"

local client = ecs.client {
  region = os.getenv("ALIBABA_CLOUD_REGION_ID") or "cn-hangzhou",
  endpoint = os.getenv("ECS_ENDPOINT"),
}
local started = ecs.now()
local function say(fmt, ...) print(("%5.2fs  " .. fmt):format(ecs.now() - started, ...)) end

-- Calls that must succeed: stop the workflow with the service's message otherwise.
local function must(res, err)
  if not res then error(tostring(err), 2) end
  return res
end

-- Waiting prints progress: each poll shows how many instances are in which state.
local function progress(target)
  return { interval = 0.5, call = { on_response = function(info)
    say("polled %s for %s (attempt %d, %.0f ms)", info.action, target, info.attempt, info.latency * 1000)
  end } }
end

ecs.run(function()
  say("client %s", tostring(client))

  local sg = must(client:CreateSecurityGroup {
    SecurityGroupName = "fleet-demo", Description = "lua-ecs fleet demo",
  }).SecurityGroupId
  must(client:AuthorizeSecurityGroup {
    SecurityGroupId = sg, IpProtocol = "tcp", PortRange = "22/22", SourceCidrIp = "0.0.0.0/0",
  })
  say("security group %s allows ssh", sg)

  -- Launch the batches concurrently: each task is one RunInstances call.
  local launches = {}
  for b = 1, BATCHES do
    launches[b] = ecs.spawn(function()
      local res = must(client:RunInstances {
        ImageId = IMAGE, InstanceType = TYPE, SecurityGroupId = sg, Amount = PER_BATCH,
        InstanceName = ("fleet-%d-"):format(b), UniqueSuffix = true,
        InstanceChargeType = "PostPaid", InternetMaxBandwidthOut = 1,
        Tag = { { Key = "batch", Value = tostring(b) } },
      })
      say("batch %d launched: %s", b, table.concat(res.InstanceIdSets.InstanceIdSet, " "))
      return res.InstanceIdSets.InstanceIdSet
    end)
  end
  local ids = {}
  for _, t in ipairs(launches) do
    for _, id in ipairs(must(t:wait())) do ids[#ids + 1] = id end
  end
  say("%d instances launched; waiting until they run", #ids)
  must(client:wait_instances({ InstanceIds = ids, Status = "Running" }, progress("Running")))
  say("all %d running", #ids)

  must(client:TagResources {
    ResourceType = "instance", ResourceId = ids,
    Tag = { { Key = "app", Value = "fleet-demo" }, { Key = "owner", Value = "lua-ecs" } },
  })
  say("tagged app=fleet-demo")

  -- List the tagged fleet, 5 a page: after the first page the others are
  -- fetched concurrently, and the items still come out in order.
  local names, pages = {}, 0
  local lister = ecs.client {
    region = client.region, endpoint = os.getenv("ECS_ENDPOINT"),
    on_response = function() pages = pages + 1 end,
  }
  local filter = { PageSize = 5, Tag = { { Key = "app", Value = "fleet-demo" } } }
  for inst in lister:paginate("DescribeInstances", filter, { mode = "page" }) do
    names[#names + 1] = inst.InstanceName
  end
  say("listed %d instances in %d pages: %s", #names, pages, table.concat(names, " "))
  assert(#names == #ids, "listing missed instances")

  -- Stop everything at once, then delete each instance concurrently.
  must(client:StopInstances { InstanceId = ids })
  must(client:wait_instances({ InstanceIds = ids, Status = "Stopped" }, progress("Stopped")))
  local deletions = {}
  for i, id in ipairs(ids) do
    deletions[i] = ecs.spawn(function() return must(client:DeleteInstance { InstanceId = id }) end)
  end
  for _, t in ipairs(deletions) do must(t:wait()) end
  must(client:wait_instances({ InstanceIds = ids, Status = "Deleted" }, { interval = 0.5 }))
  say("deleted %d instances", #ids)
  must(client:DeleteSecurityGroup { SecurityGroupId = sg })
  say("deleted security group %s", sg)
end)

print(("\nsummary: %d instances launched in %d concurrent batches, run, tagged, listed, "
  .. "stopped and deleted in %.2fs"):format(BATCHES * PER_BATCH, BATCHES, ecs.now() - started))
