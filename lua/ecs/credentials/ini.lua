-- Credentials from the official libraries' INI file: ALIBABA_CLOUD_CREDENTIALS_FILE, else
-- ~/.alibabacloud/credentials, else ~/.alibabacloud/credentials.ini. The section is the `profile`
-- option, else ALIBABA_CLOUD_PROFILE, else "default"; its `type` is one of access_key, sts,
-- ecs_ram_role, ram_role_arn, oidc_role_arn:
--   [default]
--   type = access_key
--   access_key_id = LTAI...
--   access_key_secret = ...
local static = require "ecs.credentials.static"

local M = {}

M.ENV_FILE = "ALIBABA_CLOUD_CREDENTIALS_FILE"
M.ENV_PROFILE = "ALIBABA_CLOUD_PROFILE"
M.TYPES = { "access_key", "sts", "ecs_ram_role", "ram_role_arn", "oidc_role_arn" }

local function nonempty(v)
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

--- The INI files looked at, in order: the environment's, else the two under HOME.
---@param getenv fun(name: string): string|nil
---@return string[] paths
---@return boolean from_env whether the path came from ALIBABA_CLOUD_CREDENTIALS_FILE
function M.paths(getenv)
  local given = nonempty(getenv(M.ENV_FILE))
  if given then return { given }, true end
  local home = nonempty(getenv("HOME"))
  if not home then return {}, false end
  return { home .. "/.alibabacloud/credentials", home .. "/.alibabacloud/credentials.ini" }, false
end

--- Parses INI text: { [section] = { [key] = value } }. Comments start with # or ; (at the start
--- of a line, or after a blank); values may be quoted. Raises naming the line of a broken one.
---@param text string
---@param path string for messages
---@return table<string, table<string, string>> sections
function M.parse(text, path)
  local sections, current = {}, nil
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", "")
    local body = line:match("^%s*(.-)%s*$")
    if body ~= "" and not body:find("^[#;]") then
      local section = body:match("^%[%s*(.-)%s*%]$")
      if section then
        current = sections[section] or {}
        sections[section] = current
      else
        local key, value = body:match("^([^=]-)%s*=%s*(.*)$")
        if not key or key == "" or not current then
          error(("credentials: cannot parse %s, line %d (expected [section] or key = value)"):format(path, n), 0)
        end
        local quoted = value:match('^"(.*)"$') or value:match("^'(.*)'$")
        if quoted then
          value = quoted
        else
          value = value:gsub("%s+[#;].*$", "")
        end
        current[key:lower()] = value
      end
    end
  end
  return sections
end

local function bad(section, path, what)
  error(("credentials: section [%s] of %s %s"):format(section, path, what), 0)
end

