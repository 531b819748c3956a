-- Writes the hand-made seed inputs of fuzz/<target>/seeds/ (lua5.4 fuzz/gen-seeds.lua).
-- The byte layouts mirror the readers of fuzz/common.h and the targets; a
-- seed is only a starting point, so a layout drifting out of date makes a
-- seed less useful, never wrong. Inputs saved from findings (regressions)
-- live beside these files and are not touched.
local pack, char = string.pack, string.char
local NAN, INF = 0 / 0, math.huge

-- ---- fz readers (fuzz/common.h) ------------------------------------------

local function u8(n) return char(n & 255) end
local function u16(n) return pack("<I2", n) end
local function str(s)
  if #s < 255 then return u8(#s) .. s end
  return "\255" .. u16(#s) .. s
end

-- Indices into FZ_SPECIAL and FZ_NAMES.
local SPECIAL = { nan = 0, mnan = 1, inf = 2, minf = 3, zero = 4, mzero = 5, e308 = 6,
  me308 = 7, max = 8, mmax = 9, min = 10, denorm = 11, mdenorm = 12, p63 = 13, m63 = 14,
  below_m63 = 15, below_p63 = 16, p64 = 17, p53 = 18, p53_1 = 19, e19 = 21, e300 = 23,
  e_300 = 25, half = 26, tenth = 28, one = 30, p31 = 31, p32 = 33, year10000 = 36,
  year1 = 37, three = 42 }
local SPECIAL_INT = { zero = 0, one = 1, minus1 = 2, n60 = 4, n64 = 8, n1000 = 9,
  int64_max = 13, int64_min = 14, p53_1 = 16, year10000 = 17 }
local NAMES = { RegionId = 0, InstanceId = 1, InstanceIds = 2, Tag = 3, Key = 4, Value = 5,
  PageSize = 6, PageNumber = 7, Action = 8, Format = 9, Version = 10, AccessKeyId = 11,
  Signature = 12, Timestamp = 17, ClientToken = 18, DryRun = 19, ["1"] = 20, [""] = 22,
  ["a b"] = 23, ["Tag.1.Key"] = 28 }

-- fz_double
local D = {
  raw = function(d) return "\0" .. pack("<d", d) end,
  special = function(name) return "\1" .. u8(assert(SPECIAL[name], name)) end,
  int = function(i) return "\2" .. pack("<i2", i) end,
  pow2 = function(neg, e9) return "\3" .. u8(neg and 1 or 0) .. pack("<i1", e9) end,
  frac = function(x) return "\4" .. u16(math.floor(x * 65536)) end,
}
-- fz_push_number
local N = {
  small = function(i) return "\0" .. pack("<i1", i) end,
  int = function(i) return "\1" .. pack("<i8", i) end,
  special_int = function(name) return "\2" .. u8(assert(SPECIAL_INT[name], name)) end,
  double = function(denc) return "\3" .. denc end,
}

-- fz_value
local V = {}
function V.str(s) return "\0" .. str(s) end
function V.name(n) return "\1" .. u8(assert(NAMES[n], n)) end
function V.num(nenc) return "\2" .. nenc end
local function float(d) return V.num(N.double(D.raw(d))) end -- a float value
function V.bool(b) return "\3" .. u8(b and 1 or 0) end
-- map{ {key, venc}, ... }: a key is a string, or {name = "RegionId"}
function V.map(pairs_)
  local out = { "\4", u8(#pairs_) }
  for _, p in ipairs(pairs_) do
    local k, v = p[1], p[2]
    if type(k) == "table" then out[#out + 1] = "\1" .. u8(assert(NAMES[k.name], k.name))
    else out[#out + 1] = "\0" .. str(k) end
    out[#out + 1] = v
  end
  return table.concat(out)
end
function V.list(items) return "\5" .. u8(#items) .. table.concat(items) end
-- anykeys{ {kenc, venc}, ... } with K below
function V.anykeys(pairs_)
  local out = { "\6", u8(#pairs_) }
  for _, p in ipairs(pairs_) do out[#out + 1] = p[1] .. p[2] end
  return table.concat(out)
end
function V.ref(i) return "\7" .. u8(i) end -- table number i (0-based, modulo the count)
V.null = "\8"
function V.odd(k) return "\9" .. u8(k) end
function V.chain(bits, nenc) -- bits: a string of '0' (map "A") / '1' (list) per level
  local out = { "\10", u8(#bits) }
  for b in bits:gmatch(".") do out[#out + 1] = u8(b == "1" and 1 or 0) end
  out[#out + 1] = nenc
  return table.concat(out)
end
function V.long(n8, letter) return "\11" .. u8(n8) .. u8(letter) end
-- fz_key
local K = {
  name = function(n) return "\0" .. u8(assert(NAMES[n], n)) end,
  str = function(s) return "\1" .. str(s) end,
  small = function(i) return "\2" .. u8(i) end,
  num = function(nenc) return "\3" .. nenc end,
  bool = function(b) return "\4" .. u8(b and 1 or 0) end,
  value = function(venc) return "\5" .. venc end,
}
-- fz_params{ {key, venc} }: key a string, {name = ...}, or {key = K...}
local function params(pairs_)
  local out = { u8(#pairs_) }
  for _, p in ipairs(pairs_) do
    local k, v = p[1], p[2]
    if type(k) == "table" and k.key then out[#out + 1] = "\0" .. k.key
    elseif type(k) == "table" then out[#out + 1] = "\1\1" .. u8(assert(NAMES[k.name], k.name))
    else out[#out + 1] = "\1\0" .. str(k) end
    out[#out + 1] = v
  end
  return table.concat(out)
end

-- ---- writing ---------------------------------------------------------------

local root = (arg and arg[0] or "fuzz/gen-seeds.lua"):match("^(.*)/[^/]*$") or "."
local count = 0
local function seed(target, name, bytes)
  local path = ("%s/%s/seeds/%s"):format(root, target, name)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  count = count + 1
end

-- ---- encode: the raw bytes ----------------------------------------------------

seed("encode", "empty", "")
seed("encode", "unreserved", "ABCXYZabcxyz0189-_.~")
seed("encode", "reserved", "a b*c%d/e+f=g&h~i:j?k#l[m]n@o!p$q'r(s)t,u;v\"w<x>y\\z^`{|}")
seed("encode", "utf8-and-nul", "\xe4\xb8\xad\xe6\x96\x87 \0\r\n\t\xff\xfe\x80")
do
  local all = {}
  for i = 0, 255 do all[#all + 1] = char(i) end
  seed("encode", "all-bytes", table.concat(all))
end

-- ---- flatten: flags, params, then doubles ---------------------------------------

seed("flatten", "simple", "\3" .. params {
  { { name = "RegionId" }, V.str "cn-hangzhou" },
  { { name = "PageSize" }, V.num(N.small(50)) },
  { { name = "DryRun" }, V.bool(true) },
})
seed("flatten", "tags-and-lists", "\5" .. params {
  { { name = "Tag" }, V.list {
    V.map { { { name = "Key" }, V.str "env" }, { { name = "Value" }, V.str "prod" } },
    V.map { { { name = "Key" }, V.str "a b" }, { { name = "Value" }, V.str "*%~" } },
  } },
  { { name = "InstanceIds" }, V.list { V.str "i-1", V.str "i-2", V.str "i-3" } },
  { "Tag.1.Key", V.str "given twice" },
  { { name = "RegionId" }, V.str "cn-beijing" },
})
seed("flatten", "floats", "\0" .. params {
  { "Price", float(0.1) },
  { "Big", V.num(N.double(D.special "p63")) },
  { "Tiny", V.num(N.double(D.special "denorm")) },
  { "Max", V.num(N.int(math.maxinteger)) },
  { "Min", V.num(N.special_int "int64_min") },
} .. D.special "nan" .. D.special "inf" .. D.special "minf" .. D.special "e308"
  .. D.special "max" .. D.special "denorm" .. D.special "p64" .. D.special "mzero"
  .. D.raw(1 / 3) .. D.raw(123456789.125) .. D.pow2(true, 100) .. D.int(-7) .. D.frac(0.75))
seed("flatten", "not-finite", "\1" .. params {
  { "A", V.map { { "B", V.num(N.double(D.special "nan")) } } },
})
seed("flatten", "odd-tables", "\7" .. params {
  { "Sparse", V.anykeys { { K.small(1), V.str "a" }, { K.small(3), V.str "c" } } },
  { "Mixed", V.anykeys { { K.small(1), V.str "a" }, { K.str "x", V.str "b" } } },
  { "FloatKey", V.anykeys { { K.num(N.double(D.raw(1.5))), V.str "x" } } },
  { "BoolKey", V.anykeys { { K.bool(true), V.str "x" } } },
  { "TableKey", V.anykeys { { K.value(V.map {}), V.str "x" } } },
  { "Empty", V.map {} },
  { "EmptyName", V.map { { "", V.str "x" } } },
  { "Func", V.odd(1) },
})
seed("flatten", "cycle", "\2" .. params {
  { "Self", V.map { { "Again", V.ref(1) } } },
})
seed("flatten", "shared-and-nested", "\4" .. params {
  { "A", V.map { { { name = "Key" }, V.str "x" } } },
  { "B", V.list { V.ref(1), V.ref(1) } },
  { "Ok", V.chain("0101010101", N.small(2)) },
  { "LongValue", V.long(70, 0) },
})
seed("flatten", "too-deep", "\0" .. params { { "Deep", V.chain(("01"):rep(10), N.small(1)) } })
seed("flatten", "name-too-long", "\0" .. params { { { key = K.value(V.long(70, 1)) }, V.str "x" } })

-- ---- sign: flags, odd, [token][agent][secret][version][method], 4 requests,
-- ---- 4 numbers for core.timestamp, then hmac/digest triples ------------------

local TS, NONCE = "2024-05-01T12:00:00Z", "3b9d2a6e-0c4f-4a8e-9c1d-5f7e2b8a4c10"
local function request(action, pinned, sel, p)
  return str(action) .. (pinned and (str(TS) .. str(NONCE)) or "") .. u8(sel) .. (p or "")
end
local function requests(pinned)
  return request("DescribeRegions", pinned, 0)
    .. request("DescribeInstances", pinned, 3, params {
      { { name = "RegionId" }, V.str "cn-hangzhou" },
      { { name = "PageSize" }, V.num(N.small(10)) },
      { { name = "InstanceIds" }, V.list { V.str "i-1", V.str "i 2*" } },
    })
    .. request("RunInstances", pinned, 3, params {
      { { name = "Tag" }, V.list { V.map { { { name = "Key" }, V.str "k" }, { { name = "Value" }, V.str "v" } } } },
      { "Amount", float(2.5) },
    })
    .. request("X", pinned, 2)
end
local timestamps = N.double(D.raw(1714564800)) .. N.double(D.special "nan")
  .. N.double(D.special "year10000") .. N.special_int "int64_max"
local macs = u8(0) .. str "key" .. str "message"     -- sha1, hex
  .. u8(1) .. str "" .. str ""                       -- sha256, hex
  .. u8(6) .. str(("k"):rep(100)) .. str "m"         -- sha256, base64
  .. u8(10) .. str "k" .. str "\0\1\2"               -- sha1, raw
  .. u8(20) .. str "k" .. str "m"                    -- sha1, nil (hex)
  .. u8(2) .. str "k" .. str "m"                     -- md5: refused
seed("sign", "v1-get-pinned", u8(0xE0) .. u8(2) .. requests(true) .. timestamps .. macs)
seed("sign", "v3-post-token-agent", u8(0xEF) .. u8(2) .. str "sts-token" .. str "lua-ecs/fuzz"
  .. requests(true) .. timestamps .. macs)
seed("sign", "v3-get-own-secret", u8(0xF1) .. u8(3) .. str(("s"):rep(200)) .. requests(true)
  .. timestamps)
seed("sign", "v1-post-fresh", u8(0x12) .. u8(4) .. str "" .. requests(false) .. timestamps)
seed("sign", "reserved-and-bad", u8(0xE1) .. u8(5)
  .. request("DescribeRegions", true, 3, params { { { name = "Signature" }, V.str "x" } })
  .. request("", true, 0)
  .. request("DescribeRegions", true, 3, params { { "A", V.map { { "B", V.ref(0) } } } })
  .. request("DescribeRegions", true, 1))
seed("sign", "bad-version", u8(0x00) .. u8(0x10) .. str "v2")
seed("sign", "bad-method", u8(0x00) .. u8(0x11) .. str "PUT")

-- ---- reply: mode 0 = a JSON text; odd = a table (2: any graph, 4: a params map)

seed("reply", "json-big-integers", "\0" .. [[{"RequestId":"A1","TotalCount":12345678901234567890,]]
  .. [["Price":1.5,"Ids":[9007199254740993,-9223372036854775809,9007199254740992,1e400,]]
  .. [[12345678901234567890.5,12345678901234567890e3],"S":"12345678901234567890\"12345678901234567",]]
  .. [["Esc":"\\",  "N":-00012345678901234567}]])
seed("reply", "json-small", "\0" .. [[{"RequestId":"B2","Instances":{"Instance":[{"Cpu":2,"Memory":4096.0}]},"PageSize":10}]])
seed("reply", "tree-floats", "\1" .. V.map {
  { "TotalCount", float(12.0) },
  { "Price", float(1.5) },
  { "Big", V.num(N.double(D.special "p63")) },
  { "Edge", V.num(N.double(D.special "m63")) },
  { "BelowEdge", V.num(N.double(D.special "below_m63")) },
  { "Largest", V.num(N.double(D.special "below_p63")) },
  { "NaN", V.num(N.double(D.special "nan")) },
  { "Inf", V.num(N.double(D.special "minf")) },
  { "Zero", V.num(N.double(D.special "mzero")) },
  { "List", V.list { float(1.0), float(2.0), float(3.5), V.null, V.bool(false), V.str "7" } },
  { "Deep", V.chain(("0"):rep(70), N.double(D.int(3))) },
})
seed("reply", "tree-past-depth-64", "\1" .. V.list {
  V.chain(("1"):rep(62), N.double(D.int(62))),
  V.chain(("1"):rep(63), N.double(D.int(63))),
  V.chain(("1"):rep(64), N.double(D.int(64))),
  V.chain(("1"):rep(65), N.double(D.int(65))),
})
do -- over 1024 tables: the walk that enters each table once
  local many = {}
  for i = 1, 20 do many[i] = { "C" .. i, V.chain(("01"):rep(30), N.double(D.int(i))) } end
  seed("reply", "many-tables", "\5" .. params(many))
end
seed("reply", "graph-shared-cycles", "\3" .. V.map {
  { "a", V.map { { "x", float(1.0) }, { "self", V.ref(1) } } },
  { "b", V.ref(0) },
  { "c", V.ref(1) },
  { "d", V.ref(1) },
  { "e", V.anykeys { { K.value(V.map { { "k", float(5.0) } }), float(6.0) } } },
})
-- Two references to itself: a walk without a visited set takes 2^64 steps.
seed("reply", "graph-two-self-references", "\3" .. V.map {
  { "x", V.ref(0) }, { "y", V.ref(0) }, { "n", float(1.0) },
})

-- ---- limiter: cfg, [rate][burst], then operations ------------------------------

local CFG_NUMBER = { double = function(denc) return "\0" .. denc end,
  int = function(i) return "\1" .. u8(i) end, string = "\3" }
local L = {
  acquire = function(tenc) return u8(0) .. tenc end,
  ok = function(tenc) return u8(1) .. tenc end,
  throttled = function(tenc, retry_after, acquired_at)
    local c = 2 + (retry_after and 8 or 0) + (acquired_at and 16 or 0)
    return u8(c) .. tenc .. (retry_after or "") .. (acquired_at or "")
  end,
  epoch = u8(4), rate = u8(5), state = u8(6), state_at = function(tenc) return u8(14) .. tenc end,
  tostring = u8(7),
}
local T = { step = function(n) return "\0" .. u8(n) end, back = function(n) return "\2" .. u8(n) end,
  raw = function(denc) return "\3" .. denc end, same = "\4", half = "\5" }
local function rep(s, n) return s:rep(n) end

seed("limiter", "rate-burst-adaptive", u8(1 + 2 + 4) .. CFG_NUMBER.int(10) .. CFG_NUMBER.int(20)
  .. rep(L.acquire(T.step(1)), 25) .. L.throttled(T.step(1)) .. L.epoch .. L.acquire(T.same)
  .. L.throttled(T.same) .. L.throttled(T.half, nil, T.back(50)) .. L.epoch
  .. rep(L.ok(T.step(10)) .. L.acquire(T.step(5)), 20) .. L.rate .. L.state .. L.state_at(T.half)
  .. L.tostring)
seed("limiter", "unlimited-retry-after", u8(64) .. L.acquire(T.same)
  .. L.throttled(T.step(1), D.raw(2.5)) .. L.acquire(T.step(1)) .. L.rate
  .. rep(L.ok(T.half), 30) .. L.acquire(T.same) .. L.state .. L.tostring)
seed("limiter", "non-finite-times", u8(1 + 4) .. CFG_NUMBER.double(D.frac(0.75))
  .. L.acquire(T.raw(D.special "nan")) .. L.acquire(T.raw(D.special "inf"))
  .. L.acquire(T.raw(D.special "e308")) .. L.acquire(T.raw(D.special "me308"))
  .. L.throttled(T.same, D.special "e308") .. L.acquire(T.same)
  .. L.throttled(T.same, D.special "inf") .. L.throttled(T.same, D.special "denorm")
  .. L.ok(T.raw(D.special "max")) .. L.ok(T.raw(D.special "mmax")) .. L.state_at(T.raw(D.special "nan"))
  .. L.state .. L.rate .. L.epoch)
seed("limiter", "fixed-rate-clock-back", u8(1 + 2 + 8 + 128) .. CFG_NUMBER.double(D.special "half")
  .. CFG_NUMBER.int(1) .. rep(L.acquire(T.back(3)), 10) .. L.throttled(T.back(100))
  .. rep(L.acquire(T.step(200)), 5) .. L.state .. L.rate)
seed("limiter", "huge-rate", u8(1 + 2) .. CFG_NUMBER.double(D.special "e308")
  .. CFG_NUMBER.double(D.special "max") .. rep(L.acquire(T.step(1)), 5)
  .. L.throttled(T.same) .. L.ok(T.raw(D.special "e300")) .. L.acquire(T.same) .. L.state
  .. L.tostring)
seed("limiter", "bad-config", u8(1 + 12) .. CFG_NUMBER.string)

-- ---- retry: operations ----------------------------------------------------------

-- backoff: c2 bit 0 small attempt, bit 1 throttled, bits 2-3 base, 4-5 cap, 6-7 draw
local OPT = { none = 0, double = 1, number = 2, eighths = 3 }
local function backoff(attempt, throttled, base, cap, draw)
  -- attempt: a number 0..79 (small) or {enc = N...}; base/cap: nil or {kind, enc}; draw: nil, {1, u16}, {2, D}, 3
  local c = (type(attempt) == "number" and 1 or 0) + (throttled and 2 or 0)
  local out = {}
  out[#out + 1] = type(attempt) == "number" and u8(attempt) or attempt.enc
  local function opt(v, shift)
    if not v then return end
    c = c | (OPT[v[1]] << shift)
    out[#out + 1] = v[2]
  end
  opt(base, 2)
  opt(cap, 4)
  if draw then
    c = c | (draw[1] << 6)
    out[#out + 1] = draw[2] or ""
  end
  return u8(0) .. u8(c) .. table.concat(out)
end
local function classify(code_sel, code, status_sel, status, maybe_sent, idempotent)
  local c = code_sel | (status_sel << 2) | (maybe_sent == nil and 16 or 0)
    | (maybe_sent and 32 or 0) | (idempotent and 64 or 0)
  return u8(2) .. u8(c) .. (code or "") .. (status or "")
end
local function budget(fields) -- fields: { [1..4] = {kind, enc} } for capacity, retry_cost, timeout_cost, refund
  local c, out = 3, {}
  for i = 1, 4 do
    if fields[i] then
      c = c | (1 << (3 + i))
      out[#out + 1] = u8(OPT[fields[i][1]]) .. fields[i][2]
    end
  end
  return u8(c) .. table.concat(out)
end
local take_retry, take_timeout, take_other, refund, tokens, show = u8(4 + 8), u8(4 + 8 + 16),
  u8(4 + 8 + 32), u8(5 + 8), u8(6 + 8), u8(7)

seed("retry", "backoff-basic", backoff(1, false, nil, nil, { 1, u16(32768) })
  .. backoff(2, false, nil, nil, { 1, u16(65535) }) .. backoff(5, true, nil, nil, { 3 })
  .. backoff(30, true, nil, nil, nil) .. backoff(79, false, { "eighths", u8(1) }, { "eighths", u8(80) }, { 3 }))
seed("retry", "backoff-extremes", backoff({ enc = N.special_int "int64_max" }, false, nil, nil, { 3 })
  .. backoff({ enc = N.special_int "int64_min" }, false, nil, nil, { 3 })
  .. backoff({ enc = N.double(D.special "p63") }, false, nil, nil, { 3 })
  .. backoff({ enc = N.double(D.special "nan") }, false, nil, nil, { 3 })
  .. backoff(0, false, nil, nil, { 3 })
  .. backoff(3, false, { "double", D.special "e308" }, { "double", D.special "inf" }, { 2, D.special "zero" })
  .. backoff(3, false, { "double", D.special "inf" }, { "double", D.special "inf" }, { 2, D.special "zero" })
  .. backoff(3, false, { "double", D.special "nan" }, nil, { 3 })
  .. backoff(3, false, { "double", D.special "denorm" }, { "double", D.special "max" }, { 3 })
  .. backoff(3, false, nil, { "double", D.special "mzero" }, { 2, D.special "one" })
  .. backoff(3, false, nil, nil, { 2, D.special "nan" })
  .. backoff(3, false, nil, nil, { 2, D.special "mzero" }))
local codes = ""
for i = 0, 24 do codes = codes .. classify(3, u8(i), 1, u8(i * 9 % 200)) end
seed("retry", "classify", codes .. classify(0, nil, 1, u8(29)) .. classify(0, nil, 1, u8(103))
  .. classify(1, str "Transport.Timeout", 0, nil, false, false)
  .. classify(1, str "Transport.Timeout", 0, nil, true, false)
  .. classify(1, str "Transport.Timeout", 0, nil, true, true)
  .. classify(2, N.small(5), 2, N.double(D.raw(503.5)))
  .. classify(0, nil, 2, N.double(D.special "e300")) .. classify(0, nil, 3, nil)
  .. classify(1, str "Throttling\0x", 2, N.special_int "int64_min"))
seed("retry", "budget", budget { { "eighths", u8(80) }, { "eighths", u8(40) }, { "eighths", u8(80) } }
  .. take_retry .. take_retry .. take_retry .. tokens .. refund .. tokens .. take_timeout
  .. take_other .. show .. u8(4) .. tokens
  .. budget { { "double", D.special "inf" } } .. take_timeout .. refund .. tokens .. show
  .. budget { { "double", D.special "nan" } } .. budget { { "number", N.small(-1) } }
  .. budget { nil, nil, nil, { "double", D.special "e308" } } .. refund .. tokens
  .. budget { { "double", D.special "max" }, { "double", D.special "max" } } .. take_retry .. take_retry
  .. tokens)

print(("gen-seeds: wrote %d seed inputs"):format(count))
