-- A background job inside nginx: every `interval` seconds one worker makes sure every running
-- instance of the region carries a tag (key = value), tagging those without it in batches.
-- Started from init_worker_by_lua_block (see nginx.conf beside this file); it runs in an
-- ngx.timer, where cosockets are available, so its calls never block the worker.
local ecs = require "ecs"

local M = {}

local BATCH = 50 -- TagResources takes at most 50 resources a call

--- One pass: lists the running instances and tags those missing the tag. Returns how many were
--- tagged, or nil and the error.
---@param client ecs.Client
---@param key string
---@param value string
---@return integer|nil tagged
---@return ecs.Error|nil err
function M.run_once(client, key, value)
  local missing = {}
  local ok, err = pcall(function()
    for inst in client:paginate("DescribeInstances", { Status = "Running" }) do
      local has = false
      local tags = inst.Tags and inst.Tags.Tag or {}
      for _, t in ipairs(tags) do
        if t.TagKey == key and t.TagValue == value then has = true break end
      end
      if not has then missing[#missing + 1] = inst.InstanceId end
    end
  end)
  if not ok then return nil, err end
  for first = 1, #missing, BATCH do
    local batch = {}
    for i = first, math.min(first + BATCH - 1, #missing) do batch[#batch + 1] = missing[i] end
    local res, terr = client:TagResources { ResourceType = "instance", ResourceId = batch,
                                           Tag = { { Key = key, Value = value } } }
    if not res then return nil, terr end
  end
  return #missing
end

--- Starts the job in worker 0 (call from init_worker_by_lua_block). opts: client (ecs.client
--- options), key, value, interval (seconds), stats (a lua_shared_dict name where the job counts
--- its passes and the instances it tagged; optional).
---@param opts {client: table, key: string, value: string, interval: number, stats?: string}
function M.start(opts)
  if ngx.worker.id() ~= 0 then return end
  local client = ecs.client(opts.client)
  local stats = opts.stats and ngx.shared[opts.stats]
  local running = false
  local ok, err = ngx.timer.every(opts.interval, function(premature)
    if premature or running then return end -- nginx is exiting, or the last pass still runs
    running = true
    local tagged, perr = M.run_once(client, opts.key, opts.value)
    running = false
    if tagged then
      if stats then
        stats:incr("passes", 1, 0)
        stats:incr("tagged", tagged, 0)
      end
      if tagged > 0 then ngx.log(ngx.NOTICE, "reconcile: tagged ", tagged, " instance(s)") end
    else
      if stats then stats:incr("failures", 1, 0) end
      ngx.log(ngx.ERR, "reconcile: ", tostring(perr))
    end
  end)
  if not ok then ngx.log(ngx.ERR, "reconcile: cannot start the timer: ", err) end
end

return M
