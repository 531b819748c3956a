local endpoints = require "ecs.endpoints"

describe("ecs.endpoints", function()
  it("defaults to HTTPS ecs.<region>.aliyuncs.com", function()
    assert.are.same({ scheme = "https", host = "ecs.cn-hangzhou.aliyuncs.com",
      url = "https://ecs.cn-hangzhou.aliyuncs.com" }, endpoints.resolve("cn-hangzhou"))
  end)

  it("matches every regional endpoint listed in the reference (section 4.2)", function()
    local listed = {
      ["cn-zhangjiakou"] = "ecs.cn-zhangjiakou.aliyuncs.com", ["cn-huhehaote"] = "ecs.cn-huhehaote.aliyuncs.com",
      ["ap-northeast-1"] = "ecs.ap-northeast-1.aliyuncs.com", ["ap-southeast-2"] = "ecs.ap-southeast-2.aliyuncs.com",
      ["ap-southeast-3"] = "ecs.ap-southeast-3.aliyuncs.com", ["ap-southeast-5"] = "ecs.ap-southeast-5.aliyuncs.com",
      ["ap-south-1"] = "ecs.ap-south-1.aliyuncs.com", ["me-east-1"] = "ecs.me-east-1.aliyuncs.com",
      ["eu-central-1"] = "ecs.eu-central-1.aliyuncs.com", ["us-west-1"] = "ecs.us-west-1.aliyuncs.com",
      ["us-east-1"] = "ecs.us-east-1.aliyuncs.com", ["cn-hongkong"] = "ecs.cn-hongkong.aliyuncs.com",
      ["ap-southeast-1"] = "ecs.ap-southeast-1.aliyuncs.com",
    }
    for region, host in pairs(listed) do
      assert.are.equal(host, endpoints.resolve(region).host, region)
    end
  end)

  it("uses the built-in table for regions whose endpoint differs", function()
    assert.are.equal("ecs-cn-hangzhou.aliyuncs.com", endpoints.resolve("cn-shanghai-finance-1").host)
    assert.are.equal("ecs.aliyuncs.com", endpoints.resolve("cn-north-2-gov-1").host)
  end)

  it("takes a full URL for local endpoints and keeps the port in the host", function()
    assert.are.same({ scheme = "http", host = "127.0.0.1:8080", url = "http://127.0.0.1:8080" },
      endpoints.resolve(nil, "http://127.0.0.1:8080"))
    assert.are.equal("http://127.0.0.1:8080", endpoints.resolve("cn-hangzhou", "http://127.0.0.1:8080/").url)
    assert.are.equal("https://ecs.aliyuncs.com", endpoints.resolve(nil, "ecs.aliyuncs.com").url)
    assert.are.equal("https", endpoints.resolve(nil, "HTTPS://ecs.aliyuncs.com").scheme)
  end)

  it("rejects what cannot be an ECS endpoint", function()
    assert.has_error(function() endpoints.resolve(nil, "ftp://x") end)
    assert.has_error(function() endpoints.resolve(nil, "http://") end)
    assert.has_error(function() endpoints.resolve(nil, "http://h/path") end)
    assert.has_error(function() endpoints.resolve(nil, "http://user@h") end)
    assert.has_error(function() endpoints.resolve("cn hangzhou") end)
    assert.has_error(function() endpoints.resolve(nil) end)
  end)
end)
