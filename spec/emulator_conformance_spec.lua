-- The official Alibaba Cloud Node.js SDKs (pinned in spec/conformance/package.json) against
-- the emulator: pop-core for signature v1, @alicloud/ecs20140526 for v3 (ACS3-HMAC-SHA256).
-- Installs them from the lock file (npm ci) into spec/conformance/node_modules (ignored) when
-- missing; tools/install-deps provides node and npm, so their absence is a failure, not a skip.
local E = require "support.emulator"
local cjson = require "cjson"

local DIR = E.ROOT .. "/spec/conformance"

local function have(cmd)
  local _, rc = E.sh("command -v " .. cmd .. " >/dev/null 2>&1")
  return rc == 0
end

describe("official SDK conformance", function()
  local results

  local function ensure_results()
    if results then return results end
    local _, present = E.sh("test -d " .. E.shq(DIR .. "/node_modules/@alicloud/ecs20140526") ..
      " && test -d " .. E.shq(DIR .. "/node_modules/@alicloud/pop-core"))
    if present ~= 0 then
      local out, rc = E.sh("cd " .. E.shq(DIR) .. " && npm ci --no-audit --no-fund --ignore-scripts 2>&1")
      if rc ~= 0 then
        error("npm ci in spec/conformance failed (is the npm registry reachable?):\n" .. out, 0)
      end
    end
    E.reset({ speed = 0 })
    local out, rc = E.sh("cd " .. E.shq(DIR) .. " && node sdk_check.js " .. E.shq(E.endpoint) .. " 2>&1")
    assert(rc == 0, "sdk_check.js failed:\n" .. out)
    results = cjson.decode(out:match("(%b{})%s*$"))
    return results
  end

  it("has node and npm to run the official SDKs (tools/install-deps installs them)", function()
    assert.is_true(have("node"), "node is not installed: run tools/install-deps")
    assert.is_true(have("npm"), "npm is not installed: run tools/install-deps")
  end)

  after_each(function() E.reset() end)

  local function ok(name)
    local r = ensure_results()[name]
    assert.is_table(r, "no result for " .. name)
    assert.is_true(r.ok, name .. " failed: " .. tostring(r.code) .. " " .. tostring(r.message))
    return r.value
  end
  local function err(name)
    local r = ensure_results()[name]
    assert.is_table(r, "no result for " .. name)
    assert.is_false(r.ok, name .. " should have failed")
    return r.code, r.message
  end

  it("pop-core (v1) calls DescribeRegions over GET and POST", function()
    assert.are.equal(18, ok("v1_GET_DescribeRegions"))
    assert.are.equal(18, ok("v1_POST_DescribeRegions"))
  end)

  it("pop-core (v1) creates a security group, runs and describes tagged instances", function()
    for _, m in ipairs { "GET", "POST" } do
      local v = ok("v1_" .. m .. "_RunInstances")
      assert.are.equal(2, v.created)
      assert.are.equal(2, v.described)
      assert.are.equal("Running", v.status)
    end
  end)

  it("pop-core (v1) sees the service's error codes", function()
    assert.are.equal("InvalidAction", err("v1_InvalidAction"))
    local code, msg = err("v1_wrong_secret")
    assert.are.equal("SignatureDoesNotMatch", code)
    assert.matches("server string to sign is:GET&%2F&", msg, 1, true)
    assert.are.equal(18, ok("v1_sts"))
  end)

  it("@alicloud/ecs20140526 (v3) runs the instance lifecycle with both paging modes", function()
    assert.are.equal(18, ok("v3_DescribeRegions"))
    local v = ok("v3_lifecycle")
    assert.are.equal(12, v.created)
    assert.are.equal(12, v.seen)
    assert.are.equal(2, v.pages)
    assert.are.equal(2, v.page3)
    assert.are.equal(12, v.total)
    assert.are.equal("Stopped", v.stopped)
    assert.are.equal(2, v.disks)
    assert.are.equal(0, v.left)
  end)

  it("@alicloud/ecs20140526 (v3) tags, images, STS and errors", function()
    assert.are.equal(1, ok("v3_tags"))
    local img = ok("v3_images")
    assert.are.equal("m-emu0family0new0002", img.family)
    assert.truthy(img.types > 0)
    assert.are.equal(18, ok("v3_sts"))
    assert.are.equal("SignatureDoesNotMatch", err("v3_wrong_secret"))
    assert.are.equal("IncorrectInstanceStatus", err("v3_IncorrectInstanceStatus"))
  end)
end)
