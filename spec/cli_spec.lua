-- The lua-ecs command line, run as a user runs it (bin/lua-ecs, a process of its own with a
-- clean environment) against the emulator: replies, lists from flags, exit statuses, --pager in
-- both paging modes, --waiter, --output, --dryrun, the client options, help, run, completion.
local E = require "support.emulator"
local cjson = require "cjson"

local shq = E.shq
local BIN = shq(E.ROOT .. "/bin/lua-ecs")
local IMAGE = "debian_12_4_x64_20G_alibase_20240126.vhd"
local EP = "--endpoint " .. shq(E.endpoint) .. " --region cn-hangzhou"

local HOME = (E.sh("mktemp -d /tmp/lua-ecs-cli-spec.XXXXXX"):gsub("%s+$", ""))

-- Runs bin/lua-ecs with `words` (shell words) in an environment of PATH, a HOME of its own and
-- the test keys (env: more variables; false drops one). Returns stdout, stderr, exit status, seconds.
local function lua_ecs(words, env, stdin)
  local vars = {
    PATH = os.getenv("PATH"), HOME = HOME,
    ALIBABA_CLOUD_ACCESS_KEY_ID = "testid", ALIBABA_CLOUD_ACCESS_KEY_SECRET = "testsecret",
    ALIBABA_CLOUD_ECS_METADATA_DISABLED = "true", -- never the metadata address, whatever the machine
  }
  for k, v in pairs(env or {}) do vars[k] = v or nil end
  local list = {}
  for k, v in pairs(vars) do list[#list + 1] = k .. "=" .. shq(v) end
  local errfile = os.tmpname()
  local t0 = os.time()
  local out, rc = E.sh(("env -i %s %s %s 2>%s%s"):format(table.concat(list, " "), BIN, words, shq(errfile),
    stdin and (" <" .. shq(stdin)) or " </dev/null"))
  local err = E.readfile(errfile) or ""
  os.remove(errfile)
  return out, err, rc, os.time() - t0
end

local function json(text)
  local ok, v = pcall(cjson.decode, text)
  assert(ok, "not JSON: " .. text)
  return v
end

local function requests(action)
  return (E.stats().requests or {})[action] or 0
end

local function total_requests()
  return E.stats().total_requests or 0
end

-- A security group and `amount` instances through the command line; their ids.
local function launch(amount)
  local out, err, rc = lua_ecs("CreateSecurityGroup " .. EP .. " --SecurityGroupName cli")
  assert(rc == 0, err)
  local sg = json(out).SecurityGroupId
  out, err, rc = lua_ecs(("RunInstances %s --ImageId %s --InstanceType ecs.g6.large --SecurityGroupId %s "
    .. "--Amount %d --Tag.1.Key app --Tag.1.Value web"):format(EP, IMAGE, sg, amount))
  assert(rc == 0, err)
  return json(out).InstanceIdSets.InstanceIdSet
end

local function write(file, text)
  local f = assert(io.open(file, "wb"))
  f:write(text)
  f:close()
  return file
end

describe("lua-ecs command line", function()
  before_each(function() E.reset { speed = 0 } end)
  teardown(function() E.sh("rm -rf " .. shq(HOME)) end)

  describe("calls", function()
    it("takes parameters by their documented names and prints the reply as pretty JSON", function()
      local ids = launch(3)
      local out, err, rc = lua_ecs(("DescribeInstances %s --RegionId cn-hangzhou --Status Running "
        .. "--InstanceIds %s"):format(EP, shq(cjson.encode { ids[1], ids[2] })))
      assert.are.equal(0, rc, err)
      assert.are.equal("", err)
      local reply = json(out)
      assert.are.equal(2, reply.TotalCount)
      local got = { reply.Instances.Instance[1].InstanceId, reply.Instances.Instance[2].InstanceId }
      table.sort(got)
      local want = { ids[1], ids[2] }
      table.sort(want)
      assert.are.same(want, got)
      -- pretty: keys sorted, two-space indent, integers as integers
      assert.matches('^{\n  "Instances": {\n    "Instance": %[\n      {\n', out)
      assert.matches('\n  "TotalCount": 2\n}\n$', out)
      local sent = E.last("DescribeInstances").params
      assert.are.equal(cjson.encode { ids[1], ids[2] }, sent.InstanceIds)
      assert.are.equal("Running", sent.Status)
    end)

    it("builds lists and objects from repeated and dotted flags, values by the model's types", function()
      local ids = launch(2)
      assert.are.same({ ["Tag.1.Key"] = "app", ["Tag.1.Value"] = "web", Amount = "2", ImageId = IMAGE,
        InstanceType = "ecs.g6.large" }, {
        ["Tag.1.Key"] = E.last("RunInstances").params["Tag.1.Key"],
        ["Tag.1.Value"] = E.last("RunInstances").params["Tag.1.Value"],
        Amount = E.last("RunInstances").params.Amount,
        ImageId = E.last("RunInstances").params.ImageId,
        InstanceType = E.last("RunInstances").params.InstanceType,
      })
      local _, err, rc = lua_ecs(("TagResources %s --ResourceType instance --ResourceId %s --ResourceId %s "
        .. "--Tag '[{\"Key\":\"env\",\"Value\":\"prod\"}]' --Tag.2.Key team --Tag.2.Value ops"):format(EP, ids[1], ids[2]))
      assert.are.equal(0, rc, err)
      local sent = E.last("TagResources").params
      assert.are.equal(ids[1], sent["ResourceId.1"])
      assert.are.equal(ids[2], sent["ResourceId.2"])
      assert.are.equal("env", sent["Tag.1.Key"])
      assert.are.equal("ops", sent["Tag.2.Value"])
      -- a JSON-style list from repeated flags; a boolean alone; an integer
      local out
      out, err, rc = lua_ecs(("DescribeInstances %s --InstanceIds %s --InstanceIds %s --PageSize 1"):format(EP,
        ids[1], ids[2]))
      assert.are.equal(0, rc, err)
      assert.are.equal(cjson.encode { ids[1], ids[2] }, E.last("DescribeInstances").params.InstanceIds)
      assert.are.equal(1, #json(out).Instances.Instance)
      out, err, rc = lua_ecs("DescribeInstances " .. EP .. " --DryRun")
      assert.are.equal(1, rc, out)
      assert.are.equal("DryRunOperation", json(err).code)
    end)

    it("exits 2 on usage errors, naming the closest valid name, and sends nothing", function()
      local cases = {
        { "DescribeInstancez", "DescribeInstancez: not an action of the ECS API; did you mean DescribeInstances?" },
        { "DescribeInstances --InstanceID x", "--InstanceID: unknown parameter of DescribeInstances; did you mean --InstanceIds?" },
        { "DescribeInstances --Tag.1.Kee x", "--Tag.1.Kee: Tag.1 has no field Kee; did you mean Key?" },
        { "StopInstance", "--InstanceId: required parameter of StopInstance is missing" },
        { "DescribeInstances --PageSize ten", "--PageSize: expected an integer, got 'ten'" },
        { "DescribeInstances --DryRun maybe", "--DryRun: expected true or false, got 'maybe'" },
        { "DescribeInstances --Tag app", "--Tag: expected a JSON array of objects" },
        { "DescribeInstances --pagr", "did you mean --pager?" },
        { "DescribeInstances --Status Running extra", "unexpected 'extra' after DescribeInstances" },
        { "DescribeInstances --signature-version v2", "--signature-version: v1 or v3, not 'v2'" },
        { "DescribeInstances --pager --waiter expr=a to=b", "--pager and --waiter do not go together" },
        { "DescribeInstances --waiter to=Running", "--waiter: expr= and to= are required" },
        { "DescribeInstances --output rows=Instances.Instance[]", "--output: cols= is required" },
        { "DescribeRegions --pager", "DescribeRegions does not return pages" },
        { "DescribeInstances --waiter expr=Instances.Instance[-].Status to=Running", "--waiter: expr=" },
      }
      for _, case in ipairs(cases) do
        local out, err, rc = lua_ecs(case[1] .. " " .. EP)
        assert.are.equal(2, rc, case[1] .. ": " .. err)
        assert.are.equal("", out, case[1])
        assert.truthy(err:find(case[2], 1, true), case[1] .. ": " .. err)
      end
      local _, err, rc = lua_ecs("", {})
      assert.are.equal(2, rc)
      assert.matches("Usage:", err)
      -- no credentials anywhere: a configuration error, before any request
      _, err, rc = lua_ecs("DescribeRegions " .. EP, { ALIBABA_CLOUD_ACCESS_KEY_ID = false })
      assert.are.equal(2, rc)
      assert.matches("credentials: none found", err)
      assert.are.equal(0, total_requests())
    end)

    it("exits 1 with the service's error as JSON on stderr", function()
      local out, err, rc = lua_ecs("StopInstance " .. EP .. " --InstanceId i-missing")
      assert.are.equal(1, rc)
      assert.are.equal("", out)
      local e = json(err)
      assert.are.equal("InvalidInstanceId.NotFound", e.code)
      assert.are.equal(404, e.http_status)
      assert.are.equal("StopInstance", e.action)
      assert.is_string(e.request_id)
      assert.is_string(e.message)
    end)

    it("exits 1 with a transport error as JSON on stderr", function()
      local port = E.free_port()
      local out, err, rc = lua_ecs("DescribeRegions --region cn-hangzhou --endpoint http://127.0.0.1:" .. port)
      assert.are.equal(1, rc)
      assert.are.equal("", out)
      local e = json(err)
      assert.are.equal("Transport.ConnectFailed", e.code)
      assert.matches("127.0.0.1:" .. port, e.message, 1, true)
    end)
  end)

  describe("--pager", function()
    local ids
    before_each(function() ids = launch(25) end)

    local function all_ids(items)
      local got = {}
      for _, item in ipairs(items) do got[#got + 1] = item.InstanceId end
      table.sort(got)
      return got
    end

    it("merges every page in NextToken mode", function()
      local before = requests("DescribeInstances")
      local out, err, rc = lua_ecs("DescribeInstances " .. EP .. " --MaxResults 10 --pager")
      assert.are.equal(0, rc, err)
      local reply = json(out)
      local want = { table.unpack(ids) }
      table.sort(want)
      assert.are.same(want, all_ids(reply.Instances.Instance))
      assert.is_nil(reply.NextToken)
      assert.is_string(reply.RequestId)
      assert.are.equal(3, requests("DescribeInstances") - before)
    end)

    it("merges every page in PageNumber mode, TotalCount kept and the page fields dropped", function()
      local before = requests("DescribeInstances")
      local out, err, rc = lua_ecs("DescribeInstances " .. EP .. " --PageSize 10 --pager mode=page")
      assert.are.equal(0, rc, err)
      local reply = json(out)
      assert.are.equal(25, #reply.Instances.Instance)
      assert.are.equal(25, reply.TotalCount)
      assert.is_nil(reply.PageNumber)
      assert.is_nil(reply.PageSize)
      local want = { table.unpack(ids) }
      table.sort(want)
      assert.are.same(want, all_ids(reply.Instances.Instance))
      assert.are.equal(3, requests("DescribeInstances") - before)
    end)

    it("pages an action that has PageNumber paging only, with an explicit path", function()
      local out, err, rc = lua_ecs("DescribeInstanceStatus " .. EP
        .. " --PageSize 7 --pager path=InstanceStatuses.InstanceStatus[]")
      assert.are.equal(0, rc, err)
      local reply = json(out)
      assert.are.equal(25, #reply.InstanceStatuses.InstanceStatus)
      assert.are.equal(25, reply.TotalCount)
      assert.are.equal(4, requests("DescribeInstanceStatus"))
      -- a path that is not in the reply is a usage error
      out, err, rc = lua_ecs("DescribeInstanceStatus " .. EP .. " --pager path=Statuses.Status")
      assert.are.equal(2, rc, out)
      assert.matches("path=Statuses.Status is not in the reply", err, 1, true)
    end)

    it("goes with --output: a table of every page", function()
      local out, err, rc = lua_ecs("DescribeInstances " .. EP .. " --MaxResults 10 --pager --output cols=InstanceId,Status")
      assert.are.equal(0, rc, err)
      local lines = {}
      for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.are.equal(27, #lines)
    end)
  end)

  describe("--waiter", function()
    it("polls until the expression reaches the value", function()
      E.control("POST", "config", { speed = 0.2 }) -- Pending 0.2 s, Starting 0.4 s
      local id = launch(1)[1]
      local before = requests("DescribeInstances")
      local out, err, rc = lua_ecs(("DescribeInstances %s --InstanceIds '[\"%s\"]' --waiter "
        .. "expr=Instances.Instance[0].Status to=Running interval=0.1"):format(EP, id))
      assert.are.equal(0, rc, err)
      assert.are.equal("Running", json(out).Instances.Instance[1].Status)
      assert.is_true(requests("DescribeInstances") - before >= 2, "the first poll should have seen it starting")
    end)

    it("waits for every element with []", function()
      E.control("POST", "config", { speed = 0.2 })
      launch(3)
      local out, err, rc = lua_ecs("DescribeInstances " .. EP
        .. " --waiter expr=Instances.Instance[].Status to=Running interval=0.1 --output cols=Status")
      assert.are.equal(0, rc, err)
      assert.are.equal("Status\n------\nRunning\nRunning\nRunning\n", out)
    end)

    it("exits 1 with WaitTimeout when the value is not reached in time", function()
      E.control("POST", "config", { speed = 20 }) -- 20 s Pending
      local id = launch(1)[1]
      local out, err, rc, took = lua_ecs(("DescribeInstances %s --InstanceIds '[\"%s\"]' --waiter "
        .. "expr=Instances.Instance[0].Status to=Running timeout=1 interval=0.2"):format(EP, id))
      assert.are.equal(1, rc, out)
      assert.are.equal("", out)
      local e = json(err)
      assert.are.equal("WaitTimeout", e.code)
      assert.matches("Instances.Instance[0].Status is Pending, waiting for Running", e.message, 1, true)
      assert.is_true(took <= 5, "took " .. took .. " s")
    end)

    it("fails fast on a state from which the value can never be reached", function()
      local id = launch(1)[1]
      E.control("POST", "config", { speed = 20 }) -- Stopping lasts 40 s
      local _, err, rc = lua_ecs("StopInstance " .. EP .. " --InstanceId " .. id)
      assert.are.equal(0, rc, err)
      local out, took
      out, err, rc, took = lua_ecs(("DescribeInstances %s --InstanceIds '[\"%s\"]' --waiter "
        .. "expr=Instances.Instance[0].Status to=Running timeout=60 interval=0.2"):format(EP, id))
      assert.are.equal(1, rc, out)
      local e = json(err)
      assert.are.equal("WaitFailed", e.code)
      assert.matches("Stopping cannot become Running", e.message, 1, true)
      assert.is_true(took <= 5, "took " .. took .. " s")
      -- fail= names such values for any expression
      out, err, rc = lua_ecs(("DescribeInstanceAttribute %s --InstanceId %s --waiter expr=Status to=Stopped "
        .. "fail=Stopping timeout=60 interval=0.2"):format(EP, id))
      assert.are.equal(1, rc, out)
      assert.are.equal("WaitFailed", json(err).code)
    end)
  end)

  it("--output prints a table as the aliyun CLI does", function()
    launch(3)
    local out, err, rc = lua_ecs("DescribeInstances " .. EP
      .. " --output cols=InstanceId,Status,ZoneId rows=Instances.Instance[]")
    assert.are.equal(0, rc, err)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(5, #lines)
    assert.matches("^InstanceId +| Status  | ZoneId$", lines[1])
    assert.matches("^%-%-%-%-%-%-%-%-%-%- +| %-%-%-%-%-%-  | %-%-%-%-%-%-$", lines[2])
    for i = 3, 5 do
      assert.matches("^i%-%w+ | Running | cn%-hangzhou%-%a$", lines[i])
    end
    -- the columns line up
    local bar = lines[1]:find("|", 1, true)
    for _, line in ipairs(lines) do assert.are.equal(bar, line:find("|", 1, true)) end
    -- rows default to the action's list; a missing field is an empty cell
    local out2
    out2, err, rc = lua_ecs("DescribeInstances " .. EP .. " --output cols=InstanceId,Status,ZoneId")
    assert.are.equal(0, rc, err)
    assert.are.equal(out, out2)
    out, err, rc = lua_ecs("DescribeInstances " .. EP .. " --output cols=InstanceId,NoSuchField")
    assert.are.equal(0, rc, err)
    assert.matches("\ni%-%w+ | \n", out)
    out, err, rc = lua_ecs("DescribeInstances " .. EP .. " --output cols=InstanceId rows=Nothing.Here[]")
    assert.are.equal(2, rc, out)
    assert.matches("the reply has nothing at Nothing.Here[]", err, 1, true)
  end)

  it("--dryrun prints the signed request with no secret in it and sends nothing", function()
    local id, secret, token = "LTAIcliSpecKey98765432", "cli-spec-secret-Zq8XwT", "cli-spec-token-Pq7Rs"
    local env = { ALIBABA_CLOUD_ACCESS_KEY_ID = id, ALIBABA_CLOUD_ACCESS_KEY_SECRET = secret,
      ALIBABA_CLOUD_SECURITY_TOKEN = token }
    local out, err, rc = lua_ecs("RunInstances " .. EP .. " --ImageId " .. IMAGE
      .. " --Tag.1.Key app --dryrun --debug=2", env)
    assert.are.equal(0, rc, err)
    local req = json(out)
    assert.are.equal("GET", req.method)
    assert.matches("^" .. E.endpoint:gsub("%p", "%%%0") .. "/%?", req.url)
    assert.truthy(req.url:find("Signature=****", 1, true), req.url)
    assert.truthy(req.url:find("SecurityToken=****", 1, true), req.url)
    assert.are.equal("LTAI****5432", req.params.AccessKeyId)
    assert.are.equal("app", req.params["Tag.1.Key"])
    assert.are.equal("RunInstances", req.params.Action)
    assert.is_string(req.params.ClientToken) -- as the call would send
    for _, text in ipairs { out, err } do
      for _, s in ipairs { id, secret, token } do assert.is_nil(text:find(s, 1, true), s) end
    end
    -- v3 over POST: the Authorization header's signature and the token header are masked too
    out, err, rc = lua_ecs("RunInstances " .. EP .. " --ImageId " .. IMAGE
      .. " --signature-version v3 --method POST --dryrun", env)
    assert.are.equal(0, rc, err)
    req = json(out)
    assert.are.equal("POST", req.method)
    assert.truthy(req.headers.authorization:find("Credential=LTAI****5432,", 1, true), req.headers.authorization)
    assert.truthy(req.headers.authorization:find("Signature=****", 1, true), req.headers.authorization)
    assert.are.equal("****", req.headers["x-acs-security-token"])
    assert.are.equal(IMAGE, req.params.ImageId)
    for _, text in ipairs { out, err } do
      for _, s in ipairs { id, secret, token } do assert.is_nil(text:find(s, 1, true), s) end
    end
    -- the region places the endpoint; nothing is sent
    out, err, rc = lua_ecs("DescribeRegions --region cn-shanghai --dryrun", env)
    assert.are.equal(0, rc, err)
    assert.matches("^https://ecs%.cn%-shanghai%.aliyuncs%.com/%?", json(out).url)
    assert.are.equal(0, total_requests())
  end)

  describe("client options", function()
    it("--quiet prints nothing on success; errors still go to stderr", function()
      local out, err, rc = lua_ecs("CreateSecurityGroup " .. EP .. " --quiet")
      assert.are.equal(0, rc, err)
      assert.are.equal("", out)
      assert.are.equal("", err)
      assert.are.equal(1, E.stats().created.securitygroup)
      out, err, rc = lua_ecs("StopInstance " .. EP .. " --InstanceId i-missing --quiet")
      assert.are.equal(1, rc)
      assert.are.equal("", out)
      assert.are.equal("InvalidInstanceId.NotFound", json(err).code)
    end)

    it("--debug writes the debug log to stderr, --debug=2 with the parameters", function()
      local out, err, rc = lua_ecs("DescribeRegions " .. EP .. " --debug")
      assert.are.equal(0, rc, err)
      assert.matches("^ecs: DescribeRegions attempt=1 status=200 .* %-> done\n$", err)
      assert.are.equal(18, #json(out).Regions.Region)
      out, err, rc = lua_ecs("DescribeRegions " .. EP .. " --debug=2")
      assert.are.equal(0, rc, err)
      assert.matches("ecs:   sent GET .*Signature=%*%*%*%*", err)
      assert.matches("AccessKeyId=%*%*%*%*&", err) -- testid is too short to show any of it
      assert.are.equal(18, #json(out).Regions.Region)
    end)

    it("--signature-version and --method choose how the request is signed and sent", function()
      local _, err, rc = lua_ecs("DescribeRegions " .. EP .. " --signature-version v3 --method POST")
      assert.are.equal(0, rc, err)
      local last = E.last("DescribeRegions")
      assert.are.equal("v3", last.signature_version)
      assert.are.equal("POST", last.method)
      _, err, rc = lua_ecs("DescribeRegions " .. EP)
      assert.are.equal(0, rc, err)
      last = E.last("DescribeRegions")
      assert.are.equal("v1", last.signature_version)
      assert.are.equal("GET", last.method)
    end)

    it("--profile takes the keys and region of an aliyun CLI profile; --region fills RegionId", function()
      local home = HOME .. "/profile-home"
      E.sh("mkdir -p " .. shq(home .. "/.aliyun"))
      write(home .. "/.aliyun/config.json", cjson.encode {
        current = "default",
        profiles = {
          { name = "default", mode = "AK", access_key_id = "nobody", access_key_secret = "wrong", region_id = "cn-beijing" },
          { name = "spec", mode = "AK", access_key_id = "testid", access_key_secret = "testsecret", region_id = "cn-shanghai" },
        },
      })
      local env = { HOME = home, ALIBABA_CLOUD_ACCESS_KEY_ID = false, ALIBABA_CLOUD_ACCESS_KEY_SECRET = false }
      local ep = "--endpoint " .. shq(E.endpoint)
      local _, err, rc = lua_ecs("DescribeInstances " .. ep .. " --profile spec", env)
      assert.are.equal(0, rc, err)
      assert.are.equal("testid", E.last("DescribeInstances").params.AccessKeyId)
      assert.are.equal("cn-shanghai", E.last("DescribeInstances").params.RegionId)
      _, err, rc = lua_ecs("DescribeInstances " .. ep .. " --profile spec --region eu-central-1", env)
      assert.are.equal(0, rc, err)
      assert.are.equal("eu-central-1", E.last("DescribeInstances").params.RegionId)
      -- the current profile's keys are refused by the service: exit 1
      local out
      out, err, rc = lua_ecs("DescribeInstances " .. ep, env)
      assert.are.equal(1, rc, out)
      assert.are.equal("InvalidAccessKeyId.NotFound", json(err).code)
      _, err, rc = lua_ecs("DescribeInstances " .. ep .. " --profile nope", env)
      assert.are.equal(2, rc)
      assert.matches("profile 'nope' not found", err, 1, true)
    end)
  end)

  describe("help", function()
    it("lists the actions by family", function()
      local out, err, rc = lua_ecs("help")
      assert.are.equal(0, rc, err)
      assert.matches("Usage:", out)
      assert.matches("Actions %(380%), by family", out)
      local instances = out:match("\nInstances %(%d+%)\n(.-)\n\n")
      assert.truthy(instances, out)
      for _, action in ipairs { "DescribeInstances", "RunInstances", "StartInstance", "StopInstances" } do
        assert.matches("%f[%w]" .. action .. "%f[%W]", instances)
      end
      local snapshots = out:match("\nSnapshots %(%d+%)\n(.-)\n\n")
      assert.matches("%f[%w]CreateSnapshot%f[%W]", snapshots)
      assert.are.equal(out, (lua_ecs("--help")))
    end)

    it("shows an action's parameters: types, required flags, descriptions, paging", function()
      local out, err, rc = lua_ecs("help DescribeInstances")
      assert.are.equal(0, rc, err)
      assert.matches("\n  %-%-InstanceIds +list of strings %(JSON%) +The IDs of the instances%.\n", out)
      assert.matches("\n  %-%-RegionId +string, required +", out)
      assert.matches("\n  %-%-Tag%.N%.Key +string +", out)
      assert.matches("\n  %-%-MaxResults +integer +", out)
      assert.matches("Pages: %-%-pager merges every page of Instances%.Instance", out)
      assert.are.equal(out, (lua_ecs("DescribeInstances --help")))

      out, err, rc = lua_ecs("help StopInstance")
      assert.are.equal(0, rc, err)
      assert.matches("\n  %-%-InstanceId +string, required +", out)
      assert.matches("\n  %-%-ForceStop +boolean +", out)
      assert.is_nil(out:find("Pages:", 1, true))

      out, err, rc = lua_ecs("help RunInstances")
      assert.are.equal(0, rc, err)
      assert.matches("\n  %-%-SystemDisk%.Category +string +", out)
      assert.matches("\n  %-%-DataDisk%.N%.Size +integer +", out)
      assert.matches("ClientToken: one is generated when not given", out)

      out, err, rc = lua_ecs("help DescribeInstancez")
      assert.are.equal(2, rc)
      assert.are.equal("", out)
      assert.matches("did you mean DescribeInstances?", err, 1, true)
    end)
  end)

  describe("run", function()
    it("runs a script inside ecs.run with ecs, client and its arguments", function()
      local script = write(HOME .. "/prototype.lua", [[
local name = ...
local group = assert(client:CreateSecurityGroup { SecurityGroupName = name })
local tasks = {}
for i = 1, 3 do
  tasks[i] = ecs.spawn(function() return client:DescribeSecurityGroupAttribute { SecurityGroupId = group.SecurityGroupId } end)
end
for _, t in ipairs(tasks) do assert(t:wait()) end
print(arg[0]:match("[^/]+$"), #arg, arg[2], client.region, group.SecurityGroupId)
]])
      local out, err, rc = lua_ecs(EP .. " run " .. shq(script) .. " web second")
      assert.are.equal(0, rc, err)
      local file, n, second, region, sg = out:match("^(%S+)\t(%d)\t(%S+)\t(%S+)\t(sg%-%w+)\n$")
      assert.are.equal("prototype.lua", file, out)
      assert.are.equal("2", n)
      assert.are.equal("second", second)
      assert.are.equal("cn-hangzhou", region)
      assert.are.equal(3, requests("DescribeSecurityGroupAttribute"))
      assert.are.equal(1, E.stats().created.securitygroup)
      -- the group the script made, named by its first argument
      out, err, rc = lua_ecs("DescribeSecurityGroupAttribute " .. EP .. " --SecurityGroupId " .. sg)
      assert.are.equal(0, rc, err)
      assert.are.equal("web", json(out).SecurityGroupName)
    end)

    it("exits 1 with the message when the script raises, with its own status when it returns one", function()
      local bad = write(HOME .. "/bad.lua", 'local res, err = client:StopInstance { InstanceId = "i-missing" }\n'
        .. "error(tostring(err))\n")
      local out, err, rc = lua_ecs("run " .. EP .. " " .. shq(bad))
      assert.are.equal(1, rc, out)
      assert.matches("bad.lua:2: InvalidInstanceId.NotFound", err, 1, true)
      local three = write(HOME .. "/three.lua", "return 3\n")
      out, err, rc = lua_ecs("run " .. shq(three))
      assert.are.equal(3, rc, err)
      assert.are.equal("", out)
      out, err, rc = lua_ecs("run " .. shq(HOME .. "/missing.lua"))
      assert.are.equal(2, rc, out)
      assert.matches("cannot open", err)
    end)
  end)

  describe("completion", function()
    -- what bash completes for the words (the last one being completed), with the script loaded
    local function complete(...)
      local words = { BIN }
      for _, w in ipairs { ... } do words[#words + 1] = shq(w) end
      local script = ([[eval "$(%s completion bash)"; COMP_WORDS=(%s); COMP_CWORD=%d; _lua_ecs; ]]
        .. [[printf '%%s\n' "${COMPREPLY[@]}"]]):format(BIN, table.concat(words, " "), #words - 1)
      local out = E.sh("env -i PATH=" .. shq(os.getenv("PATH")) .. " HOME=" .. shq(HOME) .. " bash -c "
        .. shq(script))
      local list = {}
      for line in out:gmatch("[^\n]+") do list[#list + 1] = line end
      return list
    end

    it("prints a bash script that lists the actions", function()
      local out, err, rc = lua_ecs("completion bash")
      assert.are.equal(0, rc, err)
      assert.matches("complete %-o default %-F _lua_ecs lua%-ecs", out)
      for _, action in ipairs { "DescribeInstances", "RunInstances", "UntagResources" } do
        assert.matches("%f[%w]" .. action .. "%f[%W]", out)
      end
      local _, err2, rc2 = lua_ecs("completion zsh")
      assert.are.equal(2, rc2)
      assert.matches("bash", err2)
    end)

    it("completes actions, commands, parameter names and option values in bash", function()
      local actions = complete("DescribeInstanc")
      assert.truthy(#actions >= 3)
      local set = {}
      for _, a in ipairs(actions) do set[a] = true end
      assert.is_true(set.DescribeInstances)
      assert.is_true(set.DescribeInstanceStatus)
      assert.is_nil(set.RunInstances)
      assert.are.same({ "help" }, complete("hel"))
      assert.are.same({ "RunInstances" }, complete("help", "RunInst"))
      local params = complete("--region", "cn-hangzhou", "DescribeInstances", "--InstanceI")
      assert.are.same({ "--InstanceIds" }, params)
      local tags = complete("DescribeInstances", "--Tag")
      assert.are.same({ "--Tag", "--Tag.1.Key", "--Tag.1.Value" }, tags)
      assert.are.same({ "--pager" }, complete("DescribeInstances", "--pag"))
      assert.are.same({ "v1", "v3" }, complete("DescribeInstances", "--signature-version", ""))
    end)
  end)

  it("version prints the version", function()
    local out, err, rc = lua_ecs("version")
    assert.are.equal(0, rc, err)
    assert.matches("^lua%-ecs %d+%.%d+%.%d+ %(ECS API 2014%-05%-26%)\n$", out)
  end)
end)
