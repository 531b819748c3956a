/* Retry policy: which failures a resend can fix, and how long to wait. */
#ifndef ECS_RETRY_H
#define ECS_RETRY_H

#include "compat.h"

/* core.classify(code, http_status, maybe_sent, idempotent) -> retryable, throttled */
int ecs_l_classify(lua_State *L);
/* core.backoff(attempt, throttled[, base[, cap]]) -> seconds (full jitter) */
int ecs_l_backoff(lua_State *L);

#endif
