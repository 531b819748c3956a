-- Waiting for resources to reach a state: a generic poller and named
-- waiters for instances, disks, snapshots and images. Polls back off; a
-- waiter gives nil, err with code WaitTimeout on timeout, and fails fast
-- (code WaitFailed) on a state that can never reach the target.
local core = require "ecs.core"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"
local util = require "ecs.util"

local M = {}
local unpack = table.unpack or unpack

M.DEFAULTS = { timeout = 600, interval = 5, max_interval = 30, backoff = 1.5 }
--- How a waiter polls: the options of the named waiters (wait_instances, ...). Another name,
--- a spec field (Status, ...) or a value that is not a finite number >= 0 raises at once.
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
---@field Status? "Running"|"Stopped"|"Pending"|"Starting"|"Stopping"|"Deleted" The state to reach (default "Running"; "Deleted": until they are gone). Another value raises at once.
---@field RegionId? string Default: the client's region.
--- What client:wait_disks waits for.
---@class ecs.DiskWaitSpec
---@field DiskIds string[]|string The disk ids (more than 100 are polled in batches).
---@field Status? "Available"|"In_use"|"Attaching"|"Detaching"|"Creating"|"ReIniting"|"Deleted" The state to reach (default "Available"). Another value raises at once.
---@field RegionId? string Default: the client's region.
--- What client:wait_snapshots waits for.
---@class ecs.SnapshotWaitSpec
---@field SnapshotIds string[]|string The snapshot ids (more than 100 are polled in batches).
---@field Status? "accomplished"|"progressing"|"failed"|"Deleted" The state to reach (default "accomplished", i.e. progress 100%; "Deleted": until gone). Another value raises at once.
---@field RegionId? string Default: the client's region.
--- What client:wait_images waits for.
---@class ecs.ImageWaitSpec
---@field ImageIds string[]|string The image ids (more than 100 are polled in batches).
---@field Status? "Available"|"Creating"|"Waiting"|"UnAvailable"|"CreateFailed"|"Deprecated"|"Deleted" The state to reach (default "Available"). Another value raises at once.
---@field RegionId? string Default: the client's region.

