-- Where a region's ECS API lives, and how an `endpoint` option is read.
local M = {}

-- Regions whose ECS endpoint is not ecs.<region>.aliyuncs.com. Taken from the
-- endpoint map of the official SDK (@alicloud/ecs20140526); every public region
-- of the reference (section 4.2) follows the default pattern.
M.special = {
  ["cn-shanghai-finance-1"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-shenzhen-finance-1"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-north-2-gov-1"] = "ecs.aliyuncs.com",
  ["ap-northeast-2-pop"] = "ecs.aliyuncs.com",
  ["cn-beijing-finance-pop"] = "ecs.aliyuncs.com",
  ["cn-beijing-gov-1"] = "ecs.aliyuncs.com",
  ["cn-beijing-nu16-b01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-edge-1"] = "ecs.cn-qingdao-nebula.aliyuncs.com",
  ["cn-fujian"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-haidian-cm12-c01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-hangzhou-bj-b01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-hangzhou-finance"] = "ecs.aliyuncs.com",
  ["cn-hangzhou-internal-prod-1"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-hangzhou-internal-test-1"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-hangzhou-internal-test-2"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-hangzhou-internal-test-3"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-hangzhou-test-306"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-hongkong-finance-pop"] = "ecs.aliyuncs.com",
  ["cn-huhehaote-nebula-1"] = "ecs.cn-qingdao-nebula.aliyuncs.com",
  ["cn-shanghai-et15-b01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-shanghai-et2-b01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-shanghai-inner"] = "ecs.aliyuncs.com",
  ["cn-shanghai-internal-test-1"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-shenzhen-inner"] = "ecs.aliyuncs.com",
  ["cn-shenzhen-st4-d01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-shenzhen-su18-b01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-wuhan"] = "ecs.aliyuncs.com",
  ["cn-yushanfang"] = "ecs.aliyuncs.com",
  ["cn-zhangbei"] = "ecs.aliyuncs.com",
  ["cn-zhangbei-na61-b01"] = "ecs-cn-hangzhou.aliyuncs.com",
  ["cn-zhangjiakou-na62-a01"] = "ecs.cn-zhangjiakou.aliyuncs.com",
  ["cn-zhengzhou-nebula-1"] = "ecs.cn-qingdao-nebula.aliyuncs.com",
  ["eu-west-1-oxs"] = "ecs.cn-shenzhen-cloudstone.aliyuncs.com",
  ["rus-west-1-pop"] = "ecs.aliyuncs.com",
}

--- The ECS host name for a region.
---@param region string a region id such as "cn-hangzhou"
---@return string host
function M.host_for_region(region)
  return M.special[region] or ("ecs." .. region .. ".aliyuncs.com")
end

-- A host with an optional port: a name or IPv4 address, or a bracketed IPv6
-- address. Raises naming what is wrong.
local function check_host(host, endpoint)
  if host:find("[%s@]") then
    error("endpoint: no valid host in '" .. endpoint .. "'", 0)
  end
  local name, port
  if host:sub(1, 1) == "[" then
    name, port = host:match("^(%[[%x:.]+%])(.*)$")
    if not name then error("endpoint: no valid host in '" .. endpoint .. "'", 0) end
  else
    name, port = host:match("^([^:]*)(.*)$")
    if name == "" then error("endpoint: no valid host in '" .. endpoint .. "'", 0) end
  end
  if port ~= "" then
    local digits = port:match("^:(%d+)$")
    local n = tonumber(digits)
    if not n or n < 1 or n > 65535 then
      error("endpoint: bad port '" .. port:sub(2) .. "' in '" .. endpoint .. "'", 0)
    end
  end
end

--- Reads an endpoint: a full URL ("http://127.0.0.1:8080"), or a bare host
--- ("ecs.aliyuncs.com", HTTPS implied), either with a port. Returns { scheme, host, url }
--- where host keeps a port if one is given (it is what the Host header carries) and
--- url is scheme://host without a trailing slash. Raises on anything else: a scheme
--- other than http/https ("ftp://x"; or "endpoint: unsupported scheme 'htp' (use http://
--- or https://)" for a scheme-like prefix without both slashes, "htp:/x"), an http/https URL
--- missing a slash or the colon ("endpoint: malformed URL 'http:/x' ..."), a bad port,
--- no host, or a path.
---@param endpoint string
---@return {scheme: "http"|"https", host: string, url: string} endpoint
function M.parse(endpoint)
  if type(endpoint) ~= "string" or endpoint == "" then
    error("endpoint: expected a URL or host name string", 0)
  end
  local function malformed()
    error("endpoint: malformed URL '" .. endpoint
      .. "' (expected http://host[:port] or https://host[:port])", 0)
  end
  local function unsupported(s)
    error("endpoint: unsupported scheme '" .. s .. "' (use http:// or https://)", 0)
  end
  local scheme, rest = endpoint:match("^(%a[%w+.-]*)://(.*)$")
  if scheme then
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then
      unsupported(scheme)
    end
  else
    -- No "scheme://": a host[:port], or a URL gone wrong. A dotless "x:" followed
    -- by "/" or by what cannot be a port ("htp:/h", "htp:10.0.0.1") is a scheme;
    -- "http:/h" and "http:h" are malformed; "http//h" lost its colon.
    local prefix, after = endpoint:match("^(%a[%w+.-]*):(.*)$")
    if prefix then
      local lower = prefix:lower()
      if lower == "http" or lower == "https" then malformed() end
      local port = after:match("^[^/?#]*")
      if after:match("^/") or (port ~= "" and not prefix:find(".", 1, true)
          and (port:find("[.:]") or not port:match("^%d"))) then
        unsupported(prefix)
      end
    end
    if endpoint:lower():match("^https?//") then malformed() end
    scheme, rest = "https", endpoint
  end
  local host, path = rest:match("^([^/?#]+)(.*)$")
  if not host then
    error("endpoint: no valid host in '" .. endpoint .. "'", 0)
  end
  check_host(host, endpoint)
  if path ~= "" and path ~= "/" then
    error("endpoint: ECS is served at the root path; drop '" .. path .. "'", 0)
  end
  return { scheme = scheme, host = host, url = scheme .. "://" .. host }
end

--- The endpoint for a client's options: the explicit `endpoint`, or the
--- region's HTTPS endpoint.
---@param region? string a region id (needed when endpoint is nil)
---@param endpoint? string a URL or host name
---@return {scheme: "http"|"https", host: string, url: string} endpoint
function M.resolve(region, endpoint)
  if endpoint ~= nil then
    return M.parse(endpoint)
  end
  if type(region) ~= "string" or not region:match("^[%w-]+$") then
    error("region: expected a region id such as 'cn-hangzhou'", 0)
  end
  return M.parse("https://" .. M.host_for_region(region))
end

return M
