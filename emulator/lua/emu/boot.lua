-- init_by_lua (master): options, access keys, the list of known ECS actions.
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

-- action names as data: the generated API model if present (read in an empty
-- environment, never run with access to anything), plus the list shipped here
local function load_actions(model_file)
  local known = {}
  for _, name in ipairs(require "emu.ecs_actions") do known[name] = true end
  if model_file then
    local fh = io.open(model_file, "rb")
    local src = fh and fh:read("*a")
    if fh then fh:close() end
    local chunk = src and src:sub(1, 1) ~= "\27" and loadstring(src, "=model")
    if chunk then
      setfenv(chunk, {})
      local ok, model = pcall(chunk)
      if ok and type(model) == "table" and type(model.actions) == "table" then
        for name in pairs(model.actions) do
          if type(name) == "string" then known[name] = true end
        end
      end
    end
  end
  return known
end

function M.init(opts)
  conf.boot.fast_encoder = require("emu.util").use_fast_encoder()
  for k, v in pairs(opts) do conf.boot[k] = v end
  conf.keys = load_keys(opts.access_keys_file)
  conf.known_actions = load_actions(opts.model_file)
  conf.init_master()
  require "emu.main"
  require "emu.control"
end

function M.init_worker()
  math.randomseed(math.floor(ngx.now() * 1000) + ngx.worker.pid() * 7919)
end

return M
