-- Packaging: the rockspec builds with Debian's luarocks for Lua 5.4 and for Lua 5.1 (LuaJIT)
-- without extra variables and leaves the source tree as it was; `make install LUA_FLAVOR=luajit`
-- uses the LuaJIT/OpenResty paths; the installed ecs-emulator works from any directory and the
-- installed library calls it; the installed lua-ecs command runs on its own installation's
-- modules against the emulator. Everything goes into temporary folders.
local E = require "support.emulator"

local ROOT = E.ROOT
local ROCKSPEC = ROOT .. "/rockspec/lua-ecs-scm-1.rockspec"
local shq = E.shq

local function sh_ok(cmd)
  local out, rc = E.sh(cmd .. " 2>&1")
  assert(rc == 0, "command failed (" .. tostring(rc) .. "): " .. cmd .. "\n" .. out)
  return out
end

local function exists(path)
  local _, rc = E.sh("test -e " .. shq(path))
  return rc == 0
end

-- Every file git does not track, ignored ones included: what a build left in the tree.
local function untracked()
  return sh_ok("cd " .. shq(ROOT) .. " && git status --porcelain --ignored --untracked-files=all")
end

local function mktemp()
  return (sh_ok("mktemp -d /tmp/lua-ecs-install.XXXXXX"):gsub("%s+$", ""))
end

-- A script run by an interpreter with only the installed tree on its paths.
local function run_installed(lua, lmod, cmod, code)
  local path = lmod .. "/?.lua;" .. lmod .. "/?/init.lua;;"
  local cpath = cmod .. "/?.so;;"
  return sh_ok("cd / && env -u ECS_ENDPOINT LUA_PATH=" .. shq(path) .. " LUA_CPATH=" .. shq(cpath)
    .. " ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret "
    .. lua .. " -e " .. shq(code))
end

-- The installed lua-ecs command, from another directory and with no Lua paths in its
-- environment: its output, stderr and exit status.
local function lua_ecs(bin, words)
  local errfile = os.tmpname()
  local out, rc = E.sh("cd / && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u ECS_ENDPOINT "
    .. "ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret "
    .. shq(bin .. "/lua-ecs") .. " " .. words .. " 2>" .. shq(errfile))
  local err = E.readfile(errfile) or ""
  os.remove(errfile)
  return out, err, rc
end

-- Prints the interpreter and where the modules came from, run by `lua-ecs run`.
local WHERE = [[print(jit and "LuaJIT" or _VERSION, package.searchpath("ecs.cli", package.path),
  package.searchpath("ecs.core", package.cpath))]]

-- The installed command against the emulator at `url`: a reply, every page, help with the
-- descriptions installed beside it, and the interpreter and modules of its installation.
local function check_command(bin, url, lmod, cmod, interpreter)
  local ep = "--endpoint " .. shq(url) .. " --region cn-hangzhou"
  local out, err, rc = lua_ecs(bin, "DescribeRegions " .. ep .. " --output cols=RegionId,LocalName")
  assert.are.equal(0, rc, err)
  assert.matches("^RegionId +| LocalName\n", out)
  assert.matches("\ncn%-hangzhou +| ", out)
  out, err, rc = lua_ecs(bin, "DescribeZones " .. ep .. " --quiet")
  assert.are.equal(0, rc, err)
  assert.are.equal("", out)
  out, err, rc = lua_ecs(bin, "DescribeInstances " .. ep .. " --PageSize 1 --pager mode=page")
  assert.are.equal(0, rc, err)
  assert.matches('"Instances": {', out, 1, true)
  out, err, rc = lua_ecs(bin, "StopInstance " .. ep .. " --InstanceId i-missing")
  assert.are.equal(1, rc, out)
  assert.matches('"code": "InvalidInstanceId.NotFound"', err, 1, true)
  out, err, rc = lua_ecs(bin, "help DescribeInstances")
  assert.are.equal(0, rc, err)
  assert.matches("--InstanceIds +list of strings %(JSON%) +The IDs of the instances%.", out)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(WHERE)
  f:close()
  out, err, rc = lua_ecs(bin, "run " .. shq(script))
  os.remove(script)
  assert.are.equal(0, rc, err)
  assert.are.equal(("%s\t%s/ecs/cli/init.lua\t%s/ecs/core.so\n"):format(interpreter, lmod, cmod), out)
end

