-- Digests computed by the openssl command line tool: an oracle for the
-- signing specs that shares no code with csrc/sign.c.
local M = {}

local function run(args, data)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  local p = assert(io.popen("openssl dgst " .. args .. " < " .. path .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return out
end

--- Hex digest ("sha1" / "sha256") of data, with an optional HMAC key.
function M.hex(alg, data, hmac_key)
  local args = "-" .. alg
  if hmac_key then
    assert(not hmac_key:find("'"), "test keys must not contain quotes")
    args = args .. " -hmac '" .. hmac_key .. "'"
  end
  local out = run(args, data)
  return (assert(out:match("= (%x+)%s*$"), "openssl failed: " .. out))
end

--- Base64 of the binary digest.
function M.base64(alg, data, hmac_key)
  local hex = M.hex(alg, data, hmac_key)
  local bin = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(bin)
  f:close()
  local p = assert(io.popen("openssl base64 -A < " .. path))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return (out:gsub("%s+$", ""))
end

return M
