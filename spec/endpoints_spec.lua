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

  it("names a scheme other than http/https, with or without both slashes", function()
    for _, e in ipairs { "htp:/127.0.0.1", "htp:127.0.0.1/", "ftp:/x", "HTP:/127.0.0.1:8080/" } do
      local scheme = e:match("^(%a+)")
      assert.has_error(function() endpoints.resolve(nil, e) end,
        "endpoint: unsupported scheme '" .. scheme .. "' (use http:// or https://)")
    end
    assert.has_error(function() endpoints.resolve(nil, "htp://127.0.0.1") end,
      "endpoint: unsupported scheme 'htp' (use http:// or https://)")
    local ok, err = pcall(require("ecs").client, { endpoint = "htp:/127.0.0.1",
      access_key_id = "id", access_key_secret = "secret" })
    assert.is_false(ok)
    assert.matches("endpoint: unsupported scheme 'htp' %(use http:// or https://%)", err)
  end)

  it("calls an http/https URL missing a slash or colon malformed", function()
    for _, e in ipairs { "http:/127.0.0.1", "https:/host", "http:127.0.0.1:8080", "HTTP:/x/",
      "http//127.0.0.1", "https//host:443" } do
      assert.has_error(function() endpoints.resolve(nil, e) end,
        "endpoint: malformed URL '" .. e .. "' (expected http://host[:port] or https://host[:port])")
    end
  end)

  it("rejects a port that is not a number", function()
    for _, e in ipairs { "http://127.0.0.1:80a", "host:", "ecs.aliyuncs.com:https", "http://h:99999" } do
      assert.has_error(function() endpoints.resolve(nil, e) end)
    end
    local ok, err = pcall(endpoints.resolve, nil, "http://127.0.0.1:80a")
    assert.is_false(ok)
    assert.matches("endpoint: bad port '80a' in 'http://127.0.0.1:80a'", err, 1, true)
  end)

  it("keeps the valid forms", function()
    local cases = {
      ["ecs.aliyuncs.com"] = "https://ecs.aliyuncs.com",
      ["ecs.aliyuncs.com/"] = "https://ecs.aliyuncs.com",
      ["localhost:8080"] = "https://localhost:8080",
      ["127.0.0.1:8080"] = "https://127.0.0.1:8080",
      ["http://127.0.0.1:8080"] = "http://127.0.0.1:8080",
      ["http://localhost:8080/"] = "http://localhost:8080",
      ["https://host/"] = "https://host",
      ["HTTPS://Host.Example:443"] = "https://Host.Example:443",
      ["http://[::1]:8080"] = "http://[::1]:8080",
      ["https://[::1]"] = "https://[::1]",
    }
    for e, url in pairs(cases) do
      assert.are.equal(url, endpoints.resolve(nil, e).url, e)
    end
    assert.are.equal("localhost:8080", endpoints.resolve(nil, "http://localhost:8080/").host)
  end)
end)
