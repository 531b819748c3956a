-- init_by_lua (master): options, access keys and OIDC tokens; loads the request handlers (and
-- with them the generated parameter definitions) before the workers fork.
local conf = require "emu.conf"

local M = {}

local function load_keys(path)
  local keys = {}
  local fh = path and io.open(path, "r")
  if not fh then
    keys.testid = { secret = "testsecret" }
    return keys
  end
  for line in fh:lines() do
    line = line:gsub("#.*$", "")
    local id, secret, token = line:match("^%s*(%S+)%s+(%S+)%s*(%S*)")
    if id then keys[id] = { secret = secret, token = token ~= "" and token or nil } end
  end
  fh:close()
  return keys
end

-- one token a line; blank lines and lines starting with # are skipped
local function load_tokens(path)
  local list = {}
  local fh = path and path ~= "" and io.open(path, "r")
  if not fh then return list end
  for line in fh:lines() do
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then list[#list + 1] = line end
  end
  fh:close()
  return list
end

-- opts: speed, nonce_check, timestamp_check, access_keys_file, sts_lifetime, oidc_tokens_file,
-- role_name, imdsv1
function M.init(opts)
  require("emu.util").use_fast_encoder()
  conf.boot.speed = opts.speed
  conf.boot.nonce_check = opts.nonce_check
  conf.boot.timestamp_check = opts.timestamp_check
  conf.boot.sts_lifetime = opts.sts_lifetime or 0
  if opts.role_name then conf.boot.role_name = opts.role_name end
  if opts.imdsv1 ~= nil then conf.boot.imdsv1 = opts.imdsv1 end
  conf.boot.oidc_tokens = load_tokens(opts.oidc_tokens_file)
  conf.keys = load_keys(opts.access_keys_file)
  conf.init_master()
  require "emu.main"
  require "emu.control"
  require "emu.metadata"
end

function M.init_worker()
  math.randomseed(math.floor(ngx.now() * 1000) + ngx.worker.pid() * 7919)
end

return M
