#include <math.h>
#include <string.h>

#include "retry.h"
#include "throttle.h"

/* The constants of the AWS SDKs' adaptive retry mode (botocore
 * retries/throttling.py, bucket.py, adaptive.py). */
#define BETA 0.7          /* multiplicative decrease on a throttle */
#define SCALE 0.4         /* CUBIC scale constant C */
#define SMOOTHING 0.8     /* weight of the newest measured-rate bucket */
#define BUCKET_SPAN 0.5   /* seconds per measured-rate bucket */
#define MIN_RATE 0.5      /* req/s: the fill rate never drops below this */
#define MAX_RATE_SCALE 2.0 /* fill rate <= this x the measured send rate */

typedef struct {
    /* configuration */
    double cfg_rate;  /* req/s; 0 when none was configured */
    double cfg_burst; /* tokens, with cfg_rate */
    int adaptive;
    /* token bucket, in effect once enabled */
    int enabled;     /* a rate was configured, or a throttle was seen */
    int started;     /* a time has been seen */
    double fill;     /* req/s */
    double capacity; /* tokens */
    double tokens;   /* may be negative: reservations not yet paid for */
    double stamp;    /* the time `tokens` refers to; later than now after a retry_after */
    double not_before; /* no send before this time (server's retry_after) */
    /* measured send rate */
    double measured, last_bucket, count;
    /* CUBIC */
    int seen_throttle; /* the adaptive rate has been decreased */
    lua_Integer epoch;  /* counts decreases: a reservation made before one is void */
    double last_max, k, last_throttle;
    double epoch_fill; /* the fill rate when the epoch last changed */
} limiter;

/* A recovery that raises the fill rate this much over the rate of the last
 * epoch voids the reservations too: they were priced at the old rate, and a
 * process that was cut low would otherwise sleep out reservations made at a
 * crawl (50 tasks at 0.5 req/s wait up to 100 s) while its rate is back. */
#define REPRICE_FACTOR 1.5

/* At most one decrease per this many seconds: the replies to the first
 * sends at a new rate come back within it, and cutting on each of them
 * would compound the cut into a collapse. */
#define CUT_SPACING 0.5

static limiter *check_limiter(lua_State *L)
{
    limiter *l = ecs_testudata(L, 1, ECS_LIMITER_MT);
    if (l == NULL)
        luaL_argerror(L, 1, "limiter expected");
    return l;
}

/* A finite number, not a numeric string. */
static double check_time(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, idx, "time (seconds, a number) expected");
    double t = lua_tonumber(L, idx);
    luaL_argcheck(L, isfinite(t), idx, "time must be finite");
    return t;
}

/* t[name] as a positive finite number, or 0 when absent. */
static double opt_positive_field(lua_State *L, int t, const char *name)
{
    double v = 0;
    lua_getfield(L, t, name);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "limiter: %s must be a number", name);
        v = lua_tonumber(L, -1);
        if (!(v > 0) || !isfinite(v))
            luaL_error(L, "limiter: %s must be a positive number", name);
    }
    lua_pop(L, 1);
    return v;
}

static double bucket_of(double t)
{
    return floor(t / BUCKET_SPAN) * BUCKET_SPAN;
}

static void start(limiter *l, double now)
{
    if (l->started)
        return;
    l->started = 1;
    l->stamp = now;
    l->last_bucket = bucket_of(now);
    l->last_throttle = now;
}

/* Adds the tokens earned since stamp. */
static void refill(limiter *l, double now)
{
    if (now <= l->stamp)
        return;
    l->tokens += (now - l->stamp) * l->fill;
    if (l->tokens > l->capacity)
        l->tokens = l->capacity;
    l->stamp = now;
}

/* A new fill rate; the bucket's capacity follows it (min 1 token). */
static void set_fill(limiter *l, double now, double rate)
{
    refill(l, now); /* what was earned so far, at the old rate */
    l->fill = rate > MIN_RATE ? rate : MIN_RATE;
    if (l->cfg_rate > 0)
        l->capacity = l->cfg_burst * l->fill / l->cfg_rate;
    else
        l->capacity = l->fill;
    if (l->capacity < 1)
        l->capacity = 1;
    if (l->tokens > l->capacity)
        l->tokens = l->capacity;
}

/* Counts one send at time t; the rate is updated once per bucket. */
static void record_send(limiter *l, double t)
{
    double bucket = bucket_of(t);
    l->count += 1;
    if (bucket > l->last_bucket) {
        double current = l->count / (bucket - l->last_bucket);
        l->measured = current * SMOOTHING + l->measured * (1 - SMOOTHING);
        l->count = 0;
        l->last_bucket = bucket;
    }
}

/* The measured send rate; before the first full bucket, the rate as if the
 * current one ended now (botocore reads 0 there, and so falls to the minimum). */
