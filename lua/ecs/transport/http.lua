-- HTTP/1.1 for the cosocket transport: the request's bytes, and the reply read from a socket
-- with ngx.socket.tcp's interface (receiveany, receive(n)) through a small buffer, so that a
-- reply that arrives whole costs one read. Replies are held to the limits of the curl transport:
-- 64 KB of headers, 64 MB of body. spec/openresty_spec.lua feeds it hostile replies.
local M = {}

M.HEAD_LIMIT = 65536
M.BODY_LIMIT = 64 * 1024 * 1024
-- A chunk-size line longer than this is not one (hex digits and a short extension).
M.CHUNK_LINE_LIMIT = 1024
-- Interim (1xx) replies skipped before the final one.
M.MAX_INTERIM = 4

local now = require("ecs.core").now
local concat, tonumber, floor = table.concat, tonumber, math.floor
local READ_SIZE = 8192
local BIG_READ = 65536 -- a body's reads

-- Headers the transport writes itself.
local FRAMING = { host = true, ["content-length"] = true, connection = true }

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
      if not FRAMING[name] and not FRAMING[name:lower()] then
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

-- A reader over the socket: what receiveany brought and is not consumed yet is kept in
-- `buf` from `pos` on. Most replies arrive whole in the first read.
local Reader = {}
Reader.__index = Reader

--- What the socket has, at most `max` bytes, within the reply's time: each read gets the time
--- left (a cosocket's timeout is per read, and a server sending a byte at a time would
--- otherwise stretch it without end).
---@param max integer
---@return string|nil data
---@return string|nil err
function Reader:receive_any(max)
  local ends = self.ends
  if ends then
    local left = (ends - now()) * 1000
    if left < 1 then return nil, "timeout" end
    self.sock:settimeout(floor(left))
  end
  return self.sock:receiveany(max)
end

--- Reads what the socket has (at most READ_SIZE bytes) onto the buffer; nil and the socket's
--- error when it has nothing more.
---@return boolean|nil ok
---@return string|nil err
function Reader:fill()
  local data, err = self:receive_any(READ_SIZE)
  if not data then return nil, err end
  local buf, pos = self.buf, self.pos
  if pos > #buf then
    self.buf = data
  else
    self.buf = buf:sub(pos) .. data
  end
  self.pos = 1
  return true
end

