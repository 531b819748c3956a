/* The monotonic clock every timing in lua-ecs is measured on. */
#ifndef ECS_CLOCK_H
#define ECS_CLOCK_H

#include <time.h>

static inline double ecs_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
