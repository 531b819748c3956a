-- The `lua-ecs` command: dispatch and exit statuses. An action's call goes through the
-- library as a script's would (the credentials chain, the model's checks, retries, the rate
-- limiter), with --pager and --waiter on its pagination and waiters.
--   0 success; 1 the service or the network failed (the error as JSON on stderr);
--   2 a usage or configuration error (a message on stderr).
local args = require "ecs.cli.args"
local output = require "ecs.cli.output"

local M = {}

M.OK, M.FAILED, M.USAGE = 0, 1, 2

local function say(stream, text)
  stream:write(text)
  if text:sub(-1) ~= "\n" then stream:write("\n") end
end

local function usage_error(message)
  say(io.stderr, "lua-ecs: " .. message)
  return M.USAGE
end

-- An ecs.Error (or a waiter's) as JSON on stderr: every field it has.
local function service_error(err)
  local fields = {}
  for k, v in pairs(err) do fields[k] = v end
  say(io.stderr, output.json(fields))
  return M.FAILED
end

-- The options of the client the command line asks for.
local function client_options(options, params)
  local opts = {
    region = options.region, endpoint = options.endpoint, profile = options.profile,
    signature_version = options["signature-version"], method = options.method and options.method:upper(),
  }
  if opts.signature_version and opts.signature_version ~= "v1" and opts.signature_version ~= "v3" then
    args.usage("--signature-version: v1 or v3, not '" .. opts.signature_version .. "'")
  end
  if opts.method and opts.method ~= "GET" and opts.method ~= "POST" then
    args.usage("--method: GET or POST, not '" .. options.method .. "'")
  end
  -- the RegionId of the call places the endpoint when no --region says otherwise
  if not opts.region and params and type(params.RegionId) == "string" and params.RegionId ~= "" then
    opts.region = params.RegionId
  end
  if options.debug then
    opts.log = require("ecs.log").stderr
    opts.log_level = options.debug
  end
  return opts
end

local function make_client(ecs, opts)
  local ok, client = pcall(ecs.client, opts)
  if not ok then
    local message = tostring(client)
    if message:find("^region: required") then
      message = "--region: required (or --endpoint, ALIBABA_CLOUD_REGION_ID, or region_id in the aliyun CLI profile)"
    end
    args.usage(message)
  end
  return client
end

-- The request --dryrun shows: checked and encoded as the helper would, a ClientToken as the
-- call would add, signed, and masked.
local function dry_run(client, shape, params)
  local wire = require("ecs.api.validate").params(shape, params, client.region)
  if shape.client_token and wire.ClientToken == nil then wire.ClientToken = require("ecs.core").nonce() end
  local req = client:prepare(shape.name, wire)
  local shown = require("ecs.log").mask_request(req)
  if shown.body == "" then shown.body = nil end
  local sent = {}
  local query = shown.body or shown.url:match("%?(.*)$") or ""
  local function unescape(s)
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
  end
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    sent[unescape(k)] = unescape(v)
  end
  shown.params = sent
  return shown
end

-- The model's message about a parameter, naming it as the flag it came from.
local function as_flag(message)
  message = tostring(message)
  if message:match("^[%w_][%w_.]*: ") then return "--" .. message end
  return message
end

local function action_command(cmd, opts)
  local api = require "ecs.api"
  local util = require "ecs.util"
  local name = cmd.word
  if not api.has(name) then
    local hint = util.closest(name, api.actions())
    args.usage(("%s: not an action of the ECS API%s (lua-ecs help lists them)"):format(name,
      hint and ("; did you mean " .. hint .. "?") or ""))
  end
  local shape = api.action(name)
  local options = cmd.options
  if options.help then
    io.stdout:write(require("ecs.cli.help").action(name, opts.types))
    return M.OK
  end
  local params = args.params(shape, cmd.flags)
  local pager, waiter, tabular
  if options.pager and options.waiter then args.usage("--pager and --waiter do not go together") end
  local ok, err = pcall(function()
    if options.pager then pager = require("ecs.cli.pager").spec(shape, options.pager) end
    if options.waiter then waiter = require("ecs.cli.waiter").spec(shape, options.waiter) end
    if options.output then
      tabular = output.table_spec(options.output, shape.paging and shape.paging.list)
    end
  end)
  if not ok then args.usage(err) end
  local validate = require "ecs.api.validate"
  -- the model's checks before anything else (credentials, the network): a placeholder region
  -- stands for the client's, which fills RegionId
  ok, err = pcall(validate.params, shape, params, "-")
  if not ok then args.usage(as_flag(err)) end
  local ecs = require "ecs"
  local client = make_client(ecs, client_options(options, params))
  ok, err = pcall(validate.params, shape, params, client.region)
  if not ok then args.usage(as_flag(err)) end

  local res, call_err
  local done, raised = ecs.run(function()
    -- caught inside the task: ecs.run would add a traceback to a message
    return pcall(function()
      if options.dryrun then
        res = dry_run(client, shape, params)
      elseif pager then
        res, call_err = require("ecs.cli.pager").run(client, shape, params, pager)
      elseif waiter then
        res, call_err = require("ecs.cli.waiter").run(client, shape, params, waiter)
      else
        res, call_err = client[name](client, params)
      end
    end)
  end)
  if not done then
    if args.is_usage(raised) then error(raised, 0) end
    if require("ecs.errors").is(raised) then return service_error(raised) end
    say(io.stderr, "lua-ecs: " .. tostring(raised))
    return M.FAILED
  end
  if call_err then return service_error(call_err) end
  if options.quiet then return M.OK end
  if type(res) == "string" then
    say(io.stdout, res) -- --Format XML: the body as the service sent it
  elseif tabular and not options.dryrun then
    local text
    ok, text = pcall(output.table, res, tabular)
    if not ok then return usage_error(text) end
    io.stdout:write(text)
  else
    say(io.stdout, output.json(res))
  end
  return M.OK
end

local function run_command(cmd)
  if not cmd.script then args.usage("run: which script? (lua-ecs run script.lua [args...])") end
  local ecs = require "ecs"
  local status, err, usage = require("ecs.cli.run").script(ecs, cmd.script, cmd.args,
    client_options(cmd.options))
  if status then return status end
  if usage then return usage_error(err) end
  say(io.stderr, "lua-ecs: " .. err)
  return M.FAILED
end

local function dispatch(argv, opts)
  local cmd = args.parse(argv)
  local word = cmd.word
  local version = require("ecs").version
  if cmd.options.version or word == "version" then
    say(io.stdout, ("lua-ecs %s (ECS API %s)"):format(version, require("ecs.api").info().version))
    return M.OK
  end
  if word == nil or word == "help" then
    local help = require "ecs.cli.help"
    local action = cmd.args[1]
    if action == "run" or action == "completion" or action == "version" or action == "help" then
      action = nil -- the commands are in the general help
    end
    if action then
      if #cmd.args > 1 then args.usage("help: one action at a time") end
      return action_command({ word = action, options = { help = true }, flags = {} }, opts)
    end
    if word == nil and not cmd.options.help then
      io.stderr:write(help.USAGE)
      return M.USAGE
    end
    io.stdout:write(help.general(version))
    return M.OK
  end
  if word == "completion" then
    local script, err = require("ecs.cli.completion").script(cmd.args[1])
    if not script then args.usage(err) end
    io.stdout:write(script)
    return M.OK
  end
  if word == "__complete" then
    local words = require("ecs.cli.completion").words(cmd.args[1] or "")
    if #words > 0 then say(io.stdout, table.concat(words, "\n")) end
    return M.OK
  end
  if word == "run" then return run_command(cmd) end
  return action_command(cmd, opts)
end

--- Runs the command line; returns the exit status (0 success, 1 the call failed, 2 usage).
--- opts.types: the editor annotations file (types/ecs_2014_05_26.lua), where `help` finds the
--- parameters' descriptions.
---@param argv string[] the words after the command's name
---@param opts? {types?: string}
---@return integer status
function M.main(argv, opts)
  opts = opts or {}
  local ok, status = xpcall(dispatch, function(e)
    if args.is_usage(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, argv, opts)
  if ok then return status end
  if args.is_usage(status) then return usage_error(status.message) end
  say(io.stderr, "lua-ecs: internal error: " .. tostring(status))
  return M.FAILED
end

return M