-- Calls DescribeRegions against ENDPOINT and prints where the modules came from.
local CALL = [[
local ecs = require "ecs"
local c = ecs.client { endpoint = os.getenv("ENDPOINT"), region = "cn-hangzhou" }
local res = assert(c:DescribeRegions {})
print(#res.Regions.Region, package.searchpath("ecs.core", package.cpath), package.searchpath("ecs", package.path))
]]

describe("packaging", function()
  local tmp = {}
  local function temp()
    local d = mktemp()
    tmp[#tmp + 1] = d
    return d
  end
  teardown(function()
    for _, d in ipairs(tmp) do E.sh("rm -rf " .. shq(d)) end
  end)

  for _, case in ipairs {
    { version = "5.4", lua = "lua5.4" },
    { version = "5.1", lua = "luajit" }, -- built against the Lua 5.1 headers, loaded by LuaJIT
  } do
    it("luarocks make (Lua " .. case.version .. ") installs a working rock and leaves the tree clean", function()
      local tree = temp()
      local before = untracked()
      sh_ok("cd " .. shq(ROOT) .. " && luarocks --lua-version " .. case.version .. " make --tree "
        .. shq(tree) .. " --deps-mode=none " .. shq(ROCKSPEC))
      assert.are.equal(before, untracked())

      local lmod = tree .. "/share/lua/" .. case.version
      local cmod = tree .. "/lib/lua/" .. case.version
      assert.is_true(exists(cmod .. "/ecs/core.so"), "no ecs/core.so in " .. cmod)
      assert.is_true(exists(cmod .. "/ecs/loop.so"), "no ecs/loop.so in " .. cmod)
      assert.is_true(exists(lmod .. "/ecs/init.lua"), "no ecs/init.lua in " .. lmod)
      -- editor annotations stay off the require path
      assert.are.equal("", sh_ok("grep -rl '^---@meta' " .. shq(lmod) .. " || true"))

      -- the installed emulator, started from another directory, and the rock calling it
      local state = temp()
      local url = sh_ok("cd / && " .. shq(tree .. "/bin/ecs-emulator") .. " start --state-dir "
        .. shq(state)):match("^(%S+)")
      finally(function() E.sh(shq(tree .. "/bin/ecs-emulator") .. " stop --state-dir " .. shq(state)) end)
      assert.matches("^http://127%.0%.0%.1:%d+$", url)
      local out = run_installed("ENDPOINT=" .. shq(url) .. " " .. case.lua, lmod, cmod, CALL)
      local regions, core_path, lua_path = out:match("^(%d+)%s+(%S+)%s+(%S+)")
      assert.are.equal("18", regions)
      assert.are.equal(cmod .. "/ecs/core.so", core_path)
      assert.are.equal(lmod .. "/ecs/init.lua", lua_path)
      -- the rock's lua-ecs command (LuaJIT for the 5.1 rock: plain Lua 5.1 cannot yield in pcall)
      check_command(tree .. "/bin", url, lmod, cmod, case.version == "5.1" and "LuaJIT" or "Lua 5.4")
    end)
  end

  it("make install LUA_FLAVOR=luajit uses the LuaJIT/OpenResty paths; the default uses 5.4's", function()
    local luajit_prefix, lua54_prefix = temp(), temp()
    sh_ok("cd " .. shq(ROOT) .. " && make install LUA_FLAVOR=luajit PREFIX=" .. shq(luajit_prefix))
    sh_ok("cd " .. shq(ROOT) .. " && make install PREFIX=" .. shq(lua54_prefix))
    for prefix, v in pairs { [luajit_prefix] = "5.1", [lua54_prefix] = "5.4" } do
      assert.is_true(exists(prefix .. "/lib/lua/" .. v .. "/ecs/core.so"), prefix .. ": no lib/lua/" .. v)
      assert.is_true(exists(prefix .. "/share/lua/" .. v .. "/ecs/client.lua"), prefix .. ": no share/lua/" .. v)
      assert.is_true(exists(prefix .. "/share/lua-ecs/types/ecs_2014_05_26.lua"), prefix .. ": no types")
      assert.is_true(exists(prefix .. "/bin/ecs-emulator"), prefix .. ": no bin/ecs-emulator")
    end
    local status = E.sh("cd / && " .. shq(luajit_prefix .. "/bin/ecs-emulator") .. " status --port 1")
    assert.matches("not running on port 1", status)
    local out = run_installed("luajit", luajit_prefix .. "/share/lua/5.1", luajit_prefix .. "/lib/lua/5.1",
      [[local ecs = require "ecs"; print(ecs.version, jit and "jit")]])
    assert.matches("jit", out)
    -- bin/lua-ecs of each, against this run's emulator, by the interpreter of its flavour
    check_command(lua54_prefix .. "/bin", E.endpoint, lua54_prefix .. "/share/lua/5.4",
      lua54_prefix .. "/lib/lua/5.4", "Lua 5.4")
    check_command(luajit_prefix .. "/bin", E.endpoint, luajit_prefix .. "/share/lua/5.1",
      luajit_prefix .. "/lib/lua/5.1", "LuaJIT")
  end)
end)