static double measured_rate(const limiter *l)
{
    return l->measured > 0 ? l->measured : l->count / BUCKET_SPAN;
}

static double cubic_k(double last_max)
{
    return cbrt(last_max * (1 - BETA) / SCALE);
}

int ecs_l_limiter_new(lua_State *L)
{
    double rate = 0, burst = 0;
    int adaptive = 1;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        rate = opt_positive_field(L, 1, "rate");
        burst = opt_positive_field(L, 1, "burst");
        lua_getfield(L, 1, "adaptive");
        if (!lua_isnil(L, -1)) {
            if (!lua_isboolean(L, -1))
                luaL_error(L, "limiter: adaptive must be a boolean");
            adaptive = lua_toboolean(L, -1);
        }
        lua_pop(L, 1);
    }
    if (burst > 0 && rate == 0)
        luaL_error(L, "limiter: burst needs a rate");
    if (burst > 0 && burst < 1)
        luaL_error(L, "limiter: burst must be at least 1 token");
    limiter *l = ecs_newuserdata(L, sizeof *l);
    /* Zeroed whole, padding included: export() copies the bytes into shared memory. */
    memset(l, 0, sizeof *l);
    l->adaptive = adaptive;
    l->not_before = -HUGE_VAL;
    if (rate > 0) {
        l->cfg_rate = rate;
        l->cfg_burst = burst > 0 ? burst : (rate > 1 ? rate : 1);
        l->enabled = 1;
        l->fill = rate;
        l->capacity = l->cfg_burst;
        l->tokens = l->capacity; /* starts full */
    }
    ecs_setmetatable(L, ECS_LIMITER_MT);
    return 1;
}

static int limiter_l_acquire(lua_State *L)
{
    limiter *l = check_limiter(L);
    double now = check_time(L, 2);
    double wait = 0;
    start(l, now);
    if (l->enabled) {
        refill(l, now);
        l->tokens -= 1;
        /* A debt is paid at the fill rate, from stamp on. */
        double send = l->stamp + (l->tokens < 0 ? -l->tokens / l->fill : 0);
        wait = send - now;
    }
    if (l->not_before - now > wait)
        wait = l->not_before - now;
    if (wait < 0)
        wait = 0;
    lua_pushnumber(L, wait);
    return 1;
}

/* l:epoch() -> how many times the rate was cut; a caller that slept on a
 * reservation asks again when this changed meanwhile. */
static int limiter_l_epoch(lua_State *L)
{
    limiter *l = check_limiter(L);
    lua_pushinteger(L, l->epoch);
    return 1;
}

/* The adaptive step: decrease on a throttle, cubic recovery on success. */
static void adapt(limiter *l, double now, int throttled, double acquired_at)
{
    /* A throttle of a request whose send time was set before the last
     * decrease says nothing new: one decrease per congestion event, as TCP
     * does, not one per reply (a burst of N replies would cut the rate by
     * BETA^N). */
    if (throttled && l->seen_throttle &&
        (acquired_at < l->last_throttle || now - l->last_throttle < CUT_SPACING))
        return;

    double rate;
    if (throttled) {
        double use = measured_rate(l);
        if (l->enabled && (use <= 0 || use > l->fill))
            use = l->fill; /* min(measured, fill), or fill before any measurement */
        l->last_max = use;
        l->k = cubic_k(use);
        l->last_throttle = now;
        l->seen_throttle = 1;
        rate = use * BETA;
        if (l->enabled) {
            refill(l, now);
        } else {
            /* Limiting starts now. */
            l->enabled = 1;
            l->stamp = now;
            l->fill = MIN_RATE;
            l->capacity = 1;
        }
        /* The server's bucket is empty: ours keeps no saved burst either,
         * and the reservations handed out at the old rate are void: their
         * holders ask again (epoch) and queue at the new rate. */
        l->tokens = 0;
        l->stamp = now;
        l->epoch++;
        l->epoch_fill = rate > MIN_RATE ? rate : MIN_RATE;
    } else {
        if (!l->seen_throttle)
            return; /* the configured rate, or unlimited, until the first throttle */
        double t = now - l->last_throttle;
        rate = SCALE * (t - l->k) * (t - l->k) * (t - l->k) + l->last_max;
    }
    if (rate > MAX_RATE_SCALE * measured_rate(l))
        rate = MAX_RATE_SCALE * measured_rate(l);
    if (l->cfg_rate > 0 && rate > l->cfg_rate)
        rate = l->cfg_rate;
    set_fill(l, now, rate);
    if (!throttled && l->fill >= REPRICE_FACTOR * l->epoch_fill) {
        /* The debt of the reservations is forgiven: their holders ask again
         * (epoch) and queue at the new rate, as after a cut. */
        if (l->tokens < 0)
            l->tokens = 0;
        l->epoch++;
        l->epoch_fill = l->fill;
    }
}