--- Bytes up to `delimiter` (consumed with it), at most `limit` before it: nil and the
--- socket's error, or "too_large" past the limit.
---@param delimiter string
---@param limit integer
---@return string|nil text
---@return string|nil err
function Reader:until_delimiter(delimiter, limit)
  local from = self.pos
  while true do
    local at = self.buf:find(delimiter, from, true)
    if at then
      if at - self.pos > limit then return nil, "too_large" end
      local text = self.buf:sub(self.pos, at - 1)
      self.pos = at + #delimiter
      return text
    end
    local pending = #self.buf - self.pos + 1
    if pending > limit then return nil, "too_large" end
    local ok, err = self:fill()
    if not ok then return nil, err end
    -- fill moved the unread bytes to the front: a delimiter may straddle their old end
    from = math.max(1, pending - #delimiter + 2)
  end
end

--- Exactly n bytes: what the buffer holds, the rest read in one receive.
---@param n integer
---@return string|nil bytes
---@return string|nil err
function Reader:take(n)
  local have = #self.buf - self.pos + 1
  if have >= n then
    local text = self.buf:sub(self.pos, self.pos + n - 1)
    self.pos = self.pos + n
    return text
  end
  local parts = { have > 0 and self.buf:sub(self.pos) or "" }
  self.buf, self.pos = "", 1
  local missing = n - have
  while missing > 0 do
    local data, err = self:receive_any(missing < BIG_READ and missing or BIG_READ)
    if not data then return nil, err end
    parts[#parts + 1] = data
    missing = missing - #data
  end
  return concat(parts)
end

--- Everything until the server closes the connection (at most BODY_LIMIT bytes).
---@return string|nil bytes
---@return string|nil err
function Reader:to_close()
  local parts, size = {}, #self.buf - self.pos + 1
  if size > 0 then parts[1] = self.buf:sub(self.pos) end
  self.buf, self.pos = "", 1
  while true do
    local data, err = self:receive_any(BIG_READ)
    if not data then
      if err == "closed" then return concat(parts) end
      return nil, err
    end
    size = size + #data
    if size > M.BODY_LIMIT then return nil, "too_large" end
    parts[#parts + 1] = data
  end
end

--- Whether any byte of a reply has come.
---@return boolean
function Reader:started()
  return self.began or #self.buf > 0
end

-- The fields the transport needs from a header block: status, and the framing headers. Every
-- line must be a header (a name and a colon); only the three framing headers are read.
local function parse_head(block)
  local minor, status = block:match("^HTTP/1%.(%d) ([1-5]%d%d)")
  if not status then return nil end
  local info = { status = tonumber(status), http10 = minor == "0" }
  -- Three scans of the block instead of a loop over its lines: a name with a character a
  -- header name cannot have (a line with no colon ends its name at CR), an empty name, and a
  -- folded line.
  if block:find("\r\n[!#$%%&'*+.^_`|~%w%-]*[^!#$%%&'*+.^_`|~%w%-:]") or block:find("\r\n:")
    or block:find("\r\n[!#$%%&'*+.^_`|~%w%-]*$") then
    return nil
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
    -- Only chunked alone can be read; with a Content-Length too, the framing is the server's
    -- mistake and the connection is not reused (RFC 9112 6.3).
    info.chunked = coding:match("^chunked[ \t]*$") ~= nil
    if not info.chunked then info.unknown_coding = true end
    if info.length then info.close = true end
  end
  local connection = lower:match("\r\nconnection:[ \t]*([^\r\n]*)")
  if connection then
    if connection:find("close", 1, true) then info.close = true end
    if connection:find("keep-alive", 1, true) then info.keep_alive = true end
  end
  return info
end

-- A fixed-length body.
local function read_length(reader, length)
  if length > M.BODY_LIMIT then return nil, "too_large" end
  if length == 0 then return "" end
  return reader:take(length)
end

local function read_chunked(reader)
  local parts, size = {}, 0
  while true do
    local text, err = reader:until_delimiter("\r\n", M.CHUNK_LINE_LIMIT)
    if not text then return nil, err == "too_large" and "bad" or err end
    local hex, rest = text:match("^(%x+)(.*)$")
    if not hex or #hex > 8 or not (rest == "" or rest:match("^[ \t]*;") or rest:match("^[ \t]+$")) then
      return nil, "bad"
    end
    local n = tonumber(hex, 16)
    if n == 0 then
      -- trailers, up to the blank line
      for _ = 1, 64 do
        local trailer, terr = reader:until_delimiter("\r\n", M.CHUNK_LINE_LIMIT)
        if not trailer then return nil, terr == "too_large" and "bad" or terr end
        if trailer == "" then return concat(parts) end
      end
      return nil, "bad"
    end
    size = size + n
    if size > M.BODY_LIMIT then return nil, "too_large" end
    local data, rerr = reader:take(n + 2)
    if not data then return nil, rerr end
    if data:sub(-2) ~= "\r\n" then return nil, "bad" end
    parts[#parts + 1] = data:sub(1, -3)
  end
end

--- Reads one reply. Returns { status, head, body, keepalive } or nil, why, started: why is the
--- socket's error ("timeout", "closed", ...), "bad" (not HTTP, or malformed framing) or
--- "too_large" (over HEAD_LIMIT or BODY_LIMIT); started tells whether any byte of a reply came.
---@param sock table a connected socket (ngx.socket.tcp's interface: receiveany, receive)
---@param method string the request's method (a HEAD reply has no body)
---@param ends? number when the attempt's time runs out (core.now() seconds): no read goes past it
---@return table|nil reply
---@return string|nil why
---@return boolean|nil started
function M.read_response(sock, method, ends)
  local reader = setmetatable({ sock = sock, buf = "", pos = 1, ends = ends }, Reader)
  local block, info
  for _ = 1, M.MAX_INTERIM + 1 do
    local err
    block, err = reader:until_delimiter("\r\n\r\n", M.HEAD_LIMIT)
    if not block then return nil, err, reader:started() end
    reader.began = true
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
    body, err = read_chunked(reader)
  elseif info.length then
    body, err = read_length(reader, info.length)
  else
    body, err = reader:to_close()
    info.close = true
  end
  if not body then return nil, err == "closed" and "bad" or err, true end
  -- Bytes beyond the reply: the connection is not in a state to reuse.
  local keepalive = not info.close and (not info.http10 or info.keep_alive == true)
    and reader.pos > #reader.buf
  return { status = status, head = block .. "\r\n\r\n", body = body, keepalive = keepalive }
end

return M
