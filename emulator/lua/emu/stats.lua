-- What the emulator observed, for the control API: counters in the shared dict emu_stats
-- (requests, results, throttling, faults, resources created, ClientToken replays; STS requests
-- and results; metadata and credentials URI requests) and the last request of each action.
local cjson = require "cjson.safe"
local util = require "emu.util"

local ngx = ngx
local counters = ngx.shared.emu_stats
local shared_last = ngx.shared.emu_last
local M = {}

local function count(key) counters:incr(key, 1, 0) end

-- interned keys, so the hot path does not build strings
local function key_cache(prefix, suffix)
  return setmetatable({}, { __index = function(t, a)
    local k = prefix .. a .. (suffix or "")
    t[a] = k
    return k
  end })
end
local REQ_KEY, OK_KEY = key_cache("req|"), key_cache("res|", "|OK")

function M.request(action) count(REQ_KEY[action]) end
function M.ok(action) count(OK_KEY[action]) end
-- an error reply; action is nil when the request failed before its action was known
function M.error(action, code) count("res|" .. (action or "-") .. "|" .. code) end
function M.throttled() count("throttled") end
function M.fault(kind) count("fault|" .. kind) end
function M.replay() count("replays") end
-- kind: instance, disk, snapshot, securitygroup
function M.created(kind) count("created|" .. kind) end
-- STS: a request of an STS action (counted once routed, before authentication), its result
function M.sts(action) count("sts|" .. action) end
function M.sts_result(action, code) count("stsres|" .. action .. "|" .. code) end
-- the metadata service: a request by path; a GET without a metadata token
function M.metadata(path) count("md|" .. path) end
function M.metadata_tokenless() count("mdv1") end
function M.credentials_uri() count("curi") end

function M.report()
  local out = { requests = {}, results = {}, faults = {}, created = {}, throttled = 0,
    client_token_replays = 0, total_requests = 0, sts = {}, sts_results = {}, metadata = {},
    metadata_tokenless = 0, credentials_uri = 0 }
  for _, k in ipairs(counters:get_keys(0)) do
    local v = counters:get(k) or 0
    local a, b, c = k:match("^([^|]+)|?([^|]*)|?(.*)$")
    if a == "md" then out.metadata[k:sub(4)] = v
    elseif a == "sts" then out.sts[b] = v
    elseif a == "stsres" then out.sts_results[b] = out.sts_results[b] or {}; out.sts_results[b][c] = v
    elseif a == "mdv1" then out.metadata_tokenless = v
    elseif a == "curi" then out.credentials_uri = v
    elseif a == "req" then out.requests[b] = v; out.total_requests = out.total_requests + v
    elseif a == "res" then out.results[b] = out.results[b] or {}; out.results[b][c] = v
    elseif a == "fault" then out.faults[b] = v
    elseif a == "created" then out.created[b] = v
    elseif a == "throttled" then out.throttled = v
    elseif a == "replays" then out.client_token_replays = v
    end
  end
  return out
end

function M.clear() counters:flush_all() end

-- Last request per action: a per-worker table (no encoding on the hot path); with several
-- workers it is also copied to the shared dict so the control API sees every worker.
local last_local = {}

function M.remember(action, rec)
  last_local[action] = rec
  if ngx.worker.count() > 1 then shared_last:set(action, cjson.encode(rec)) end
end

-- the last request of `action` as a JSON object, or nil
function M.last(action)
  if ngx.worker.count() > 1 then return shared_last:get(action) end
  local rec = last_local[action]
  if not rec then return nil end
  return cjson.encode({ params = rec.params, method = rec.method, signature_version = rec.signature_version,
    time = util.iso8601(rec.time) })
end

function M.clear_last()
  shared_last:flush_all()
  for k in pairs(last_local) do last_local[k] = nil end
end

return M
