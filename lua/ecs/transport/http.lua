-- HTTP/1.1 for the cosocket transport: the request's bytes, and the reply read from a socket
-- with ngx.socket.tcp's interface (receive(n), receiveuntil(pattern) with a size). Replies are
-- held to the limits of the curl transport: 64 KB of headers, 64 MB of body. Pure functions of
-- the socket, so the parsing is tested with scripted sockets, hostile replies included.
local M = {}

M.HEAD_LIMIT = 65536
M.BODY_LIMIT = 64 * 1024 * 1024
-- A chunk-size line longer than this is not one (hex digits and a short extension).
M.CHUNK_LINE_LIMIT = 1024
-- Interim (1xx) replies skipped before the final one.
M.MAX_INTERIM = 4

local concat, tonumber = table.concat, tonumber
local READ_SIZE = 8192

--- The bytes of a request: the request line, Host, the given headers, Content-Length and body.
--- Header values were checked for CR and LF by their makers (the signer, the transport).
---@param method string
---@param target string the path and query ("/?Action=...")
---@param host string the Host header (host[:port])
---@param headers? table<string, string>
---@param body? string
---@return string
function M.request_bytes(method, target, host, headers, body)
  local out, n = { method, " ", target, " HTTP/1.1\r\nHost: ", host, "\r\n" }, 6
  if headers then
    for name, value in pairs(headers) do
      local lower = name:lower()
      if lower ~= "host" and lower ~= "content-length" and lower ~= "connection" then
        out[n + 1], out[n + 2], out[n + 3], out[n + 4] = name, ": ", value, "\r\n"
        n = n + 4
      end
    end
  end
  if body and body ~= "" then
    out[n + 1] = "Content-Length: " .. #body .. "\r\n\r\n"
    out[n + 2] = body
  elseif method == "POST" or method == "PUT" then
    out[n + 1] = "Content-Length: 0\r\n\r\n"
  else
    out[n + 1] = "\r\n"
  end
  return concat(out)
end

-- Reads the header block (up to the blank line) in bounded pieces: a reply that never ends its
-- headers costs at most HEAD_LIMIT bytes. Returns the block without the blank line.
local function read_head(sock)
  local reader = sock:receiveuntil("\r\n\r\n")
  local parts, size = {}, 0
  while true do
    local data, err, partial = reader(READ_SIZE)
    if err then
      return nil, err, (partial and partial ~= "") or size > 0
    end
    if not data then break end -- the blank line was reached
    size = size + #data
    if size > M.HEAD_LIMIT then return nil, "too_large", true end
    parts[#parts + 1] = data
  end
  return concat(parts)
end

-- The fields the transport needs from a header block: status, and the framing headers. Every
-- line must be a header (a name and a colon); only the three framing headers are read.
local function parse_head(block)
  local major, minor, status = block:match("^HTTP/(%d)%.(%d) (%d%d%d)")
  if not status then return nil end
  local info = { status = tonumber(status), http10 = major == "1" and minor == "0" }
  for line in block:gmatch("\r\n([^\r\n]*)") do
    local colon = line:find(":", 1, true)
    if not colon or colon == 1 or line:find("^[ \t]") or line:sub(1, colon - 1):find("[^!#$%%&'*+.^_`|~%w-]") then
      return nil
    end
  end
  local lower = block:lower()
  local at = 1
  while true do
    local value
    at, value = select(2, lower:find("\r\ncontent%-length:[ \t]*([^\r\n]*)", at))
    if not at then break end
    value = value:match("^(%d+)[ \t]*$")
    if not value or (info.length and info.length ~= tonumber(value)) then return nil end
    info.length = tonumber(value)
  end
  local coding = lower:match("\r\ntransfer%-encoding:[ \t]*([^\r\n]*)")
  if coding then
    info.chunked = coding:match("chunked[ \t]*$") ~= nil
    if not info.chunked then info.unknown_coding = true end
  end
  local connection = lower:match("\r\nconnection:[ \t]*([^\r\n]*)")
  if connection then
    if connection:find("close", 1, true) then info.close = true end
    if connection:find("keep-alive", 1, true) then info.keep_alive = true end
  end
  return info
end

-- A fixed-length body.
local function read_length(sock, length)
  if length > M.BODY_LIMIT then return nil, "too_large" end
  if length == 0 then return "" end
  local data, err = sock:receive(length)
  if not data then return nil, err end
  return data
end

local function read_chunked(sock)
  local parts, size = {}, 0
  local line_reader = sock:receiveuntil("\r\n")
  local function line()
    local data, err = line_reader(M.CHUNK_LINE_LIMIT + 1)
    if not data then return nil, err or "bad" end
    -- the reader returns nil on the next call once the delimiter was reached
    local rest = line_reader(1)
    if rest ~= nil then return nil, "bad" end -- longer than the limit
    return data
  end
  while true do
    local text, err = line()
    if not text then return nil, err end
    local hex = text:match("^%s*(%x+)%s*;?.*$")
    if not hex or #hex > 8 then return nil, "bad" end
    local n = tonumber(hex, 16)
    if n == 0 then
      -- trailers, up to the blank line
      for _ = 1, 64 do
        local trailer, terr = line()
        if not trailer then return nil, terr end
        if trailer == "" then return concat(parts) end
      end
      return nil, "bad"
    end
    size = size + n
    if size > M.BODY_LIMIT then return nil, "too_large" end
    local data, rerr = sock:receive(n)
    if not data then return nil, rerr end
    parts[#parts + 1] = data
    local crlf, cerr = sock:receive(2)
    if not crlf then return nil, cerr end
    if crlf ~= "\r\n" then return nil, "bad" end
  end
end

-- A body that ends when the server closes the connection.
local function read_to_close(sock)
  local parts, size = {}, 0
  while true do
    local data, err, partial = sock:receive(READ_SIZE)
    data = data or partial
    if data and data ~= "" then
      size = size + #data
      if size > M.BODY_LIMIT then return nil, "too_large" end
      parts[#parts + 1] = data
    end
    if err == "closed" then return concat(parts) end
    if err then return nil, err end
  end
end

--- Reads one reply. Returns { status, head, body, keepalive } or nil, why, started: why is the
--- socket's error ("timeout", "closed", ...), "bad" (not HTTP, or malformed framing) or
--- "too_large" (over HEAD_LIMIT or BODY_LIMIT); started tells whether any byte of a reply came.
---@param sock table a connected socket (ngx.socket.tcp's interface)
---@param method string the request's method (a HEAD reply has no body)
---@return table|nil reply
---@return string|nil why
---@return boolean|nil started
function M.read_response(sock, method)
  local block, info
  for _ = 1, M.MAX_INTERIM + 1 do
    local err, started
    block, err, started = read_head(sock)
    if not block then return nil, err, started end
    info = parse_head(block)
    if not info then return nil, "bad", true end
    if info.status >= 200 or info.status < 100 then break end
    if info.status == 101 then return nil, "bad", true end -- no upgrade was asked for
    info = nil
  end
  if not info then return nil, "bad", true end
  local status = info.status
  local body, err
  if method == "HEAD" or status == 204 or status == 304 then
    body = ""
  elseif info.unknown_coding then
    return nil, "bad", true
  elseif info.chunked then
    body, err = read_chunked(sock)
  elseif info.length then
    body, err = read_length(sock, info.length)
  else
    body, err = read_to_close(sock)
    info.close = true
  end
  if not body then return nil, err == "closed" and "bad" or err, true end
  local keepalive = not info.close and (not info.http10 or info.keep_alive == true)
  return { status = status, head = block .. "\r\n\r\n", body = body, keepalive = keepalive }
end

return M
