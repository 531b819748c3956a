/* fuzz target: request signing (csrc/sign.c, with crypto.c, flatten.c and encode.c).
 *
 * Input: a flags byte (v1/v3, GET/POST, security token, user agent, secret
 * from the input, pinned timestamp and nonce, cross-check), a second byte
 * that sometimes makes the version or method a string from the input, then
 * up to four requests: action, timestamp, nonce and a parameter table built
 * by fz_params (or nil, or a non-table); then numbers for core.timestamp and
 * strings for core.hmac / core.digest.
 *  - a signer (fixed endpoint and key id) signs each request;
 *  - with timestamp and nonce pinned, signing twice gives the same request
 *    (the signer's arena and keyed HMAC are reused), and so does the one-shot
 *    core.sign with the same fields (its HMAC is computed afresh);
 *  - the digests have the length of their algorithm and encoding. */
#include "../common.h"

#define ENDPOINT "https://ecs.cn-hangzhou.aliyuncs.com"
#define HOST "ecs.cn-hangzhou.aliyuncs.com"
#define KEY_ID "LTAI5tFuzzAccessKey0042"
#define SECRET "fuzz-secret-0123456789abcdef"

/* The two tables (or strings) at a and b hold the same fields. */
static void same_value(lua_State *L, int a, int b, const char *what);