-- Raises msg at the first caller outside the library (the user's line), so the
-- message points there whatever the chain of (tail) calls through ecs.client.
local function raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then level = 0 break end
    local src = info.source or ""
    if not (src:find("ecs/waiters%.lua$") or src:find("ecs/client%.lua$")) then break end
    level = level + 1
  end
  error(msg, level)
end

-- The options every waiter takes (ecs.WaiterOptions); client:wait also takes ready and failed.
local OPTIONS = { "backoff", "call", "interval", "max_interval", "timeout" }
local IS_OPTION = {}
for _, name in ipairs(OPTIONS) do IS_OPTION[name] = true end
local WAIT_OPTIONS = { "backoff", "call", "failed", "interval", "max_interval", "ready", "timeout" }

local function finite_number(v)
  return type(v) == "number" and v == v and v >= 0 and v < math.huge
end

-- Checks a waiter's options table: known names, numbers finite and >= 0, call a
-- table. who: "client:wait" (which also takes ready and failed) or "wait_<kind>";
-- spec_fields: the names of the named waiter's spec, to point a misplaced one there.
local function check_opts(opts, who, spec_fields)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    raise(("opts: expected a table of waiter options (timeout, interval, ...), got %s"):format(type(opts)))
  end
  local generic = who == "client:wait"
  for name, v in pairs(opts) do
    if type(name) ~= "string" then
      raise(who .. ": the options take named fields ({ timeout = 600, interval = 5, ... })")
    end
    if name == "call" then
      if type(v) ~= "table" then raise("call: expected a table of call options, got " .. type(v)) end
    elseif IS_OPTION[name] then
      if not finite_number(v) then
        raise(("%s: expected a finite number >= 0, got %s"):format(name,
          type(v) == "number" and tostring(v) or type(v)))
      end
    elseif generic and (name == "ready" or name == "failed") then -- checked by M.wait
    elseif spec_fields and spec_fields[name] then
      raise(("%s: a field of the spec (first argument), not a waiter option: client:%s({ %s = ... }, opts)")
        :format(name, who, name))
    elseif name == "ready" or name == "failed" then
      raise(("%s: not an option of %s (a named waiter knows its condition; use "
        .. "client:wait(action, params, { ready = ... }) for one of your own)"):format(name, who))
    else
      local names = generic and WAIT_OPTIONS or OPTIONS
      local hint = util.closest(name, names)
      local spec_hint = not hint and spec_fields and util.closest(name, util.sorted_keys(spec_fields))
      raise(("%s: unknown option of %s; %s"):format(name, who,
        hint and ("did you mean " .. hint .. "?")
          or spec_hint and ("did you mean the spec field " .. spec_hint .. " (first argument)?")
          or ("options: " .. table.concat(names, ", "))))
    end
  end
  return opts
end

--- Polls action(params) until opts.ready(reply) is true.
--- opts = { ready = fn(reply) -> bool, failed = fn(reply) -> message|nil,
---          timeout = 600, interval = 5 (first wait), max_interval = 30, backoff = 1.5,
---          call = call opts }
--- Returns the last reply, or nil and an error (the call's, WaitFailed or WaitTimeout).
--- Each poll goes through the action's helper (client:<Action>), so params are checked and
--- encoded by the model.
---@param client ecs.Client
---@param action string the action to poll, such as "DescribeInstances"
---@param params? table the action's parameters, sent as given
---@param opts ecs.WaitOptions
---@return table|nil reply the reply for which opts.ready was true
---@return ecs.Error|nil err
function M.wait(client, action, params, opts)
  opts = check_opts(opts, "client:wait")
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
    -- through the helper: validated and encoded by the model, like every call
    local res, err = client[action](client, params, opts.call)
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
-- states: the documented values of the status field (the API model keeps no
-- enumerations), plus the waiter's own "Deleted" (until the resources are gone);
-- terminal: states from which the target can never be reached.
local KINDS = {
  instances = {
    action = "DescribeInstances", ids = "InstanceIds", param = "InstanceIds", style = "list",
    list = "Instances.Instance", id = "InstanceId", status = "Status", default = "Running",
    page = { PageSize = 100 }, batch = 100,
    states = { "Pending", "Running", "Starting", "Stopping", "Stopped", "Deleted" },
    terminal = { Running = { Stopping = true }, Stopped = { Starting = true } },
  },
  disks = {
    action = "DescribeDisks", ids = "DiskIds", param = "DiskIds", style = "list",
    list = "Disks.Disk", id = "DiskId", status = "Status", default = "Available",
    page = { PageSize = 100 }, batch = 100,
    states = { "In_use", "Available", "Attaching", "Detaching", "Creating", "ReIniting", "Deleted" },
    terminal = {},
  },
  snapshots = {
    action = "DescribeSnapshots", ids = "SnapshotIds", param = "SnapshotIds", style = "list",
    list = "Snapshots.Snapshot", id = "SnapshotId", status = "Status", default = "accomplished",
    page = { PageSize = 100 }, batch = 100,
    states = { "progressing", "accomplished", "failed", "Deleted" },
    terminal = { accomplished = { failed = true } },
  },
  images = {
    action = "DescribeImages", ids = "ImageIds", param = "ImageId", style = "comma",
    list = "Images.Image", id = "ImageId", status = "Status", default = "Available",
    page = { PageSize = 100 }, batch = 100,
    states = { "Creating", "Waiting", "Available", "UnAvailable", "CreateFailed", "Deprecated", "Deleted" },
    terminal = { Available = { CreateFailed = true, UnAvailable = true, Deprecated = true } },
  },
}
for _, kind in pairs(KINDS) do
  kind.is_state = {}
  for _, st in ipairs(kind.states) do kind.is_state[st] = true end
  kind.fields = { [kind.ids] = true, RegionId = true, Status = true }
end

-- The kind of resource an action's Status describes.
local KIND_OF_ACTION = {
  DescribeInstances = "instances", DescribeInstanceStatus = "instances",
  DescribeInstanceAttribute = "instances", DescribeDisks = "disks", DescribeSnapshots = "snapshots",
  DescribeImages = "images",
}

--- The states from which a resource's Status never reaches `target`, for an action describing a
--- kind of resource the waiters know (an empty table for another action or target).
---@param action string
---@param target string
---@return table<string, boolean>
function M.terminal_states(action, target)
  local kind = KINDS[KIND_OF_ACTION[action]]
  return kind and kind.terminal[target] or {}
end

-- Checks a named waiter's spec (known fields, a documented target state) and
-- returns the target.
local function check_spec(kind_name, kind, spec)
  local who = "wait_" .. kind_name
  if type(spec) ~= "table" then
    raise(("%s: expected a table such as { %s = ids }, got %s"):format(who, kind.ids, type(spec)))
  end
  local field_names = util.sorted_keys(kind.fields)
  for name in pairs(spec) do
    if type(name) ~= "string" then
      raise(("%s: the spec takes named fields ({ %s = ids, Status = ... }), not a list"):format(who, kind.ids))
    end
    if not kind.fields[name] then
      if IS_OPTION[name] then
        raise(("%s: a waiter option, not a field of the spec; pass it in the options (second argument): "
          .. "client:%s(spec, { %s = ... })"):format(name, who, name))
      end
      local hint = util.closest(name, field_names)
      local option_hint = not hint and util.closest(name, OPTIONS)
      raise(("%s: unknown field of the %s spec%s"):format(name, who,
        hint and ("; did you mean " .. hint .. "?")
          or option_hint and ("; did you mean the option " .. option_hint .. " (second argument)?")
          or (" (fields: " .. table.concat(field_names, ", ") .. ")")))
    end
  end
  if spec.RegionId ~= nil and type(spec.RegionId) ~= "string" then
    raise("RegionId: expected a string, got " .. type(spec.RegionId))
  end
  local target = spec.Status
  if target == nil then return kind.default end
  if type(target) ~= "string" then
    raise("Status: expected a state name (string), got " .. type(target))
  end
  if not kind.is_state[target] then
    local hint = util.closest(target, kind.states)
    local all = util.copy(kind.states)
    table.sort(all)
    raise(("Status: '%s' is not a state of %s%s"):format(target, kind_name,
      hint and ("; did you mean " .. hint .. "?") or (" (one of: " .. table.concat(all, ", ") .. ")")))
  end
  return target
end

-- How many resources a WaitTimeout message names; err.last_states has them all.
local LISTED = 10

-- Adds to a WaitTimeout the last state seen of each resource: err.last_states
-- (id -> status, "Deleted" for one gone) and, in the message, those not at the target.
local function add_last_states(err, ids, last, target)
  local states, behind = {}, {}
  for _, id in ipairs(ids) do
    local st = last[id]
    if st ~= nil then
      states[id] = st
      if st ~= target then behind[#behind + 1] = id .. ": " .. tostring(st) end
    end
  end
  err.last_states = states
  if #behind > 0 then
    local shown = { unpack(behind, 1, math.min(#behind, LISTED)) }
    local more = #behind > LISTED and (" and %d more"):format(#behind - LISTED) or ""
    err.message = ("%s; not yet %s: %s%s"):format(err.message, target, table.concat(shown, ", "), more)
  end
  return err
end

-- The ids as the parameter's value: a list (the helper encodes it by the
-- model's wire style), or for DescribeImages' ImageId, a string parameter,
-- the ids separated by commas.
local function ids_value(kind, ids)
  if kind.style == "comma" then return table.concat(ids, ",") end
  return ids
end

local function wait_kind(kind_name, client, spec, opts)
  local kind = KINDS[kind_name]
  local target = check_spec(kind_name, kind, spec)
  opts = util.copy(check_opts(opts, "wait_" .. kind_name, kind.fields))
  local ids = spec[kind.ids]
  if type(ids) == "string" then ids = { ids } end
  if type(ids) ~= "table" or #ids == 0 then
    raise(kind.ids .. ": expected a non-empty list of ids")
  end
  local gone = target == "Deleted" -- waiting for the resources to disappear
  local terminal = kind.terminal[target] or {}
  local last = {} -- id -> the status last seen ("Deleted" once gone), for WaitTimeout

  local function poll(batch)
    local params = util.copy(kind.page)
    params[kind.param] = ids_value(kind, batch)
    params.RegionId = spec.RegionId or client.region
    local o = util.copy(opts)
    o.ready = function(res)
      local seen, reached = 0, true
      local present = {}
      for _, item in ipairs(util.get_path(res, kind.list) or {}) do
        seen = seen + 1
        present[item[kind.id]] = true
        last[item[kind.id]] = item[kind.status]
        if gone or item[kind.status] ~= target then reached = false end
      end
      if gone then
        for _, id in ipairs(batch) do
          if not present[id] then last[id] = "Deleted" end
        end
      end
      return reached and (gone and seen == 0 or seen == #batch)
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
  local function failed(err)
    if type(err) == "table" and err.code == "WaitTimeout" then add_last_states(err, ids, last, target) end
    return nil, err
  end
  if #ids <= kind.batch then
    local res, err = poll(ids)
    if not res then return failed(err) end
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
    if not ok then return failed(err) end
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
