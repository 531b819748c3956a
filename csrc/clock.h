/* The monotonic clock every timing in lua-ecs is measured on. */
#ifndef ECS_CLOCK_H
#define ECS_CLOCK_H

#include <time.h>

#include "compat.h"

static inline double ecs_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* core.now(), loop.now() and loop:now() -> monotonic seconds (here, since
 * ecs.core and ecs.loop are separate modules that both register it) */
static inline int ecs_l_now(lua_State *L)
{
    lua_pushnumber(L, ecs_monotonic());
    return 1;
}

#endif
