/* fuzz target: RFC 3986 percent-encoding (csrc/encode.c).
 *
 * Input: the raw bytes, as one Lua string (NULs and invalid UTF-8 included).
 *  - core.percent_encode(s) keeps exactly A-Z a-z 0-9 - _ . ~ and writes
 *    every other byte as %XY with upper-case hex;
 *  - its length is one byte per unreserved byte of s and three per other;
 *  - decoding it gives s back. */
#include <ctype.h>

#include "../common.h"

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower case is not what ECS signs */
}

static void body(lua_State *L, fz_in *in)
{
    size_t n = in->n, got;
    const char *s = fz_take(in, n, &got);

    fz_core(L, "percent_encode");
    lua_pushlstring(L, s, n);
    FZ_CHECK(fz_pcall(L, 1, 1) == LUA_OK, "percent_encode raised: %s", lua_tostring(L, -1));
    size_t m;
    const char *e = lua_tolstring(L, -1, &m);
    size_t expected = 0;
    for (size_t i = 0; i < n; i++)
        expected += unreserved((unsigned char)s[i]) ? 1 : 3;
    FZ_CHECK(m == expected, "length %zu, expected %zu", m, expected);

    size_t j = 0;
    for (size_t i = 0; i < m; j++) {
        FZ_CHECK(j < n, "output longer than the input decodes to");
        unsigned char c = (unsigned char)e[i];
        if (c == '%') {
            FZ_CHECK(i + 2 < m, "truncated escape at %zu", i);
            int hi = hexval(e[i + 1]), lo = hexval(e[i + 2]);
            FZ_CHECK(hi >= 0 && lo >= 0, "bad escape at %zu", i);
            unsigned char d = (unsigned char)(hi * 16 + lo);
            FZ_CHECK(!unreserved(d), "unreserved byte 0x%02x escaped", d);
            FZ_CHECK(d == (unsigned char)s[j], "escape at %zu decodes to 0x%02x, not 0x%02x",
                     i, d, (unsigned char)s[j]);
            i += 3;
        } else {
            FZ_CHECK(unreserved(c), "reserved byte 0x%02x kept at %zu", c, i);
            FZ_CHECK(c == (unsigned char)s[j], "byte %zu changed", j);
            i++;
        }
    }
    FZ_CHECK(j == n, "decodes to %zu bytes, not %zu", j, n);
    lua_pop(L, 1);

    /* A number argument is taken as its decimal string. */
    if (n >= 1) {
        fz_core(L, "percent_encode");
        lua_pushnumber(L, (double)(signed char)s[0] / 3.0);
        FZ_CHECK(fz_pcall(L, 1, 1) == LUA_OK, "percent_encode(number) raised");
        lua_pop(L, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size, body);
    return 0;
}
