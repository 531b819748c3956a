-- Credentials printed by a command (the aliyun CLI's External mode, `process_command`): it
-- prints JSON { mode = "AK" | "StsToken", access_key_id, access_key_secret, sts_token,
-- expiration }. The command runs in the background (sh -c, under coreutils timeout) while the
-- task waits by sleeping: the event loop never blocks on it. Its output goes to a private
-- temporary file, read and removed at once.
local core = require "ecs.core"
local errors = require "ecs.errors"
local refresh = require "ecs.credentials.refresh"
local scheduler = require "ecs.scheduler"
local json = require("cjson.safe").new()

local M = {}

M.TIMEOUT = 60 -- seconds a command may run
M.MAX_OUTPUT = 64 * 1024

--- A provider of the credentials a command prints.
---@class ecs.ProcessProvider: ecs.RefreshingProvider
---@field command string
---@field timeout number
local Process = refresh.class({})
M.Process = Process

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function slurp(path, limit)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read(limit) or ""
  f:close()
  return text
end

local function failure(self, message)
  return errors.new { code = "Credentials.ProcessFailed", action = "process", retryable = false,
    message = ("the command %s %s"):format(self.command_shown, message) }
end

-- Runs the command without blocking the loop: the exit status, the output (nil and an error when
-- it could not run or did not finish).
local function run(self)
  local base = os.tmpname() -- an empty file only this user can read
  local out, rc = base .. ".out", base .. ".rc"
  local script = ("umask 077; ( timeout -k 1 %s sh -c %s >%s 2>/dev/null </dev/null; echo $? >%s.tmp; "
    .. "mv %s.tmp %s ) >/dev/null 2>&1 &"):format(("%g"):format(self.timeout), quote(self.command),
    quote(out), quote(rc), quote(rc), quote(rc))
  os.execute(script)
  local deadline, pause = core.now() + self.timeout + 5, 0.01
  local status
  while true do
    local text = slurp(rc, 64)
    if text then
      status = tonumber(text:match("%d+"))
      break
    end
    if core.now() > deadline then break end
    scheduler.sleep(pause)
    pause = math.min(pause * 2, 0.1)
  end
  local output = slurp(out, M.MAX_OUTPUT + 1)
  os.remove(out); os.remove(rc); os.remove(base)
  if not status then return nil, nil, failure(self, "did not finish") end
  return status, output
end

--- Runs the command and reads the credentials it prints.
---@return table|nil fields
---@return ecs.Error|nil err
function Process:fetch()
  local status, output, err = run(self)
  if not status then return nil, err end
  if status == 124 or status == 137 then
    return nil, failure(self, ("ran over its timeout of %g s"):format(self.timeout))
  end
  if status ~= 0 then return nil, failure(self, "exited with status " .. status) end
  if not output or #output > M.MAX_OUTPUT then return nil, failure(self, "printed no output, or too much") end
  local data = json.decode(output)
  if type(data) ~= "table" then return nil, failure(self, "printed something that is not a JSON object") end
  local function text(v) return type(v) == "string" and v ~= "" and v or nil end
  local id, secret, token = text(data.access_key_id), text(data.access_key_secret), text(data.sts_token)
  if not id or not secret then return nil, failure(self, "printed no access_key_id or access_key_secret") end
  local mode = data.mode
  if mode ~= nil and mode ~= "AK" and mode ~= "StsToken" then
    return nil, failure(self, "printed mode " .. tostring(mode) .. " (expected AK or StsToken)")
  end
  if mode == "StsToken" and not token then return nil, failure(self, "printed mode StsToken without sts_token") end
  if (id .. (token or "")):find("[\r\n%z]") then return nil, failure(self, "printed a key with CR, LF or NUL") end
  local expiration = data.expiration
  if type(expiration) == "string" and expiration ~= "" then
    expiration = refresh.parse_time(expiration)
    if not expiration then return nil, failure(self, "printed an expiration that is not an ISO 8601 time") end
  elseif type(expiration) ~= "number" then
    expiration = nil
  end
  return { access_key_id = id, access_key_secret = secret, security_token = token, expiration = expiration }
end

--- A provider of the credentials a command prints (the CLI's External mode).
--- opts: command (a shell command line), timeout (seconds, default 60), clock.
---@param opts table
---@return ecs.ProcessProvider
function M.new(opts)
  if type(opts) ~= "table" then error("process: expected a table of options", 2) end
  local command = opts.command
  if type(command) ~= "string" or not command:find("%S") then error("command: expected a command line", 2) end
  if command:find("%z") then error("command: must not contain NUL", 2) end
  local timeout = opts.timeout or M.TIMEOUT
  if type(timeout) ~= "number" or not (timeout > 0 and timeout <= 3600) then
    error("timeout: expected seconds above 0, at most 3600", 2)
  end
  local shown = command:match("^%s*(%S+)")
  return refresh.init(setmetatable({ command = command, command_shown = shown, timeout = timeout }, Process),
    "process " .. shown, opts.clock)
end

return M
