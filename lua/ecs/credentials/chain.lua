-- A chain of providers given by the caller (ecs.credentials.chain{ p1, p2, ... }): the first that
-- gives credentials is used from then on. (The default chain, which picks from configuration alone
-- when the client is made, is credentials/init.lua's.)
local errors = require "ecs.errors"

local M = {}

--- A provider that tries its providers in order and keeps the first that works.
---@class ecs.ChainProvider: ecs.CredentialsProvider
---@field providers ecs.CredentialsProvider[]
---@field chosen ecs.CredentialsProvider|nil The provider in use, once one worked.
local Chain = {}
Chain.__index = Chain
M.Chain = Chain

local function name_of(p, i)
  return tostring(p.name or p.source or ("provider " .. i))
end

--- The credentials of the chosen provider; until one is chosen, of the first that gives some.
--- Outside a task a fetching provider cannot answer yet: its Credentials.NotFetched is returned
--- rather than trying the next one.
---@return ecs.Credentials|nil credentials
---@return ecs.Error|nil err
function Chain:get()
  local chosen = self.chosen
  if chosen then return chosen:get() end
  local why = {}
  for i, p in ipairs(self.providers) do
    local creds, err = p:get()
    if creds then
      self.chosen, self.static = p, p.static
      return creds
    end
    if type(err) == "table" and err.code == "Credentials.NotFetched" then return nil, err end
    why[#why + 1] = name_of(p, i) .. ": " .. tostring(err)
  end
  return nil, errors.new { code = "Credentials.NoneFound", retryable = false,
    message = "no provider of the chain gave credentials: " .. table.concat(why, "; ") }
end

--- Passes the refusal on to the provider in use.
---@param refused? ecs.Credentials
---@return nil
function Chain:invalidate(refused)
  if self.chosen then self.chosen:invalidate(refused) end
end

function Chain:__tostring()
  return "ecs.credentials." .. self.name
end

--- A chain of providers: { p1, p2, ... } (each a table with get()).
---@param providers ecs.CredentialsProvider[]
---@return ecs.ChainProvider
function M.new(providers)
  if type(providers) ~= "table" or #providers == 0 then
    error("chain: expected a list of credentials providers", 2)
  end
  local names, refreshing, list = {}, false, {}
  for i, p in ipairs(providers) do
    list[i] = p
    if type(p) ~= "table" or type(p.get) ~= "function" then
      error(("chain: item %d is not a credentials provider (a table with get())"):format(i), 2)
    end
    names[i] = name_of(p, i)
    refreshing = refreshing or p.refreshing == true
  end
  local name = "chain (" .. table.concat(names, ", ") .. ")"
  return setmetatable({ providers = list, name = name, source = name, refreshing = refreshing or nil }, Chain)
end

return M
