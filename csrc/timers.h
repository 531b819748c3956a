/* The loop's timers: a binary min-heap of (due, id), earliest first, and
 * among equal deadlines the one created first (ids grow). */
#ifndef ECS_TIMERS_H
#define ECS_TIMERS_H

#include <stddef.h>
#include "compat.h"

typedef struct {
    double due; /* monotonic seconds */
    lua_Integer id;
} ecs_timer;

typedef struct {
    ecs_timer *heap; /* heap[0] is the next to fire */
    size_t count, cap;
} ecs_timers;

/* Adds a timer; 0, or -1 when out of memory (nothing changed). */
int ecs_timers_push(ecs_timers *h, double due, lua_Integer id);
/* Removes and returns the next timer; h must not be empty. */
ecs_timer ecs_timers_pop(ecs_timers *h);
/* Frees the heap's memory and empties it. */
void ecs_timers_free(ecs_timers *h);

#endif
