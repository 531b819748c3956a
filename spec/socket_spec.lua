-- ecs.transport.socket: the cosocket-shaped stream socket on the ecs.loop event loop
-- (csrc/socket.c), against a throwaway redis-server as the peer (loopback and a unix socket).
local ecs = require "ecs"
local core = require "ecs.core"
local scheduler = require "ecs.scheduler"
local loop_module = require "ecs.loop"
local redis_support = require "support.redis"

local function tcp()
  local sock = scheduler.transport():tcp()
  sock:settimeouts(1000, 1000, 1000)
  return sock
end

-- A RESP command.
local function cmd(...)
  local args = { ... }
  local out = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n" end
  return table.concat(out)
end

describe("ecs.transport.socket", function()
  local server
  setup(function() server = redis_support.start { unixsocket = true } end)
  teardown(function() if server then server:stop() end end)

  it("connects, sends and receives lines and sized reads over TCP", function()
    ecs.run(function()
      local sock = tcp()
      assert.are.equal(1, sock:connect("127.0.0.1", server.port))
      assert.are.equal(0, sock:getreusedtimes())
      local req = cmd("ECHO", "hello\r\nworld")
      assert.are.equal(#req, sock:send(req))
      assert.are.equal("$12", sock:receive("*l"))
      assert.are.equal("hello\r\nworld\r\n", sock:receive(14))
      -- an array of strings is sent as one
      assert.are.equal(12, sock:send { "PING", "\r\n", "PING\r\n" })
      assert.are.equal("+PONG", sock:receive())
      assert.are.equal("+PONG", sock:receive("*l"))
      assert.are.equal(1, sock:close())
      assert.are.same({ nil, "closed" }, { sock:receive() })
      assert.are.same({ nil, "closed" }, { sock:send("PING\r\n") })
    end)
  end)

  it("connects to a unix socket given as unix:/path", function()
    ecs.run(function()
      local sock = tcp()
      assert.are.equal(1, sock:connect("unix:" .. server.unixsocket))
      sock:send("PING\r\n")
      assert.are.equal("+PONG", sock:receive())
      sock:close()
      local missing = tcp()
      local ok, err = missing:connect("unix:" .. server.dir .. "/nothing.sock")
      assert.is_nil(ok)
      assert.matches("No such file", err)
    end)
  end)

  it("reports a refused connection, a bad port, a bad path", function()
    ecs.run(function()
      local ok, err = tcp():connect("127.0.0.1", redis_support.free_port())
      assert.is_nil(ok)
      assert.are.equal("connection refused", err)
      assert.has_error(function() tcp():connect("127.0.0.1", "x") end, "connect: port must be an integer")
      ok, err = tcp():connect("127.0.0.1", 70000)
      assert.is_nil(ok)
      assert.matches("bad port", err)
      ok, err = tcp():connect("unix:" .. ("x"):rep(200))
      assert.is_nil(ok)
      assert.matches("too long", err)
    end)
  end)

  it("gives data that arrives in parts to one sized read, and times a read out with the partial data", function()
    ecs.run(function()
      local sock = tcp()
      assert(sock:connect("127.0.0.1", server.port))
      -- The first reply comes at once, the rest after the server slept 0.2 s.
      sock:send(cmd("ECHO", "abc") .. cmd("BLPOP", "nothing", "0.2") .. cmd("ECHO", "def"))
      local expected = "$3\r\nabc\r\n*-1\r\n$3\r\ndef\r\n"
      local t0 = core.now()
      assert.are.equal(expected, sock:receive(#expected))
      assert.is_true(core.now() - t0 >= 0.15)
      -- Now a read that cannot complete within its time.
      sock:settimeouts(nil, nil, 100)
      sock:send(cmd("ECHO", "ghi") .. cmd("BLPOP", "nothing", "0.4") .. cmd("ECHO", "jkl"))
      t0 = core.now()
      local data, err, partial = sock:receive(100)
      assert.is_nil(data)
      assert.are.equal("timeout", err)
      assert.are.equal("", partial) -- the socket keeps what arrived until it is asked for
      assert.is_true(core.now() - t0 >= 0.09 and core.now() - t0 < 0.35)
      assert.are.equal("$3", sock:receive("*l"))
      sock:settimeouts(nil, nil, 2000)
      assert.are.equal("ghi", sock:receive("*l"))
      assert.are.equal("*-1", sock:receive("*l"))
      sock:close()
    end)
  end)

  it("lets other tasks run while one waits for its reply", function()
    local order = {}
    ecs.run(function()
      local slow = ecs.spawn(function()
        local sock = tcp()
        assert(sock:connect("127.0.0.1", server.port))
        sock:send(cmd("BLPOP", "nothing", "0.2"))
        assert.are.equal("*-1", sock:receive())
        order[#order + 1] = "slow"
        sock:close()
      end)
      ecs.spawn(function()
        ecs.sleep(0.05)
        order[#order + 1] = "other"
      end)
      slow:wait()
    end)
    assert.are.same({ "other", "slow" }, order)
  end)

  it("reports the peer's close, with the data that came before it", function()
    ecs.run(function()
      local sock = tcp()
      assert(sock:connect("127.0.0.1", server.port))
      sock:send(cmd("QUIT"))
      assert.are.equal("+OK", sock:receive())
      local data, err, partial = sock:receive("*l")
      assert.is_nil(data)
      assert.are.equal("closed", err)
      assert.are.equal("", partial)
      sock:close()
      -- "*a" reads until the close
      sock = tcp()
      assert(sock:connect("127.0.0.1", server.port))
      sock:send(cmd("PING") .. cmd("QUIT"))
      assert.are.equal("+PONG\r\n+OK\r\n", sock:receive("*a"))
      sock:close()
      -- a sized read cut by the close gives what came
      sock = tcp()
      assert(sock:connect("127.0.0.1", server.port))
      sock:send(cmd("QUIT"))
      data, err, partial = sock:receive(10)
      assert.is_nil(data)
      assert.are.equal("closed", err)
      assert.are.equal("+OK\r\n", partial)
      sock:close()
    end)
  end)

  it("sends more than the kernel's buffer takes at once, and reads a large reply", function()
    ecs.run(function()
      local sock = tcp()
      assert(sock:connect("127.0.0.1", server.port))
      local value = ("0123456789abcdef"):rep(4 * 65536) -- 4 MB
      local req = cmd("SET", "big", value) .. cmd("GET", "big") .. cmd("DEL", "big")
      assert.are.equal(#req, sock:send(req))
      assert.are.equal("+OK", sock:receive())
      assert.are.equal("$" .. #value, sock:receive())
      local got = sock:receive(#value + 2)
      assert.are.equal(#value + 2, #got)
      assert.is_true(got == value .. "\r\n")
      assert.are.equal(":1", sock:receive())
      sock:close()
    end)
  end)

  it("keeps connections for reuse with setkeepalive, per pool, and drops one the peer closed", function()
    ecs.run(function()
      local sock = tcp()
      assert(sock:connect("127.0.0.1", server.port, { pool = "spec-pool" }))
      sock:send(cmd("CLIENT", "SETNAME", "kept"))
      assert.are.equal("+OK", sock:receive())
      assert.are.equal(1, sock:setkeepalive())
      assert.are.same({ nil, "closed" }, { sock:send("PING\r\n") })
      local again = tcp()
      assert(again:connect("127.0.0.1", server.port, { pool = "spec-pool" }))
      assert.are.equal(1, again:getreusedtimes())
      again:send(cmd("CLIENT", "GETNAME"))
      assert.are.equal("$4", again:receive())
      assert.are.equal("kept", again:receive())
      -- another pool gets a connection of its own
      local other = tcp()
      assert(other:connect("127.0.0.1", server.port))
      assert.are.equal(0, other:getreusedtimes())
      other:close()
      -- a kept connection the server closes while idle is not handed out again
      again:setkeepalive()
      server:cli("CLIENT KILL SKIPME no TYPE normal")
      ecs.sleep(0.05)
      local fresh = tcp()
      assert(fresh:connect("127.0.0.1", server.port, { pool = "spec-pool" }))
      assert.are.equal(0, fresh:getreusedtimes())
      fresh:send("PING\r\n")
      assert.are.equal("+PONG", fresh:receive())
      fresh:close()
    end)
  end)

  it("times a connect out when the server does not accept", function()
    local paused = redis_support.start { }
    paused:cli("CONFIG SET maxclients 10000")
    paused:pause()
    local ok, outcome = pcall(ecs.run, function()
      -- The listen backlog fills up; then the kernel drops SYNs and the connect waits.
      local socks, result = {}, nil
      for _ = 1, 600 do
        local sock = scheduler.transport():tcp()
        sock:settimeouts(100, 100, 100)
        local t0 = core.now()
        local c, err = sock:connect("127.0.0.1", paused.port)
        socks[#socks + 1] = sock
        if not c then
          result = { err = err, took = core.now() - t0 }
          break
        end
      end
      for _, s in ipairs(socks) do s:close() end
      return result
    end)
    paused:stop()
    assert(ok, outcome)
    assert.is_table(outcome, "every connect succeeded")
    assert.are.equal("timeout", outcome.err)
    assert.is_true(outcome.took >= 0.09 and outcome.took < 0.5, "took " .. tostring(outcome.took))
  end)

  it("can only wait inside a task", function()
    local transport = require("ecs.transport.curl").new()
    local sock = transport:tcp()
    local ok, err = pcall(sock.connect, sock, "127.0.0.1", server.port)
    -- the connect to loopback completes at once or needs a wait; the send of a reply does
    if ok and err then
      sock:send("PING\r\n")
      ok, err = pcall(sock.receive, sock)
    end
    assert.is_false(ok)
    assert.matches("outside a task", err)
    transport:close()
  end)

  describe("ecs.loop sockets #core", function()
    it("counts a waiting socket as pending and completes it through run_once", function()
      local lp = loop_module.new()
      local s = lp:socket()
      local c = s:connect("127.0.0.1", server.port)
      if c == false then
        local id = s:wait("w")
        assert.are.equal(1, lp:pending())
        local done = {}
        for _ = 1, 100 do
          done = lp:run_once(0.05)
          if #done > 0 then break end
        end
        assert.are.same({ { id = id, socket = true } }, done)
        assert.is_true(s:connected())
      end
      assert.are.equal(6, s:send("PING\r\n"))
      assert.is_false(s:receive("*l")) -- not yet
      local id = s:wait("r")
      assert.are.equal(1, lp:pending())
      local done
      for _ = 1, 100 do
        done = lp:run_once(0.05)
        if #done > 0 then break end
      end
      assert.are.same({ { id = id, socket = true } }, done)
      assert.are.equal(0, lp:pending())
      assert.are.equal("+PONG", s:receive("*l"))
      -- an abandoned wait completes nothing
      s:wait("r")
      s:unwait()
      assert.are.equal(0, lp:pending())
      assert.are.same({}, lp:run_once(0.01))
      lp:close()
      -- the loop closed its sockets
      assert.are.same({ nil, "closed" }, { s:send("PING\r\n") })
      assert.are.same({ nil, "the loop is closed" }, { s:connect("127.0.0.1", server.port) })
      assert.matches("closed", tostring(s))
    end)

    it("checks its arguments", function()
      local lp = loop_module.new()
      local s = lp:socket()
      assert.has_error(function() s:wait("x") end)
      assert.has_error(function() s:wait("r") end, "wait: the socket is closed")
      assert.has_error(function() s:receive("*x") end)
      assert.has_error(function() s:send({}) end)
      assert.has_error(function() s.send(nil, "x") end)
      lp:close()
      collectgarbage()
    end)

    it("survives its loop being collected first, and a socket being collected while waiting", function()
      local lp = loop_module.new()
      local kept = lp:socket()
      local waiting = lp:socket()
      if waiting:connect("127.0.0.1", server.port) == false then waiting:wait("w") end
      waiting = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.are.equal(0, lp:pending())
      lp = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.are.same({ nil, "the loop is closed" }, { kept:connect("127.0.0.1", server.port) })
    end)
  end)
end)