static void same_table(lua_State *L, int a, int b, const char *what)
{
    int count_a = 0, count_b = 0;
    lua_pushnil(L);
    while (lua_next(L, a)) {
        count_a++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        same_value(L, lua_gettop(L) - 1, lua_gettop(L), what);
        lua_pop(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        count_b++;
        lua_pop(L, 1);
    }
    FZ_CHECK(count_a == count_b, "%s: %d fields against %d", what, count_a, count_b);
}

static void same_value(lua_State *L, int a, int b, const char *what)
{
    FZ_CHECK(lua_type(L, a) == lua_type(L, b), "%s: %s against %s", what,
             luaL_typename(L, a), luaL_typename(L, b));
    if (lua_type(L, a) == LUA_TTABLE) {
        same_table(L, a, b, what);
    } else {
        size_t na, nb;
        const char *sa = lua_tolstring(L, a, &na), *sb = lua_tolstring(L, b, &nb);
        FZ_CHECK(sa && sb && na == nb && memcmp(sa, sb, na) == 0, "%s: '%s' against '%s'",
                 what, sa ? sa : "?", sb ? sb : "?");
    }
}

/* The three results of a signing at top-5..top-3 and top-2..top. */
static void same_signing(lua_State *L, const char *what)
{
    int top = lua_gettop(L);
    for (int i = 0; i < 3; i++)
        same_value(L, top - 5 + i, top - 2 + i, what);
}

/* No header line of the request at idx can be cut or injected. */
static void check_headers(lua_State *L, int req)
{
    lua_getfield(L, req, "headers");
    FZ_CHECK(lua_istable(L, -1), "sign: headers are a %s", luaL_typename(L, -1));
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        size_t kn, vn;
        const char *k = lua_tolstring(L, -2, &kn), *v = lua_tolstring(L, -1, &vn);
        FZ_CHECK(k && v, "sign: a header of type %s", luaL_typename(L, -1));
        FZ_CHECK(!memchr(k, '\r', kn) && !memchr(k, '\n', kn) && !memchr(k, '\0', kn) &&
                     !memchr(v, '\r', vn) && !memchr(v, '\n', vn) && !memchr(v, '\0', vn),
                 "sign: header %s has CR, LF or NUL in its value '%s'", k, v);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getfield(L, req, "url");
    size_t un;
    const char *u = lua_tolstring(L, -1, &un);
    FZ_CHECK(u && !memchr(u, '\r', un) && !memchr(u, '\n', un) && !memchr(u, '\0', un) &&
                 !memchr(u, ' ', un),
             "sign: url '%s' has a space, CR, LF or NUL", u ? u : "?");
    lua_pop(L, 1);
}

static void push_opt_string(lua_State *L, const char *s, size_t n)
{
    if (s)
        lua_pushlstring(L, s, n);
    else
        lua_pushnil(L);
}

static void check_digest(lua_State *L, const char *alg, const char *enc)
{
    size_t n;
    lua_tolstring(L, -1, &n);
    size_t raw = strcmp(alg, "sha1") == 0 ? 20 : 32;
    size_t want = strcmp(enc, "hex") == 0 ? 2 * raw
                  : strcmp(enc, "raw") == 0 ? raw
                                            : 4 * ((raw + 2) / 3);
    FZ_CHECK(n == want, "%s/%s digest of %zu bytes, not %zu", alg, enc, n, want);
}

static void body(lua_State *L, fz_in *in)
{
    unsigned flags = fz_u8(in), odd = fz_u8(in);
    int v3 = flags & 1, post = flags & 2;
    size_t secret_len = sizeof SECRET - 1, n;
    const char *secret = SECRET;
    const char *token = NULL, *agent = NULL;
    size_t token_len = 0, agent_len = 0;
    if (flags & 4)
        token = fz_str(in, &token_len);
    if (flags & 8)
        agent = fz_str(in, &agent_len);
    if (flags & 16)
        secret = fz_str(in, &secret_len);

    /* The signer's fields, kept in a table for the one-shot core.sign. */
    lua_createtable(L, 0, 12);
    int spec = lua_gettop(L);
    if (odd % 16 == 0) {
        const char *s = fz_str(in, &n);
        lua_pushlstring(L, s, n);
    } else {
        lua_pushstring(L, v3 ? "v3" : "v1");
    }
    lua_setfield(L, spec, "version");
    if (odd % 16 == 1) {
        const char *s = fz_str(in, &n);
        lua_pushlstring(L, s, n);
    } else {
        lua_pushstring(L, post ? "POST" : "GET");
    }
    lua_setfield(L, spec, "method");
    lua_pushliteral(L, ENDPOINT);
    lua_setfield(L, spec, "endpoint");
    lua_pushliteral(L, HOST);
    lua_setfield(L, spec, "host");
    lua_pushliteral(L, "2014-05-26");
    lua_setfield(L, spec, "api_version");
    lua_pushliteral(L, KEY_ID);
    lua_setfield(L, spec, "access_key_id");
    lua_pushlstring(L, secret, secret_len);
    lua_setfield(L, spec, "access_key_secret");
    if (token) {
        lua_pushlstring(L, token, token_len);
        lua_setfield(L, spec, "security_token");
    }
    if (agent) {
        lua_pushlstring(L, agent, agent_len);
        lua_setfield(L, spec, "user_agent");
    }

    fz_core(L, "signer");
    lua_pushvalue(L, spec);
    int signer = 0;
    if (fz_pcall(L, 1, 1) == LUA_OK) {
        signer = lua_gettop(L);
        FZ_CHECK(luaL_tolstring(L, signer, NULL) != NULL, "signer tostring");
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }

    fz_builder b;
    fz_builder_init(L, &b, in, 18);
    b.cycles = 1;
    for (int r = 0; r < 4 && fz_left(in); r++) {
        int base = lua_gettop(L);
        const char *action, *ts = NULL, *nonce = NULL;
        size_t action_len, ts_len = 0, nonce_len = 0;
        action = fz_str(in, &action_len);
        if (flags & 32)
            ts = fz_str(in, &ts_len);
        if (flags & 64)
            nonce = fz_str(in, &nonce_len);
        switch (fz_u8(in) % 4) {
        case 0:
            lua_pushnil(L);
            break;
        case 1:
            lua_pushinteger(L, 7);
            break;
        case 2:
            lua_newtable(L);
            break;
        default:
            fz_params(L, &b);
            break;
        }
        int params = lua_gettop(L);
        if (signer == 0)
            break;
        /* signer:sign(action, params, timestamp, nonce) */
        lua_getfield(L, signer, "sign");
        lua_pushvalue(L, signer);
        lua_pushlstring(L, action, action_len);
        lua_pushvalue(L, params);
        push_opt_string(L, ts, ts_len);
        push_opt_string(L, nonce, nonce_len);
        int ok = fz_pcall(L, 5, 3) == LUA_OK;
        if (!ok) {
            FZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "sign: error of type %s",
                     luaL_typename(L, -1));
            lua_settop(L, base);
            continue;
        }
        FZ_CHECK(lua_istable(L, -3) && lua_isstring(L, -2) && lua_isstring(L, -1),
                 "sign: results %s %s %s", luaL_typename(L, -3), luaL_typename(L, -2),
                 luaL_typename(L, -1));
        check_headers(L, lua_gettop(L) - 2);
        if (!ts || !nonce) {
            lua_settop(L, base);
            continue;
        }
        /* Pinned: the same request again, from the same signer. */
        lua_getfield(L, signer, "sign");
        lua_pushvalue(L, signer);
        lua_pushlstring(L, action, action_len);
        lua_pushvalue(L, params);
        push_opt_string(L, ts, ts_len);
        push_opt_string(L, nonce, nonce_len);
        FZ_CHECK(fz_pcall(L, 5, 3) == LUA_OK, "sign: second signing raised %s",
                 lua_tostring(L, -1));
        same_signing(L, "signer twice");
        lua_pop(L, 3);
        if (flags & 128) {
            /* The one-shot signing with the same fields. */
            fz_core(L, "sign");
            lua_pushvalue(L, spec);
            lua_pushlstring(L, action, action_len);
            lua_setfield(L, -2, "action");
            lua_pushvalue(L, params);
            lua_setfield(L, -2, "params");
            lua_pushlstring(L, ts, ts_len);
            lua_setfield(L, -2, "timestamp");
            lua_pushlstring(L, nonce, nonce_len);
            lua_setfield(L, -2, "nonce");
            FZ_CHECK(fz_pcall(L, 1, 3) == LUA_OK, "core.sign raised %s where the signer "
                     "did not", lua_tostring(L, -1));
            same_signing(L, "core.sign against signer");
            lua_pushnil(L);
            lua_setfield(L, spec, "action");
            lua_pushnil(L);
            lua_setfield(L, spec, "params");
            lua_pushnil(L);
            lua_setfield(L, spec, "timestamp");
            lua_pushnil(L);
            lua_setfield(L, spec, "nonce");
        }
        lua_settop(L, base);
    }

    /* core.timestamp(epoch seconds) */
    for (int i = 0; i < 4 && fz_left(in); i++) {
        fz_core(L, "timestamp");
        fz_push_number(L, in);
        if (fz_pcall(L, 1, 1) == LUA_OK) {
            size_t m;
            const char *s = lua_tolstring(L, -1, &m);
            FZ_CHECK(s && m > 0 && s[m - 1] == 'Z', "timestamp '%s'", s ? s : "?");
        }
        lua_pop(L, 1);
    }

    /* core.hmac / core.digest */
    static const char *const ALGS[] = { "sha1", "sha256", "md5", "SHA256", "" };
    static const char *const ENCS[] = { "hex", "base64", "raw", "b64", NULL };
    while (fz_left(in)) {
        unsigned c = fz_u8(in);
        const char *alg = ALGS[c % 5], *enc = ENCS[(c / 5) % 5];
        size_t kn, mn;
        const char *key = fz_str(in, &kn), *msg = fz_str(in, &mn);
        int good = c % 5 < 2 && (c / 5) % 5 < 3;
        fz_core(L, "hmac");
        lua_pushstring(L, alg);
        lua_pushlstring(L, key, kn);
        lua_pushlstring(L, msg, mn);
        push_opt_string(L, enc, enc ? strlen(enc) : 0);
        int ok = fz_pcall(L, 4, 1) == LUA_OK;
        FZ_CHECK(ok == good || (enc == NULL && c % 5 < 2), "hmac %s/%s: %s", alg,
                 enc ? enc : "nil", ok ? "accepted" : lua_tostring(L, -1));
        if (ok)
            check_digest(L, alg, enc ? enc : "hex");
        lua_pop(L, 1);
        fz_core(L, "digest");
        lua_pushstring(L, alg);
        lua_pushlstring(L, msg, mn);
        push_opt_string(L, enc, enc ? strlen(enc) : 0);
        ok = fz_pcall(L, 3, 1) == LUA_OK;
        if (ok)
            check_digest(L, alg, enc ? enc : "hex");
        lua_pop(L, 1);
    }

    fz_core(L, "nonce");
    FZ_CHECK(fz_pcall(L, 0, 1) == LUA_OK && lua_rawlen(L, -1) == 36, "nonce");
    lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size, body);
    return 0;
}
