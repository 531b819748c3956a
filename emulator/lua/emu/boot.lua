-- init_by_lua (master): options and access keys; loads the request handlers (and with them the
-- generated parameter definitions) before the workers fork.
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

-- opts: speed, nonce_check, timestamp_check, access_keys_file
function M.init(opts)
  require("emu.util").use_fast_encoder()
  conf.boot.speed = opts.speed
  conf.boot.nonce_check = opts.nonce_check
  conf.boot.timestamp_check = opts.timestamp_check
  conf.keys = load_keys(opts.access_keys_file)
  conf.init_master()
  require "emu.main"
  require "emu.control"
end

function M.init_worker()
  math.randomseed(math.floor(ngx.now() * 1000) + ngx.worker.pid() * 7919)
end

return M
