-- The Redis rate store's server-side script (Redis' Lua 5.1): the arithmetic
-- of csrc/throttle.c (token bucket, CUBIC cut and recovery, the retry-after
-- hold, the epoch), one decision for every host of a fleet at once, on
-- Redis' clock (TIME), so that host clocks may disagree. One call applies the
-- outcomes a process observed since its last call, then hands out the send
-- times of its waiting acquires, in order.
--
--   KEYS[1]  the limiter's state: a MessagePack map of the fields of the C
--            limiter (see FIELDS below; cmsgpack keeps doubles exact), one
--            string key expiring ARGV[1] milliseconds after its last use
--   ARGV     ttl_ms, rate, burst (0: none configured), adaptive (1|0),
--            now ("": Redis' TIME; a number only in tests), then the count of
--            observations and 4 values each: throttled (1|0), age (seconds
--            before now), retry_after (seconds), reserved_age (seconds before
--            now that the request's send time was set), then the count of
--            acquires
--   returns  "epoch enabled fill capacity tokens measured last_max wait_1 ..
--            wait_n": one string (one bulk reply is the cheapest to read),
--            enabled 1|0, each wait in seconds from Redis' now, in the order
--            the acquires were asked
-- The configuration (rate, burst, adaptive) is the first caller's, as in the
-- in-process store: it is kept with the state.
return [==[
local BETA, SCALE, SMOOTHING, BUCKET_SPAN = 0.7, 0.4, 0.8, 0.5
local MIN_RATE, MAX_RATE_SCALE, REPRICE_FACTOR, CUT_SPACING = 0.5, 2.0, 1.5, 0.5
local MAX_RETRY_AFTER = 30
local FIELDS = { "cfg_rate", "cfg_burst", "adaptive", "enabled", "started", "fill", "capacity",
  "tokens", "stamp", "not_before", "measured", "last_bucket", "count", "seen_throttle", "epoch",
  "last_max", "k", "last_throttle", "epoch_fill" }
local floor, fmt = math.floor, string.format

local function bucket_of(t) return floor(t / BUCKET_SPAN) * BUCKET_SPAN end

local function start(l, now)
  if l.started == 1 then return end
  l.started = 1
  l.stamp = now
  l.last_bucket = bucket_of(now)
  l.last_throttle = now
end

local function refill(l, now)
  if now <= l.stamp then return end
  l.tokens = l.tokens + (now - l.stamp) * l.fill
  if l.tokens > l.capacity then l.tokens = l.capacity end
  l.stamp = now
end

local function set_fill(l, now, rate)
  refill(l, now)
  l.fill = rate > MIN_RATE and rate or MIN_RATE
  if l.cfg_rate > 0 then l.capacity = l.cfg_burst * l.fill / l.cfg_rate else l.capacity = l.fill end
  if l.capacity < 1 then l.capacity = 1 end
  if l.tokens > l.capacity then l.tokens = l.capacity end
end

local function record_send(l, t)
  local bucket = bucket_of(t)
  l.count = l.count + 1
  if bucket > l.last_bucket then
    local current = l.count / (bucket - l.last_bucket)
    l.measured = current * SMOOTHING + l.measured * (1 - SMOOTHING)
    l.count = 0
    l.last_bucket = bucket
  end
end

local function measured_rate(l)
  if l.measured > 0 then return l.measured end
  return l.count / BUCKET_SPAN
end

local function acquire(l, now)
  local wait = 0
  start(l, now)
  if l.enabled == 1 then
    refill(l, now)
    l.tokens = l.tokens - 1
    local send = l.stamp + (l.tokens < 0 and -l.tokens / l.fill or 0)
    wait = send - now
  end
  if l.not_before - now > wait then wait = l.not_before - now end
  if wait < 0 then wait = 0 end
  return wait
end

local function adapt(l, now, throttled, acquired_at)
  if throttled and l.seen_throttle == 1 and
      (acquired_at < l.last_throttle or now - l.last_throttle < CUT_SPACING) then
    return
  end
  local rate
  if throttled then
    local use = measured_rate(l)
    if l.enabled == 1 and (use <= 0 or use > l.fill) then use = l.fill end
    l.last_max = use
    l.k = (use * (1 - BETA) / SCALE) ^ (1 / 3)
    l.last_throttle = now
    l.seen_throttle = 1
    rate = use * BETA
    if l.enabled == 1 then
      refill(l, now)
    else
      l.enabled = 1
      l.stamp = now
      l.fill = MIN_RATE
      l.capacity = 1
    end
    l.tokens = 0
    l.stamp = now
    l.epoch = l.epoch + 1
    l.epoch_fill = rate > MIN_RATE and rate or MIN_RATE
  else
    if l.seen_throttle ~= 1 then return end
    local t = now - l.last_throttle
    rate = SCALE * (t - l.k) * (t - l.k) * (t - l.k) + l.last_max
  end
  if rate > MAX_RATE_SCALE * measured_rate(l) then rate = MAX_RATE_SCALE * measured_rate(l) end
  if l.cfg_rate > 0 and rate > l.cfg_rate then rate = l.cfg_rate end
  set_fill(l, now, rate)
  if not throttled and l.fill >= REPRICE_FACTOR * l.epoch_fill then
    if l.tokens < 0 then l.tokens = 0 end
    l.epoch = l.epoch + 1
    l.epoch_fill = l.fill
  end
end

local function observe(l, now, throttled, retry_after, acquired_at)
  if not (retry_after >= 0) or retry_after == math.huge then retry_after = 0 end
  if retry_after > MAX_RETRY_AFTER then retry_after = MAX_RETRY_AFTER end
  start(l, now)
  if not throttled then record_send(l, now) end
  if l.adaptive == 1 then adapt(l, now, throttled, acquired_at) end
  local until_ = now + retry_after
  if retry_after > 0 and until_ > l.not_before then
    l.not_before = until_
    if l.enabled == 1 then
      refill(l, now)
      l.tokens = l.tokens + (until_ - l.stamp) * l.fill
      if l.tokens > 1 then l.tokens = 1 end
      l.stamp = until_
    end
  end
end

-- Time: Redis' own, so that every host decides on one clock.
local now = tonumber(ARGV[5])
if not now then
  if redis.replicate_commands then pcall(redis.replicate_commands) end
  local t = redis.call("TIME")
  now = tonumber(t[1]) + tonumber(t[2]) / 1e6
end

local key = KEYS[1]
local stored = redis.call("GET", key)
local l = stored and cmsgpack.unpack(stored) or {}
if type(l) ~= "table" or not l.started then
  -- A new limiter: the caller's configuration, as core.limiter sets it up.
  local rate, burst = tonumber(ARGV[2]) or 0, tonumber(ARGV[3]) or 0
  l = { cfg_rate = 0, cfg_burst = 0, adaptive = tonumber(ARGV[4]) == 0 and 0 or 1, enabled = 0,
    started = 0, fill = 0, capacity = 0, tokens = 0, stamp = 0, measured = 0, last_bucket = 0,
    count = 0, seen_throttle = 0, epoch = 0, last_max = 0, k = 0, last_throttle = 0, epoch_fill = 0 }
  if rate > 0 then
    l.cfg_rate = rate
    l.cfg_burst = burst > 0 and burst or (rate > 1 and rate or 1)
    l.enabled = 1
    l.fill = rate
    l.capacity = l.cfg_burst
    l.tokens = l.capacity
  end
end
l.not_before = l.not_before or -math.huge

local i = 7
for _ = 1, tonumber(ARGV[6]) do
  local reserved_age = tonumber(ARGV[i + 3])
  local at = now - tonumber(ARGV[i + 1])
  observe(l, at, ARGV[i] == "1", tonumber(ARGV[i + 2]) or 0, reserved_age and now - reserved_age or at)
  i = i + 4
end
local waits = {}
for n = 1, tonumber(ARGV[i]) do waits[n] = fmt("%.17g", acquire(l, now)) end

local out = {}
for _, f in ipairs(FIELDS) do
  local v = l[f]
  if v ~= -math.huge then out[f] = v end
end
redis.call("SET", key, cmsgpack.pack(out), "PX", tonumber(ARGV[1]))
local reply = { fmt("%d", l.epoch), fmt("%d", l.enabled), fmt("%.17g", l.fill),
  fmt("%.17g", l.capacity), fmt("%.17g", l.tokens), fmt("%.17g", l.measured),
  fmt("%.17g", l.last_max) }
for n = 1, #waits do reply[#reply + 1] = waits[n] end
return table.concat(reply, " ")
]==]