static int limiter_l_observe(lua_State *L)
{
    static const char *const OUTCOMES[] = { "ok", "throttled", NULL };
    limiter *l = check_limiter(L);
    double now = check_time(L, 2);
    int throttled = luaL_checkoption(L, 3, NULL, OUTCOMES);
    double retry_after = 0;
    if (!lua_isnoneornil(L, 4)) {
        if (lua_type(L, 4) != LUA_TNUMBER)
            luaL_argerror(L, 4, "retry_after (seconds, a number) expected");
        retry_after = lua_tonumber(L, 4);
        /* A hint that is not a time is ignored; a long one is capped, so
         * that no server can park every client of the process for long. */
        if (!(retry_after >= 0) || !isfinite(retry_after))
            retry_after = 0;
        if (retry_after > ECS_MAX_RETRY_AFTER)
            retry_after = ECS_MAX_RETRY_AFTER;
    }
    double acquired_at = now;
    if (!lua_isnoneornil(L, 5))
        acquired_at = check_time(L, 5);
    start(l, now);
    /* The measured rate counts the requests the service accepted: when it
     * throttles, that is its quota, however fast the requests went out. */
    if (!throttled)
        record_send(l, now);
    if (l->adaptive)
        adapt(l, now, throttled, acquired_at);
    double until = now + retry_after;
    if (retry_after > 0 && until > l->not_before) {
        l->not_before = until;
        if (l->enabled) {
            /* Move the bucket to `until`: the debt is paid meanwhile, and
             * at most one token is waiting then, so no burst follows. */
            refill(l, now);
            l->tokens += (until - l->stamp) * l->fill;
            if (l->tokens > 1)
                l->tokens = 1;
            l->stamp = until;
        }
    }
    return 0;
}

static int limiter_l_rate(lua_State *L)
{
    limiter *l = check_limiter(L);
    if (l->enabled)
        lua_pushnumber(L, l->fill);
    else
        lua_pushnil(L);
    return 1;
}

static void set_number(lua_State *L, const char *name, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

static int limiter_l_state(lua_State *L)
{
    limiter *l = check_limiter(L);
    double tokens = l->tokens;
    if (!lua_isnoneornil(L, 2)) {
        double now = check_time(L, 2);
        if (l->enabled && l->started && now > l->stamp) {
            tokens += (now - l->stamp) * l->fill;
            if (tokens > l->capacity)
                tokens = l->capacity;
        }
    }
    lua_createtable(L, 0, 7);
    if (l->enabled) {
        set_number(L, "rate", l->fill);
        set_number(L, "burst", l->capacity);
        set_number(L, "tokens", tokens);
    }
    set_number(L, "measured_rate", l->measured);
    set_number(L, "last_max_rate", l->last_max);
    if (l->seen_throttle)
        set_number(L, "last_throttle", l->last_throttle);
    lua_pushboolean(L, l->enabled);
    lua_setfield(L, -2, "enabled");
    return 1;
}

/* The state as bytes, for a store that keeps a key's state outside this
 * process (nginx's shared memory, read and written under its lock by
 * processes of one build). A tag in front refuses bytes of another layout. */
#define STATE_TAG "ecs-limiter-1"

static int limiter_l_export(lua_State *L)
{
    limiter *l = check_limiter(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, STATE_TAG, sizeof STATE_TAG);
    luaL_addlstring(&b, (const char *)l, sizeof *l);
    luaL_pushresult(&b);
    return 1;
}

/* l:import(bytes): the limiter takes the exported state; false (and the
 * state kept) for bytes that are not one. */
static int limiter_l_import(lua_State *L)
{
    limiter *l = check_limiter(L);
    size_t len;
    const char *bytes = luaL_checklstring(L, 2, &len);
    if (len != sizeof STATE_TAG + sizeof *l || memcmp(bytes, STATE_TAG, sizeof STATE_TAG) != 0) {
        lua_pushboolean(L, 0);
        return 1;
    }
    memcpy(l, bytes + sizeof STATE_TAG, sizeof *l);
    lua_pushboolean(L, 1);
    return 1;
}

static int limiter_l_tostring(lua_State *L)
{
    limiter *l = check_limiter(L);
    if (l->enabled)
        lua_pushfstring(L, "ecs.limiter (%f req/s)", l->fill);
    else
        lua_pushliteral(L, "ecs.limiter (unlimited)");
    return 1;
}

void ecs_throttle_register(lua_State *L)
{
    static const luaL_Reg METHODS[] = {
        { "acquire", limiter_l_acquire },
        { "epoch", limiter_l_epoch }, { "observe", limiter_l_observe }, { "rate", limiter_l_rate },
        { "state", limiter_l_state },     { "export", limiter_l_export },
        { "import", limiter_l_import },   { NULL, NULL },
    };
    ecs_class(L, ECS_LIMITER_MT, METHODS, NULL, limiter_l_tostring);
}
