-- Waiting for resources to reach a state: a generic poller and named
-- waiters for instances, disks, snapshots and images. Polls back off; a
-- waiter gives nil, err with code WaitTimeout on timeout, and fails fast
-- (code WaitFailed) on a state that can never reach the target.
local core = require "ecs.core"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"
local util = require "ecs.util"
local json = require("cjson").new()

local M = {}
local unpack = table.unpack or unpack

M.DEFAULTS = { timeout = 600, interval = 5, max_interval = 30, backoff = 1.5 }
--- How a waiter polls: the options of the named waiters (wait_instances, ...).
---@class ecs.WaiterOptions
---@field timeout? number Seconds the whole wait may take (default 600); then the error is WaitTimeout.
---@field interval? number Seconds of the first wait between polls (default 5).
---@field max_interval? number Longest wait between polls, in seconds (default 30).
---@field backoff? number Factor by which each wait grows (default 1.5).
---@field call? ecs.CallOptions Options of each poll's call.
--- Options of client:wait: how to poll, and when to stop.
---@class ecs.WaitOptions: ecs.WaiterOptions
---@field ready fun(reply: table): boolean True once the reply shows the wanted state.
---@field failed? fun(reply: table): string|nil A message when the state can never be reached (stops at once, WaitFailed).
--- What client:wait_instances waits for.
---@class ecs.InstanceWaitSpec
---@field InstanceIds string[]|string The instance ids (more than 100 are polled in batches).
---@field Status? "Running"|"Stopped"|"Deleted" The state to reach (default "Running"; "Deleted": until they are gone).
---@field RegionId? string Default: the client's region.
--- What client:wait_disks waits for.
---@class ecs.DiskWaitSpec
---@field DiskIds string[]|string The disk ids (more than 100 are polled in batches).
---@field Status? "Available"|"In_use"|"Deleted" The state to reach (default "Available").
---@field RegionId? string Default: the client's region.
--- What client:wait_snapshots waits for.
---@class ecs.SnapshotWaitSpec
---@field SnapshotIds string[]|string The snapshot ids (more than 100 are polled in batches).
---@field Status? string The state to reach (default "accomplished", i.e. progress 100%; "Deleted": until gone).
---@field RegionId? string Default: the client's region.
--- What client:wait_images waits for.
---@class ecs.ImageWaitSpec
---@field ImageIds string[]|string The image ids (more than 100 are polled in batches).
---@field Status? "Available"|"Deleted"|string The state to reach (default "Available").
---@field RegionId? string Default: the client's region.

local function check_opts(opts)
  opts = opts or {}
  for _, name in ipairs { "timeout", "interval", "max_interval", "backoff" } do
    local v = opts[name]
    if v ~= nil and (type(v) ~= "number" or v < 0) then
      error(name .. ": expected a number >= 0", 4)
    end
  end
  return opts
end