-- The provider of one section.
local function build(s, section, path, settings)
  local kind = nonempty(s.type)
  local label = ("ini %s [%s]"):format(path, section)
  local function need(field)
    local v = nonempty(s[field])
    if not v then bad(section, path, ("is type %s but has no %s"):format(tostring(kind), field)) end
    return v
  end
  local function wrap(fn, o)
    local ok, provider = pcall(fn, o)
    if not ok then bad(section, path, "cannot be used: " .. tostring(provider)) end
    provider.name = ("%s (%s)"):format(label, provider.name)
    provider.source = provider.name
    return provider
  end
  local duration = tonumber(s.duration_seconds or s.role_session_expiration or "")
  if kind == "access_key" then
    return static.new(need("access_key_id"), need("access_key_secret"), nil, label)
  elseif kind == "sts" then
    return static.new(need("access_key_id"), need("access_key_secret"), need("security_token"), label)
  elseif kind == "ecs_ram_role" then
    return wrap(require("ecs.credentials.ecs_ram_role").new, { role_name = nonempty(s.role_name),
      metadata_endpoint = settings.metadata_endpoint, getenv = settings.getenv, clock = settings.clock })
  elseif kind == "ram_role_arn" then
    return wrap(require("ecs.credentials.ram_role_arn").new, {
      source = static.new(need("access_key_id"), need("access_key_secret"), nil, label),
      role_arn = need("role_arn"), session_name = nonempty(s.role_session_name), policy = nonempty(s.policy),
      external_id = nonempty(s.external_id), duration = duration,
      sts_endpoint = settings.sts_endpoint or nonempty(s.sts_endpoint), sts_region = nonempty(s.sts_region),
      getenv = settings.getenv, clock = settings.clock,
    })
  elseif kind == "oidc_role_arn" then
    return wrap(require("ecs.credentials.oidc").new, {
      role_arn = need("role_arn"), provider_arn = need("oidc_provider_arn"),
      token_file = need("oidc_token_file_path"), session_name = nonempty(s.role_session_name),
      policy = nonempty(s.policy), duration = duration,
      sts_endpoint = settings.sts_endpoint or nonempty(s.sts_endpoint), sts_region = nonempty(s.sts_region),
      getenv = settings.getenv, clock = settings.clock,
    })
  end
  bad(section, path, ("has type %s; lua-ecs reads types %s"):format(tostring(kind), table.concat(M.TYPES, ", ")))
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return M.parse(text, path)
end

--- The INI file's provider for the chain. Returns the provider; or nil, why it was skipped, and
--- whether the skip was a section named (option or ALIBABA_CLOUD_PROFILE) but missing from an
--- existing file. Raises when the file is broken, or the section unusable.
---@param opts table its `profile` names the section
---@param getenv fun(name: string): string|nil
---@param settings? table sts_endpoint, metadata_endpoint, clock (for the fetching types)
---@return ecs.CredentialsProvider|nil provider
---@return string|nil skipped why
---@return boolean|nil named_missing
function M.provider(opts, getenv, settings)
  local paths, from_env = M.paths(getenv)
  if #paths == 0 then return nil, "HOME is not set" end
  local named = nonempty(opts.profile) or nonempty(getenv(M.ENV_PROFILE))
  local section = named or "default"
  for _, path in ipairs(paths) do
    local sections = read(path)
    if sections then
      local s = sections[section]
      if not s then
        return nil, ("no section [%s] in %s"):format(section, path), named ~= nil
      end
      if (s.enable or ""):lower() == "false" then
        return nil, ("section [%s] of %s has enable = false"):format(section, path)
      end
      local st = {}
      for k, v in pairs(settings or {}) do st[k] = v end
      st.getenv = getenv
      return build(s, section, path, st)
    elseif from_env then
      error(("credentials: %s names %s, which cannot be read"):format(M.ENV_FILE, path), 0)
    end
  end
  return nil, table.concat(paths, " and ") .. " do not exist"
end

--- The provider of a section of the INI file (ecs.credentials.ini_profile{ name = "default" }):
--- name (else ALIBABA_CLOUD_PROFILE, else "default"), path (else as the chain finds it),
--- sts_endpoint, metadata_endpoint, clock, getenv. Raises when the file or the section is missing
--- or unusable.
---@param opts? table
---@return ecs.CredentialsProvider
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("ini_profile: expected a table of options", 2) end
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local paths = opts.path and { opts.path } or M.paths(getenv)
  local section = nonempty(opts.name) or nonempty(getenv(M.ENV_PROFILE)) or "default"
  for _, path in ipairs(paths) do
    local sections = read(path)
    if sections then
      local s = sections[section]
      if not s then error(("ini_profile: no section [%s] in %s"):format(section, path), 2) end
      return build(s, section, path, { getenv = getenv, sts_endpoint = opts.sts_endpoint,
        metadata_endpoint = opts.metadata_endpoint, clock = opts.clock })
    end
  end
  error("ini_profile: no INI file (" .. (#paths > 0 and table.concat(paths, ", ") or "HOME is not set") .. ")", 2)
end

return M
