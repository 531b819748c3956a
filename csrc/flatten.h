/* Parameter flattening: nested Lua values to the flat, sorted key=value
 * pairs that ECS requests carry (K.1, K.1.Key, K.Sub). */
#ifndef ECS_FLATTEN_H
#define ECS_FLATTEN_H

#include <stddef.h>
#include "compat.h"

#define ECS_FLAT_MT "ecs.core.flat"

typedef struct {
    const char *key, *value;
    size_t key_len, value_len;
    int priority; /* a caller's value (1) beats a default (0) of the same key */
} ecs_param;

typedef struct {
    size_t key_off, key_len, value_off, value_len;
    int priority;
} ecs_flat_item;

/* A reusable arena for one request's pairs: bytes and items grow as needed
 * and are kept for the next request (no allocation once warm). */
typedef struct {
    char *bytes;
    size_t len, cap;
    ecs_flat_item *items;
    size_t count, items_cap;
    ecs_param *sorted;
    size_t sorted_cap;
} ecs_flat;

/* Pushes a garbage-collected arena (freed by __gc, so a Lua error in the
 * middle leaks nothing) and returns it. */
ecs_flat *ecs_flat_push(lua_State *L);
/* Frees an arena's memory (for arenas embedded in other objects). */
void ecs_flat_release(ecs_flat *f);
/* Empties an arena for the next request, keeping its memory. */
void ecs_flat_reset(ecs_flat *f);

/* Flattens the table at params_idx into f; raises a Lua error that names the
 * parameter path on a value that cannot be sent. */
void ecs_flat_table(lua_State *L, ecs_flat *f, int params_idx);

/* Adds one pair. */
void ecs_flat_add(lua_State *L, ecs_flat *f, const char *key, size_t key_len,
                  const char *value, size_t value_len, int priority);

/* Sorts the pairs by key (byte order), drops defaults a caller overrode,
 * raises on a key given twice, and returns them (valid until f changes). */
const ecs_param *ecs_flat_finish(lua_State *L, ecs_flat *f, size_t *count);

/* core.flatten(params) -> { [wire name] = string value } */
int ecs_l_flatten(lua_State *L);
/* Registers the arena metatable; called once from luaopen_ecs_core. */
void ecs_flatten_register(lua_State *L);

#endif