--- Polls action(params) until opts.ready(reply) is true.
--- opts = { ready = fn(reply) -> bool, failed = fn(reply) -> message|nil,
---          timeout = 600, interval = 5 (first wait), max_interval = 30, backoff = 1.5,
---          call = call opts }
--- Returns the last reply, or nil and an error (the call's, WaitFailed or WaitTimeout).
---@param client ecs.Client
---@param action string the action to poll, such as "DescribeInstances"
---@param params? table the action's parameters, sent as given
---@param opts ecs.WaitOptions
---@return table|nil reply the reply for which opts.ready was true
---@return ecs.Error|nil err
function M.wait(client, action, params, opts)
  opts = check_opts(opts)
  if type(opts.ready) ~= "function" then error("ready: expected a function(reply) -> boolean", 3) end
  if opts.failed ~= nil and type(opts.failed) ~= "function" then
    error("failed: expected a function(reply) -> message or nil", 3)
  end
  local timeout = opts.timeout or M.DEFAULTS.timeout
  local delay = opts.interval or M.DEFAULTS.interval
  local max_interval = opts.max_interval or M.DEFAULTS.max_interval
  local backoff = opts.backoff or M.DEFAULTS.backoff
  local deadline = core.now() + timeout
  local polls = 0
  while true do
    local res, err = client:call(action, params, opts.call)
    polls = polls + 1
    if not res then return nil, err end
    if opts.ready(res) then return res end
    local why = opts.failed and opts.failed(res)
    if why then
      return nil, errors.new { code = "WaitFailed", message = why, action = action, attempts = polls,
        retryable = false, request_id = res.RequestId }
    end
    local now = core.now()
    if now >= deadline then
      return nil, errors.new { code = "WaitTimeout", action = action, attempts = polls, retryable = false,
        message = ("not ready after %gs (%d polls)"):format(timeout, polls) }
    end
    scheduler.sleep(math.min(delay, deadline - now))
    delay = math.min(delay * backoff, max_interval)
  end
end

-- Named waiters: one description each, one mechanism.
-- ids: the spec field with the ids; param: how the action takes them;
-- list: where the reply lists them; id/status: fields of one item;
-- terminal: states from which the target can never be reached.
local KINDS = {
  instances = {
    action = "DescribeInstances", ids = "InstanceIds", param = "InstanceIds", style = "json",
    list = "Instances.Instance", id = "InstanceId", status = "Status", default = "Running",
    page = { PageSize = 100 }, batch = 100,
    terminal = { Running = { Stopping = true }, Stopped = { Starting = true } },
  },
  disks = {
    action = "DescribeDisks", ids = "DiskIds", param = "DiskIds", style = "json",
    list = "Disks.Disk", id = "DiskId", status = "Status", default = "Available",
    page = { PageSize = 100 }, batch = 100, terminal = {},
  },
  snapshots = {
    action = "DescribeSnapshots", ids = "SnapshotIds", param = "SnapshotIds", style = "json",
    list = "Snapshots.Snapshot", id = "SnapshotId", status = "Status", default = "accomplished",
    page = { PageSize = 100 }, batch = 100,
    terminal = { accomplished = { failed = true } },
  },
  images = {
    action = "DescribeImages", ids = "ImageIds", param = "ImageId", style = "comma",
    list = "Images.Image", id = "ImageId", status = "Status", default = "Available",
    page = { PageSize = 100 }, batch = 100,
    terminal = { Available = { CreateFailed = true, UnAvailable = true, Deprecated = true } },
  },
}

local function encode_ids(kind, ids)
  if kind.style == "json" then return json.encode(ids) end
  return table.concat(ids, ",")
end

local function wait_kind(kind_name, client, spec, opts)
  local kind = KINDS[kind_name]
  if type(spec) ~= "table" then error("wait_" .. kind_name .. ": expected a table", 3) end
  local ids = spec[kind.ids]
  if type(ids) == "string" then ids = { ids } end
  if type(ids) ~= "table" or #ids == 0 then
    error(kind.ids .. ": expected a non-empty list of ids", 3)
  end
  local target = spec.Status or kind.default
  local gone = target == "Deleted" -- waiting for the resources to disappear
  local terminal = kind.terminal[target] or {}
  opts = util.copy(opts)

  local function poll(batch)
    local params = util.copy(kind.page)
    params[kind.param] = encode_ids(kind, batch)
    params.RegionId = spec.RegionId or client.region
    local o = util.copy(opts)
    o.ready = function(res)
      local seen = 0
      for _, item in ipairs(util.get_path(res, kind.list) or {}) do
        seen = seen + 1
        if gone or item[kind.status] ~= target then return false end
      end
      return gone and seen == 0 or seen == #batch
    end
    o.failed = function(res)
      local present = {}
      for _, item in ipairs(util.get_path(res, kind.list) or {}) do
        present[item[kind.id]] = true
        if terminal[item[kind.status]] then
          return ("%s is %s and cannot become %s"):format(item[kind.id], item[kind.status], target)
        end
      end
      if not gone then
        for _, id in ipairs(batch) do
          if not present[id] then return id .. " does not exist (any more)" end
        end
      end
    end
    return M.wait(client, kind.action, params, o)
  end

  -- More ids than one call takes: wait on each batch concurrently.
  local replies = {}
  if #ids <= kind.batch then
    local res, err = poll(ids)
    if not res then return nil, err end
    replies[1] = res
  else
    local ok, err = scheduler.run(function()
      local tasks = {}
      for i = 1, #ids, kind.batch do
        tasks[#tasks + 1] = scheduler.spawn(poll, { unpack(ids, i, math.min(#ids, i + kind.batch - 1)) })
      end
      for _, t in ipairs(tasks) do
        local res, e = t:wait()
        if not res then return nil, e end
        replies[#replies + 1] = res
      end
      return true
    end)
    if not ok then return nil, err end
  end
  local items = {}
  for _, res in ipairs(replies) do
    for _, item in ipairs(util.get_path(res, kind.list) or {}) do items[#items + 1] = item end
  end
  return items
end

-- Each returns the items in their final state (an empty list for "Deleted"),
-- or nil and an error. opts as for M.wait (timeout, interval, ...).
--- client:wait_instances{ InstanceIds = ids, Status = "Running" (default) | "Stopped" | "Deleted" }
---@param client ecs.Client
---@param spec ecs.InstanceWaitSpec
---@param opts? ecs.WaiterOptions
---@return ecs.DescribeInstancesReply.Instances.InstanceItem[]|nil instances in their final state (empty for "Deleted")
---@return ecs.Error|nil err
function M.wait_instances(client, spec, opts) return wait_kind("instances", client, spec, opts) end
--- client:wait_disks{ DiskIds = ids, Status = "Available" (default) | "In_use" | "Deleted" }
---@param client ecs.Client
---@param spec ecs.DiskWaitSpec
---@param opts? ecs.WaiterOptions
---@return ecs.DescribeDisksReply.Disks.DiskItem[]|nil disks in their final state (empty for "Deleted")
---@return ecs.Error|nil err
function M.wait_disks(client, spec, opts) return wait_kind("disks", client, spec, opts) end
--- client:wait_snapshots{ SnapshotIds = ids } until accomplished (progress 100%)
---@param client ecs.Client
---@param spec ecs.SnapshotWaitSpec
---@param opts? ecs.WaiterOptions
---@return ecs.DescribeSnapshotsReply.Snapshots.SnapshotItem[]|nil snapshots in their final state
---@return ecs.Error|nil err
function M.wait_snapshots(client, spec, opts) return wait_kind("snapshots", client, spec, opts) end
--- client:wait_images{ ImageIds = ids, Status = "Available" (default) }
---@param client ecs.Client
---@param spec ecs.ImageWaitSpec
---@param opts? ecs.WaiterOptions
---@return ecs.DescribeImagesReply.Images.ImageItem[]|nil images in their final state
---@return ecs.Error|nil err
function M.wait_images(client, spec, opts) return wait_kind("images", client, spec, opts) end

return M
