#include <math.h>
#include <string.h>

#include "reply.h"

#define MAX_DEPTH 64
/* Tables a reply may have before sharing is looked for: a decoded reply never
 * shares tables, so the visit count only grows past this in big replies or in
 * tables that were built by hand. */
#define FAST_VISITS 1024

#if LUA_VERSION_NUM >= 503
/* Walks the tables under t. With seen (a stack index, or 0) each table is
 * entered once; without, the walk gives up (returns 0) after FAST_VISITS tables,
 * since a table reachable twice could make it exponential. */
static int fix_integers(lua_State *L, int t, int depth, int seen, int *visits)
{
    if (depth > MAX_DEPTH)
        return 1;
    if (!seen && ++*visits > FAST_VISITS)
        return 0;
    luaL_checkstack(L, 4, "reply nesting");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int type = lua_type(L, -1);
        if (type == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            /* Exactly integral and inside the integer range. */
            if (n == floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0) {
                lua_Integer i = (lua_Integer)n;
                lua_pushvalue(L, -2);
                lua_pushinteger(L, i);
                lua_rawset(L, t); /* replacing an existing key's value is safe during lua_next */
            }
        } else if (type == LUA_TTABLE) {
            int child = lua_gettop(L);
            int enter = 1;
            if (seen) {
                lua_pushvalue(L, child);
                if (lua_rawget(L, seen) != LUA_TNIL) {
                    enter = 0;
                } else {
                    lua_pushvalue(L, child);
                    lua_pushboolean(L, 1);
                    lua_rawset(L, seen);
                }
                lua_pop(L, 1);
            }
            if (enter && !fix_integers(L, child, depth + 1, seen, visits)) {
                lua_pop(L, 2);
                return 0;
            }
        }
        lua_pop(L, 1);
    }
    return 1;
}
#endif

int ecs_l_integers(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
#if LUA_VERSION_NUM >= 503
    int visits = 0;
    if (!fix_integers(L, 1, 0, 0, &visits)) {
        /* Many tables: walk again, entering each once (what was already
         * turned into integers stays so). */
        lua_newtable(L);
        lua_pushvalue(L, 1);
        lua_pushboolean(L, 1);
        lua_rawset(L, 2);
        fix_integers(L, 1, 0, 2, &visits);
        lua_settop(L, 1);
    }
#endif
    return 1;
}

/* ---- integers beyond 2^53 ---- */

/* Whether the digits d[0..n) (no sign, no leading zeros beyond one) are more
 * than 2^53 = 9007199254740992, the largest a double holds exactly everywhere. */
static int beyond_exact(const char *d, size_t n)
{
    static const char LIMIT[] = "9007199254740992";
    if (n != sizeof LIMIT - 1)
        return n > sizeof LIMIT - 1;
    return memcmp(d, LIMIT, n) > 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int ecs_l_quote_big_integers(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    /* Fast path: no run of 16 digits anywhere, nothing to do. Such a run
     * covers every residue mod 16, so looking at every 16th byte finds one. */
    int found = 0;
    for (size_t probe = 15; probe < len && !found; probe += 16) {
        if (!is_digit(s[probe]))
            continue;
        size_t lo = probe, hi = probe + 1;
        while (lo > 0 && is_digit(s[lo - 1]))
            lo--;
        while (hi < len && is_digit(s[hi]))
            hi++;
        found = hi - lo >= 16;
    }
    if (!found) {
        lua_settop(L, 1);
        return 1;
    }
    size_t i;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int in_string = 0;
    size_t copied = 0; /* s[0..copied) is in the buffer */
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            continue;
        }
        if (!is_digit(c))
            continue;
        /* a number token: digits, then maybe a fraction or an exponent */
        size_t start = i;
        while (i < len && is_digit(s[i]))
            i++;
        size_t end = i;
        int integral = !(i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'));
        while (i < len && (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                           s[i] == '+' || s[i] == '-'))
            i++;
        if (integral && beyond_exact(s + start, end - start)) {
            size_t from = start > 0 && s[start - 1] == '-' ? start - 1 : start;
            luaL_addlstring(&b, s + copied, from - copied);
            luaL_addchar(&b, '"');
            luaL_addlstring(&b, s + from, end - from);
            luaL_addchar(&b, '"');
            copied = end;
        }
        i--; /* the loop's i++ moves to the character after the token */
    }
    luaL_addlstring(&b, s + copied, len - copied);
    luaL_pushresult(&b);
    return 1;
}
