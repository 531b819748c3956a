/* Retry policy: which failures a resend can fix, how long to wait, and a
 * budget that stops retry storms against a failing service. */
#ifndef ECS_RETRY_H
#define ECS_RETRY_H

#include "compat.h"

/* core.classify(code, http_status, maybe_sent, idempotent) -> retryable, throttled */
int ecs_l_classify(lua_State *L);
/* core.backoff(attempt, throttled[, base[, cap[, u]]]) -> seconds (full jitter;
 * u in [0, 1) is the random draw, from OpenSSL when absent) */
int ecs_l_backoff(lua_State *L);

#define ECS_RETRY_BUDGET_MT "ecs.core.retry_budget"

/* The longest server hint (x-acs-retry-after) honoured, in seconds: core.MAX_RETRY_AFTER. */
#define ECS_MAX_RETRY_AFTER 30.0

/* core.decide(budget, outcome) -> retryable, throttled, delay | nil, why
 * The one retry decision of a failed attempt. outcome = { code, status, maybe_sent,
 * idempotent, permanent, attempt, max_attempts, retry_after (the server's hint,
 * seconds), time_left (until the call's deadline, seconds), min_attempt (seconds an
 * attempt needs at least), draw (uniform in [0, 1) for the jitter) }. A delay means
 * retry after it (the budget has paid for it); else `why` is "not retryable",
 * "max_attempts reached", "deadline" or "retry budget exhausted". */
int ecs_l_decide(lua_State *L);

/* core.retry_budget{ capacity = 500, retry_cost = 5, timeout_cost = 10, refund = 1 }
 *   b:take("retry"|"timeout") -> true (tokens deducted) or false (give up)
 *   b:refund()  on a success: adds `refund`, up to capacity
 *   b:tokens() -> tokens left */
int ecs_l_retry_budget_new(lua_State *L);
/* Registers the retry budget metatable; called once from luaopen_ecs_core. */
void ecs_retry_register(lua_State *L);

#endif
