-- The control API under /__emulator/: reset, settings, quotas, faults, stats, last parameters.
local E = require "support.emulator"

local R = "cn-hangzhou"
local function code(res) return res.json and res.json.Code end

describe("emulator control API", function()
  before_each(function() E.reset({ speed = 0 }) end)
  after_each(function() E.reset() end)

  it("reports health and settings", function()
    local st, j = E.control("GET", "health")
    assert.are.equal(200, st)
    assert.is_true(j.ok)
    assert.are.equal(0, j.settings.speed)
  end)

  it("reset drops every resource and counter", function()
    local sg = E.ok("CreateSecurityGroup", { RegionId = R }).SecurityGroupId
    assert.are.equal(1, E.ok("DescribeSecurityGroups", { RegionId = R }).TotalCount)
    E.reset()
    assert.are.equal(0, E.ok("DescribeSecurityGroups", { RegionId = R }).TotalCount)
    assert.are.equal("InvalidSecurityGroupId.NotFound", code(E.call("DeleteSecurityGroup", { RegionId = R, SecurityGroupId = sg })))
    assert.is_nil(E.stats().created.securitygroup)
  end)

  it("config validates and applies settings", function()
    local st, j = E.control("POST", "config", { speed = 2.5 })
    assert.are.equal(200, st)
    assert.are.equal(2.5, j.speed)
    assert.are.equal(400, (E.control("POST", "config", { speed = -1 })))
    assert.are.equal(400, (E.control("POST", "config", { warp = 9 })))
    assert.are.equal(400, (E.control("POST", "config", { nonce_check = "no" })))
  end)

  it("nonce_check=false (benchmarks only) lets the same signed request repeat", function()
    E.control("POST", "config", { nonce_check = false })
    local req = E.prepare("DescribeRegions", {})
    for _ = 1, 3 do assert.are.equal(200, E.send(req).status) end
    E.control("POST", "config", { nonce_check = true })
    assert.are.equal(200, E.send(E.prepare("DescribeRegions", {}, { pin = { nonce = "fixed-nonce" } })).status)
    assert.are.equal("SignatureNonceUsed", code(E.send(E.prepare("DescribeRegions", {}, { pin = { nonce = "fixed-nonce" } }))))
  end)

  describe("quotas", function()
    it("throttle per AccessKey x action with Throttling.User and x-acs-retry-after", function()
      local st = E.control("POST", "quotas", { action = "DescribeRegions", rate = 0.5, burst = 2 })
      assert.are.equal(200, st)
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
      local res = E.call("DescribeRegions", {})
      assert.are.equal(400, res.status)
      assert.are.equal("Throttling.User", code(res))
      local wait = tonumber(res.headers["x-acs-retry-after"])
      assert.truthy(wait and wait > 0 and wait <= 2000, tostring(wait))
      -- other actions and other keys are not affected
      assert.are.equal(200, E.call("DescribeZones", { RegionId = R }).status)
      assert.are.equal(200, E.call("DescribeRegions", {}, { id = "STS.testid", secret = "stssecret", token = "ststoken" }).status)
      local s = E.stats()
      assert.are.equal(1, s.throttled)
      assert.are.equal(1, s.results.DescribeRegions["Throttling.User"])
      E.control("DELETE", "quotas")
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
    end)

    it("refill over time", function()
      E.control("POST", "quotas", { action = "*", rate = 20, burst = 1 })
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
      local res = E.call("DescribeRegions", {})
      if res.status == 400 then
        assert.are.equal("Throttling.User", code(res))
        E.sh("sleep 0.1")
      end
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
    end)
  end)

  describe("faults", function()
    local function fault(t)
      local st, j = E.control("POST", "faults", t)
      assert.are.equal(200, st, j and j.error)
    end

    it("503 ServiceUnavailable and 500 InternalError, by action, a counted number of times", function()
      fault { action = "DescribeRegions", kind = "503", rate = 1, count = 1 }
      fault { action = "DescribeZones", kind = "500", rate = 1, count = 2 }
      local res = E.call("DescribeRegions", {})
      assert.are.equal(503, res.status)
      assert.are.equal("ServiceUnavailable", code(res))
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
      res = E.call("DescribeZones", { RegionId = R })
      assert.are.equal(500, res.status)
      assert.are.equal("InternalError", code(res))
      assert.are.equal(500, E.call("DescribeZones", { RegionId = R }).status)
      assert.are.equal(200, E.call("DescribeZones", { RegionId = R }).status)
      local s = E.stats()
      assert.are.equal(1, s.faults["503"])
      assert.are.equal(2, s.faults["500"])
    end)

    it("a rate between 0 and 1 hits some requests", function()
      fault { action = "DescribeRegions", kind = "503", rate = 0.5 }
      local hit = 0
      for _ = 1, 30 do if E.call("DescribeRegions", {}).status == 503 then hit = hit + 1 end end
      assert.truthy(hit > 3 and hit < 27, tostring(hit))
    end)

    it("connection reset: no reply at all", function()
      fault { kind = "reset", count = 1 }
      local res = E.call("DescribeRegions", {})
      assert.are_not.equal(0, res.curl_rc)
      assert.is_true(res.status == nil or res.status == 0)
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
    end)

    it("truncated body: fewer bytes than Content-Length announces", function()
      fault { kind = "truncated", count = 1 }
      local res = E.call("DescribeRegions", {})
      assert.are_not.equal(0, res.curl_rc)
      local announced = tonumber(res.headers["content-length"])
      assert.truthy(announced and #res.body < announced)
      assert.is_nil(res.json)
    end)

    it("slow response", function()
      fault { kind = "slow", delay_ms = 400, count = 1 }
      local res = E.call("DescribeRegions", {})
      assert.are.equal(200, res.status)
      assert.truthy(res.time >= 0.35, tostring(res.time))
    end)

    it("lost response: the action takes effect, the reply is dropped", function()
      local sg = E.ok("CreateSecurityGroup", { RegionId = R }).SecurityGroupId
      fault { action = "RunInstances", kind = "lost", count = 1 }
      local res = E.call("RunInstances", { RegionId = R, ImageId = "ubuntu_22_04_x64_20G_alibase_20240130.vhd",
        InstanceType = "ecs.g6.large", SecurityGroupId = sg, ClientToken = "lost-1" })
      assert.are_not.equal(0, res.curl_rc)
      assert.are.equal(1, E.ok("DescribeInstances", { RegionId = R }).TotalCount)
      -- the retry with the same ClientToken gets the first result
      local again = E.ok("RunInstances", { RegionId = R, ImageId = "ubuntu_22_04_x64_20G_alibase_20240130.vhd",
        InstanceType = "ecs.g6.large", SecurityGroupId = sg, ClientToken = "lost-1" })
      assert.are.equal(1, #again.InstanceIdSets.InstanceIdSet)
      assert.are.equal(1, E.ok("DescribeInstances", { RegionId = R }).TotalCount)
      local s = E.stats()
      assert.are.equal(1, s.faults.lost)
      assert.are.equal(1, s.client_token_replays)
    end)

    it("rejects unknown kinds and clears with DELETE", function()
      assert.are.equal(400, (E.control("POST", "faults", { kind = "meteor" })))
      assert.are.equal(400, (E.control("POST", "faults", { kind = "503", rate = 2 })))
      fault { kind = "503" }
      local _, list = E.control("GET", "faults")
      assert.are.equal(1, #list)
      E.control("DELETE", "faults")
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
    end)
  end)

  it("stats count requests and results per action and resources created", function()
    E.ok("DescribeRegions", {})
    E.ok("DescribeRegions", {})
    E.call("DescribeZones", {})
    E.ok("CreateSecurityGroup", { RegionId = R })
    local s = E.stats()
    assert.are.equal(2, s.requests.DescribeRegions)
    assert.are.equal(2, s.results.DescribeRegions.OK)
    assert.are.equal(1, s.results.DescribeZones["MissingParameter.RegionId"])
    assert.are.equal(1, s.created.securitygroup)
    assert.are.equal(4, s.total_requests)
  end)

  it("keeps the last request's parameters per action", function()
    E.ok("DescribeInstances", { RegionId = R, PageSize = 7, Tag = { { Key = "a", Value = "b" } } }, { v = "v3", method = "POST" })
    local l = E.last("DescribeInstances")
    assert.are.equal("7", l.params.PageSize)
    assert.are.equal("a", l.params["Tag.1.Key"])
    assert.are.equal("v3", l.signature_version)
    assert.are.equal("POST", l.method)
    local st = E.control("GET", "last/DescribeDisks")
    assert.are.equal(404, st)
  end)

  it("dumps state for debugging", function()
    E.ok("CreateSecurityGroup", { RegionId = R })
    local st, j = E.control("GET", "state")
    assert.are.equal(200, st)
    assert.are.equal(1, #j.sgs)
    assert.truthy(#j.vpcs >= 1)
  end)
end)
