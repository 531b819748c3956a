/* Parameter flattening: nested Lua values to the flat, sorted key=value
 * pairs that ECS requests carry (K.1, K.1.Key, K.Sub). */
#ifndef ECS_FLATTEN_H
#define ECS_FLATTEN_H

#include <stddef.h>
#include "compat.h"

typedef struct {
    const char *key, *value;
    size_t key_len, value_len;
    int priority; /* a caller's value (1) beats a default (0) of the same key */
} ecs_param;

/* Pushes an empty holder: a table that keeps every flattened string alive
 * while the C side points into it. Returns its absolute stack index. */
int ecs_flat_begin(lua_State *L);

/* Flattens the table at params_idx into the holder; raises a Lua error that
 * names the parameter path on a value that cannot be sent. */
void ecs_flat_table(lua_State *L, int holder, int params_idx);

/* Adds one pair to the holder. */
void ecs_flat_add(lua_State *L, int holder, const char *key, const char *value,
                  size_t value_len, int priority);

/* Sorts the holder's pairs by key (byte order), drops defaults a caller
 * overrode, raises on a key given twice, and returns the pairs; they live as
 * long as the holder stays reachable. */
const ecs_param *ecs_flat_finish(lua_State *L, int holder, size_t *count);

int ecs_l_flatten(lua_State *L);

#endif
