/* Replies as Lua values: what lua-cjson's decoding leaves to fix. */
#ifndef ECS_REPLY_H
#define ECS_REPLY_H

#include "compat.h"

/* core.integers(t) -> t, with every integral float inside turned into an
 * integer (Lua 5.4 decodes all JSON numbers as floats; ECS counts and sizes
 * are integers). A no-op where Lua has no integer subtype. */
int ecs_l_integers(lua_State *L);

/* core.quote_big_integers(json) -> json, with every integer literal beyond
 * 2^53 (which a double would round) turned into a string literal, so that it
 * decodes exactly, as a string. The same string when there is none. */
int ecs_l_quote_big_integers(lua_State *L);

#endif
