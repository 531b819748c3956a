/* RFC 3986 percent-encoding as the ECS signature algorithm defines it. */
#ifndef ECS_ENCODE_H
#define ECS_ENCODE_H

#include <stddef.h>
#include "compat.h"

/* Appends s[0..n) to b, keeping A-Z a-z 0-9 - _ . ~ and writing every other
 * byte (UTF-8 included) as %XY with upper-case hex; so space is %20 and * is
 * %2A, as the reference requires. */
void ecs_percent_encode(luaL_Buffer *b, const char *s, size_t n);

/* core.percent_encode(s) -> s percent-encoded */
int ecs_l_percent_encode(lua_State *L);

#endif
