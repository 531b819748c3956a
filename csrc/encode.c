#include "encode.h"

static const char HEX[] = "0123456789ABCDEF";

/* 1 for the bytes RFC 3986 calls unreserved. */
static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

void ecs_percent_encode(luaL_Buffer *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c))
            continue;
        /* Copy the run of unreserved bytes in one go, then the escape. */
        if (i > start)
            luaL_addlstring(b, s + start, i - start);
        char esc[3] = { '%', HEX[c >> 4], HEX[c & 15] };
        luaL_addlstring(b, esc, 3);
        start = i + 1;
    }
    if (n > start)
        luaL_addlstring(b, s + start, n - start);
}

int ecs_l_percent_encode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    ecs_percent_encode(&b, s, n);
    luaL_pushresult(&b);
    return 1;
}
