-- A small gateway on lua-ecs inside nginx: GET /instances?tag=key:value answers with the
-- instances carrying that tag, read from ECS (every page) and kept a few seconds in a
-- lua_shared_dict, so that a burst of identical requests costs one listing.
-- nginx.conf (beside this file) shows the set-up: M.init in init_by_lua builds the client once,
-- the workers inherit it.
local ecs = require "ecs"
local cjson = require "cjson.safe"

local M = {}

local client
local settings = { cache = "gateway_cache", cache_ttl = 5 }

--- Builds the client (call it from init_by_lua_block). opts.client: ecs.client options;
--- opts.cache_ttl: seconds a listing is kept (0: never); opts.cache: the lua_shared_dict's name.
---@param opts {client?: table, cache_ttl?: number, cache?: string}
function M.init(opts)
  opts = opts or {}
  if opts.cache_ttl then settings.cache_ttl = opts.cache_ttl end
  if opts.cache then settings.cache = opts.cache end
  client = ecs.client(opts.client or {})
end

local function reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(body)
  return ngx.exit(status)
end

--- The handler of GET /instances[?tag=key:value] (content_by_lua_block).
function M.instances()
  local tag = ngx.var.arg_tag
  local params = {}
  if tag then
    tag = ngx.unescape_uri(tag)
    local key, value = tag:match("^([^:]+):(.*)$")
    if not key then
      return reply(400, cjson.encode { code = "BadTag", message = "tag must be key:value" })
    end
    params.Tag = { { Key = key, Value = value } }
  end
  local cache = settings.cache_ttl > 0 and ngx.shared[settings.cache] or nil
  local cache_key = "instances|" .. (tag or "")
  local hit = cache and cache:get(cache_key)
  if hit then
    ngx.header["X-Cache"] = "hit"
    return reply(200, hit)
  end
  local items, err = client:collect("DescribeInstances", params)
  if not items then
    return reply(502, cjson.encode { code = err.code, message = err.message, request_id = err.request_id })
  end
  local rows = {}
  for i, inst in ipairs(items) do
    rows[i] = cjson.encode { id = inst.InstanceId, name = inst.InstanceName, status = inst.Status,
                             zone = inst.ZoneId }
  end
  local body = ('{"count":%d,"instances":[%s]}\n'):format(#rows, table.concat(rows, ","))
  if cache then cache:set(cache_key, body, settings.cache_ttl) end
  ngx.header["X-Cache"] = "miss"
  return reply(200, body)
end

return M
