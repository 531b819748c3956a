/* Client-side rate limiting: one token bucket (a limiter) per key of the rate
 * store (endpoint, region, account and action; see lua/ecs/ratestore/) whose
 * fill rate can adapt to throttling the way the AWS SDKs' "adaptive"
 * retry mode does (CUBIC: multiplicative decrease on a throttle, cubic
 * recovery on success). Pure arithmetic: the caller passes the time in. */
#ifndef ECS_THROTTLE_H
#define ECS_THROTTLE_H

#include "compat.h"

#define ECS_LIMITER_MT "ecs.core.limiter"

/* core.limiter{ rate = n|nil, burst = n|nil, adaptive = true|false } -> limiter
 *   l:acquire(now) -> seconds to wait before sending (the token is reserved)
 *   l:epoch() -> changes when a cut or a large recovery voids the reservations
 *   l:observe(now, "ok"|"throttled"[, retry_after_seconds[, reserved_at]])
 *       (a hint that is not a time is ignored; one over 30 s counts as 30 s)
 *   l:rate() -> fill rate (req/s) or nil when unlimited
 *   l:state([now]) -> { rate, burst, tokens, measured_rate, last_max_rate,
 *                       last_throttle, enabled }
 *   l:export() -> bytes;  l:import(bytes) -> true, or false for bytes that are
 *       not an exported state (a store outside the process keeps the bytes) */
int ecs_l_limiter_new(lua_State *L);
/* Registers the limiter metatable; called once from luaopen_ecs_core. */
void ecs_throttle_register(lua_State *L);

#endif
