#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "encode.h"
#include "flatten.h"
#include "sign.h"

#define V3_ALGORITHM "ACS3-HMAC-SHA256"

/* Names the client sets itself; a caller passing one is a programmer error,
 * since silently replacing either value would send a request nobody asked for. */
static const char *const RESERVED[] = {
    "AccessKeyId", "Action", "Signature", "SignatureMethod", "SignatureNonce",
    "SignatureVersion", "SecurityToken", "Timestamp", NULL,
};

/* The fields of one request to sign: read from core.sign's argument table,
 * or a signer's fixed ones with the action and the pins of signer:sign. */
typedef struct {
    const char *method, *endpoint, *host, *action, *api_version;
    const char *key_id, *secret, *token, *timestamp, *nonce;
    const char *user_agent; /* the User-Agent header, or NULL */
    size_t secret_len;
    int v3, post;
    const ecs_keyed_hmac *mac; /* a signer's keyed HMAC, or NULL for a one-shot HMAC */
    ecs_flat *flat;            /* where the request's pairs are built */
    ecs_nonce_pool *nonces;    /* a signer's nonce pool, or NULL */
} sign_spec;

/* HMAC of msg with the request's key: the signer's prepared context when
 * there is one (no algorithm lookup, no key schedule per call). */
static void sign_mac(lua_State *L, const sign_spec *s, const char *key, size_t key_len,
                     const char *msg, size_t msg_len, unsigned char *out, unsigned int *out_len)
{
    if (s->mac)
        ecs_keyed_hmac_of(L, s->mac, msg, msg_len, out, out_len);
    else
        ecs_hmac(L, s->v3 ? EVP_sha256() : EVP_sha1(), key, key_len, msg, msg_len, out, out_len);
}

/* ---- arguments ---- */

/* Every string but the secret can end up in a header line (v3 sends most as
 * x-acs-* headers): CR, LF or NUL would inject a header or cut one short. */
static const char *one_line(lua_State *L, const char *name, const char *s, size_t n)
{
    if (s && (memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n)))
        luaL_error(L, "%s: must not contain CR, LF or NUL (it becomes a header)", name);
    return s;
}

/* A one-line string argument, required or optional (NULL when absent). */
static const char *check_one_line(lua_State *L, int arg, const char *name)
{
    size_t n = 0;
    const char *s = luaL_checklstring(L, arg, &n);
    return one_line(L, name, s, n);
}

static const char *opt_one_line(lua_State *L, int arg, const char *name)
{
    size_t n = 0;
    const char *s = luaL_optlstring(L, arg, NULL, &n);
    return one_line(L, name, s, n);
}

/* A string field of the spec table at t: NULL when absent and not required;
 * one line unless it is the secret. */
static const char *field_string(lua_State *L, int t, const char *name,
                                int required, size_t *len)
{
    lua_getfield(L, t, name);
    int type = lua_type(L, -1);
    const char *s = NULL;
    if (type == LUA_TSTRING) {
        size_t n;
        s = lua_tolstring(L, -1, &n);
        if (len)
            *len = n;
        if (strcmp(name, "access_key_secret") != 0)
            one_line(L, name, s, n);
    } else if (type != LUA_TNIL || required) {
        luaL_error(L, "sign: field '%s' must be a string (got %s)", name,
                   luaL_typename(L, -1));
    }
    /* The spec table keeps the string alive; pop the stack copy. */
    lua_pop(L, 1);
    return s;
}

static void read_spec(lua_State *L, int t, sign_spec *s)
{
    const char *version = field_string(L, t, "version", 0, NULL);
    s->v3 = 0;
    if (version && strcmp(version, "v3") == 0)
        s->v3 = 1;
    else if (version && strcmp(version, "v1") != 0)
        luaL_error(L, "sign: version must be 'v1' or 'v3' (got '%s')", version);
    s->method = field_string(L, t, "method", 0, NULL);
    if (s->method == NULL)
        s->method = "GET";
    if (strcmp(s->method, "GET") == 0)
        s->post = 0;
    else if (strcmp(s->method, "POST") == 0)
        s->post = 1;
    else
        luaL_error(L, "sign: method must be 'GET' or 'POST' (got '%s')", s->method);
    s->endpoint = field_string(L, t, "endpoint", 1, NULL);
    s->host = field_string(L, t, "host", 1, NULL);
    s->action = field_string(L, t, "action", 1, NULL);
    s->api_version = field_string(L, t, "api_version", 1, NULL);
    s->key_id = field_string(L, t, "access_key_id", 1, NULL);
    s->secret = field_string(L, t, "access_key_secret", 1, &s->secret_len);
    s->token = field_string(L, t, "security_token", 0, NULL);
    s->timestamp = field_string(L, t, "timestamp", 0, NULL);
    s->nonce = field_string(L, t, "nonce", 0, NULL);
    s->user_agent = field_string(L, t, "user_agent", 0, NULL);
    if (s->action[0] == '\0')
        luaL_error(L, "sign: action must not be empty");
}

/* ---- signing ---- */

static void check_reserved(lua_State *L, const ecs_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].priority != 1)
            continue;
        for (const char *const *r = RESERVED; *r; r++)
            if (strlen(*r) == p[i].key_len && memcmp(*r, p[i].key, p[i].key_len) == 0)
                luaL_error(L, "%s: common parameter set by the client; do not "
                              "pass it in params", *r);
    }
}

/* Pushes the canonical query string: sorted, encoded k=v joined by '&'. */
static void push_canonical(lua_State *L, const ecs_param *p, size_t n)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        if (i)
            luaL_addchar(&b, '&');
        ecs_percent_encode(&b, p[i].key, p[i].key_len);
        luaL_addchar(&b, '=');
        ecs_percent_encode(&b, p[i].value, p[i].value_len);
    }
    luaL_pushresult(&b);
}

static void set_header(lua_State *L, int headers, const char *name, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, headers, name);
}

static void add_default(lua_State *L, ecs_flat *f, const char *key, const char *value)
{
    ecs_flat_add(L, f, key, strlen(key), value, strlen(value), 0);
}

/* Fills req (url, body) and headers, and leaves the string-to-sign and the
 * canonical query on the stack. */
static void sign_v1(lua_State *L, const sign_spec *s, int params, int req, int headers)
{
    ecs_flat *f = s->flat;
    ecs_flat_reset(f);
    if (params)
        ecs_flat_table(L, f, params);
    add_default(L, f, "Format", "JSON");
    add_default(L, f, "Version", s->api_version);
    add_default(L, f, "Action", s->action);
    add_default(L, f, "AccessKeyId", s->key_id);
    add_default(L, f, "SignatureMethod", "HMAC-SHA1");
    add_default(L, f, "SignatureVersion", "1.0");
    add_default(L, f, "SignatureNonce", s->nonce);
    add_default(L, f, "Timestamp", s->timestamp);
    if (s->token)
        add_default(L, f, "SecurityToken", s->token);
    size_t n;
    const ecs_param *p = ecs_flat_finish(L, f, &n);
    check_reserved(L, p, n);
    push_canonical(L, p, n); /* canonical query */
    int canonical = lua_gettop(L);

    size_t cq_len;
    const char *cq = lua_tolstring(L, canonical, &cq_len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, s->method);
    luaL_addstring(&b, "&%2F&");
    ecs_percent_encode(&b, cq, cq_len);
    luaL_pushresult(&b);
    int sts = lua_gettop(L);

    size_t sts_len;
    const char *sts_s = lua_tolstring(L, sts, &sts_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (s->mac) {
        sign_mac(L, s, NULL, 0, sts_s, sts_len, mac, &mac_len);
    } else {
        /* The v1 key is the secret followed by '&'. */
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, s->secret, s->secret_len);
        luaL_addchar(&b, '&');
        luaL_pushresult(&b);
        size_t key_len;
        const char *key = lua_tolstring(L, -1, &key_len);
        sign_mac(L, s, key, key_len, sts_s, sts_len, mac, &mac_len);
        lua_pop(L, 1);
    }
    ecs_push_base64(L, mac, mac_len);
    size_t sig_len;
    const char *sig = lua_tolstring(L, -1, &sig_len);

    /* Signed pairs, then the signature itself. */
    luaL_buffinit(L, &b);
    if (!s->post) {
        luaL_addstring(&b, s->endpoint);
        luaL_addstring(&b, "/?");
    }
    luaL_addlstring(&b, cq, cq_len);
    luaL_addstring(&b, "&Signature=");
    ecs_percent_encode(&b, sig, sig_len);
    luaL_pushresult(&b);
    if (s->post) {
        lua_setfield(L, req, "body");
        lua_pushfstring(L, "%s/", s->endpoint);
        lua_setfield(L, req, "url");
        set_header(L, headers, "content-type", "application/x-www-form-urlencoded");
    } else {
        lua_setfield(L, req, "url");
        lua_pushliteral(L, "");
        lua_setfield(L, req, "body");
    }
    lua_pop(L, 1); /* signature */
    lua_pushvalue(L, sts);
    lua_pushvalue(L, canonical);
}

typedef struct {
    const char *name, *value;
} header;

static int compare_headers(const void *a, const void *b)
{
    return strcmp(((const header *)a)->name, ((const header *)b)->name);
}


/* Fills req (url, body) and headers, and leaves the string-to-sign and the
 * canonical request on the stack. */
static void sign_v3(lua_State *L, const sign_spec *s, int params, int req, int headers)
{
    ecs_flat *f = s->flat;
    ecs_flat_reset(f);
    if (params)
        ecs_flat_table(L, f, params);
    size_t n;
    const ecs_param *p = ecs_flat_finish(L, f, &n);
    check_reserved(L, p, n);
    push_canonical(L, p, n);
    size_t cq_len;
    const char *cq = lua_tolstring(L, -1, &cq_len);
    const char *query = s->post ? "" : cq;
    const char *body = s->post ? cq : "";
    size_t body_len = s->post ? cq_len : 0;

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ecs_digest(L, EVP_sha256(), body, body_len, md, &md_len);
    ecs_push_hex(L, md, md_len);
    const char *payload_hash = lua_tostring(L, -1);

    header h[8];
    size_t nh = 0;
    h[nh++] = (header){ "host", s->host };
    h[nh++] = (header){ "x-acs-action", s->action };
    h[nh++] = (header){ "x-acs-version", s->api_version };
    h[nh++] = (header){ "x-acs-date", s->timestamp };
    h[nh++] = (header){ "x-acs-signature-nonce", s->nonce };
    h[nh++] = (header){ "x-acs-content-sha256", payload_hash };
    if (s->token)
        h[nh++] = (header){ "x-acs-security-token", s->token };
    if (s->post)
        h[nh++] = (header){ "content-type", "application/x-www-form-urlencoded" };
    qsort(h, nh, sizeof h[0], compare_headers);

    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < nh; i++) {
        if (i)
            luaL_addchar(&b, ';');
        luaL_addstring(&b, h[i].name);
    }
    luaL_pushresult(&b);
    int signed_headers = lua_gettop(L);

    luaL_buffinit(L, &b);
    luaL_addstring(&b, s->method);
    luaL_addstring(&b, "\n/\n");
    luaL_addstring(&b, query);
    luaL_addchar(&b, '\n');
    for (size_t i = 0; i < nh; i++) {
        luaL_addstring(&b, h[i].name);
        luaL_addchar(&b, ':');
        luaL_addstring(&b, h[i].value);
        luaL_addchar(&b, '\n');
    }
    luaL_addchar(&b, '\n');
    lua_pushvalue(L, signed_headers);
    luaL_addvalue(&b);
    luaL_addchar(&b, '\n');
    luaL_addstring(&b, payload_hash);
    luaL_pushresult(&b);
    int canonical_request = lua_gettop(L);
    size_t cr_len;
    const char *cr = lua_tolstring(L, -1, &cr_len);

    ecs_digest(L, EVP_sha256(), cr, cr_len, md, &md_len);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, V3_ALGORITHM "\n");
    ecs_add_hex(&b, md, md_len);
    luaL_pushresult(&b);
    int sts = lua_gettop(L);
    size_t sts_len;
    const char *sts_s = lua_tolstring(L, sts, &sts_len);

    sign_mac(L, s, s->secret, s->secret_len, sts_s, sts_len, md, &md_len);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, V3_ALGORITHM " Credential=");
    luaL_addstring(&b, s->key_id);
    luaL_addstring(&b, ",SignedHeaders=");
    lua_pushvalue(L, signed_headers);
    luaL_addvalue(&b);
    luaL_addstring(&b, ",Signature=");
    ecs_add_hex(&b, md, md_len);
    luaL_pushresult(&b);
    lua_setfield(L, headers, "authorization");

    for (size_t i = 0; i < nh; i++)
        set_header(L, headers, h[i].name, h[i].value);
    /* The service answers v3 calls in JSON when asked; not signed. */
    set_header(L, headers, "accept", "application/json");

    if (query[0])
        lua_pushfstring(L, "%s/?%s", s->endpoint, query);
    else
        lua_pushfstring(L, "%s/", s->endpoint);
    lua_setfield(L, req, "url");
    lua_pushlstring(L, body, body_len);
    lua_setfield(L, req, "body");
    lua_pushvalue(L, sts);
    lua_pushvalue(L, canonical_request);
}


/* Signs with s (params at stack index params, or 0) and returns 3 values:
 * request, string-to-sign, canonical request/query. */
static int sign_request(lua_State *L, sign_spec *s, int params)
{
    /* Fresh nonce and time unless pinned (tests, presigned URLs). */
    if (s->nonce == NULL) {
        ecs_push_nonce(L, s->nonces);
        s->nonce = lua_tostring(L, -1);
    }
    if (s->timestamp == NULL) {
        ecs_push_timestamp(L, time(NULL));
        s->timestamp = lua_tostring(L, -1);
    }
    lua_createtable(L, 0, 4);
    int req = lua_gettop(L);
    lua_pushstring(L, s->method);
    lua_setfield(L, req, "method");
    lua_createtable(L, 0, s->v3 ? 10 : 2);
    int headers = lua_gettop(L);
    lua_pushvalue(L, headers);
    lua_setfield(L, req, "headers");
    if (s->user_agent)
        set_header(L, headers, "user-agent", s->user_agent);
    if (s->v3)
        sign_v3(L, s, params, req, headers);
    else
        sign_v1(L, s, params, req, headers);
    /* Stack top: string-to-sign, canonical request (v3) or query (v1). */
    lua_pushvalue(L, req);
    lua_insert(L, -3);
    return 3;
}

int ecs_l_sign(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    sign_spec s;
    read_spec(L, 1, &s);
    lua_settop(L, 1);
    lua_getfield(L, 1, "params"); /* stack 2 */
    int params = 0;
    if (lua_istable(L, 2))
        params = 2;
    else if (!lua_isnil(L, 2))
        return luaL_error(L, "sign: params must be a table (got %s)", luaL_typename(L, 2));
    s.mac = NULL;
    s.nonces = NULL;
    s.flat = ecs_flat_push(L); /* stack 3 */
    return sign_request(L, &s, params);
}

/* ---- the signer ---- */

/* A signer: one client's fixed signing inputs, with its keyed HMAC and its
 * parameter arena kept between requests. The secret lives only here, in C
 * memory that is wiped when the signer is collected. */
typedef struct {
    char *strings; /* one block: method, endpoint, host, api version, id, secret, token, user agent */
    sign_spec base;
    ecs_keyed_hmac mac;
    ecs_flat flat;
    size_t strings_len;
    ecs_nonce_pool *nonces;
} signer;

static void signer_free(signer *g)
{
    ecs_keyed_hmac_free(&g->mac);
    if (g->strings) {
        OPENSSL_cleanse(g->strings, g->strings_len);
        free(g->strings);
    }
    ecs_flat_release(&g->flat);
    ecs_nonce_pool_free(g->nonces);
    g->nonces = NULL;
    g->strings = NULL;
}

static int signer_l_gc(lua_State *L)
{
    signer_free(luaL_checkudata(L, 1, ECS_SIGNER_MT));
    return 0;
}

static int signer_l_tostring(lua_State *L)
{
    signer *g = luaL_checkudata(L, 1, ECS_SIGNER_MT);
    lua_pushfstring(L, "ecs.core.signer (%s %s)", g->base.v3 ? "v3" : "v1",
                    g->base.method ? g->base.method : "closed");
    return 1;
}

/* signer:sign(action, params[, timestamp[, nonce]]) -> request, string_to_sign, canonical */
static int signer_l_sign(lua_State *L)
{
    signer *g = luaL_checkudata(L, 1, ECS_SIGNER_MT);
    if (g->strings == NULL)
        return luaL_error(L, "sign: signer is closed");
    sign_spec s = g->base;
    s.action = check_one_line(L, 2, "action");
    if (s.action[0] == '\0')
        return luaL_error(L, "sign: action must not be empty");
    int params = 0;
    if (lua_istable(L, 3))
        params = 3;
    else if (!lua_isnoneornil(L, 3))
        return luaL_error(L, "sign: params must be a table (got %s)", luaL_typename(L, 3));
    s.timestamp = opt_one_line(L, 4, "timestamp");
    s.nonce = opt_one_line(L, 5, "nonce");
    lua_settop(L, 5);
    return sign_request(L, &s, params);
}

/* core.signer{...} -> signer (the fields of sign.h) */
int ecs_l_signer_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    sign_spec spec;
    lua_pushliteral(L, "-"); /* read_spec wants an action */
    lua_setfield(L, 1, "action");
    read_spec(L, 1, &spec);
    lua_pushnil(L);
    lua_setfield(L, 1, "action");

    signer *g = ecs_newuserdata(L, sizeof *g);
    memset(g, 0, sizeof *g);
    ecs_setmetatable(L, ECS_SIGNER_MT);

    const char *parts[8] = { spec.method, spec.endpoint, spec.host, spec.api_version,
                             spec.key_id, spec.secret, spec.token, spec.user_agent };
    size_t lens[8], total = 0;
    for (int i = 0; i < 8; i++) {
        lens[i] = parts[i] ? (i == 5 ? spec.secret_len : strlen(parts[i])) : 0;
        total += lens[i] + 1;
    }
    g->strings = malloc(total);
    if (g->strings == NULL)
        return luaL_error(L, "signer: out of memory");
    g->strings_len = total;
    const char *copies[8];
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        copies[i] = NULL;
        if (parts[i]) {
            memcpy(g->strings + off, parts[i], lens[i]);
            g->strings[off + lens[i]] = '\0';
            copies[i] = g->strings + off;
        }
        off += lens[i] + 1;
    }
    g->base = spec;
    g->base.method = copies[0];
    g->base.endpoint = copies[1];
    g->base.host = copies[2];
    g->base.api_version = copies[3];
    g->base.key_id = copies[4];
    g->base.secret = copies[5];
    g->base.token = copies[6];
    g->base.user_agent = copies[7];
    g->base.action = g->base.timestamp = g->base.nonce = NULL;
    g->base.flat = &g->flat;
    g->nonces = ecs_nonce_pool_new();
    g->base.nonces = g->nonces;

    /* The HMAC key: secret& for v1, the secret for v3. */
    size_t key_len = spec.secret_len + (spec.v3 ? 0 : 1);
    unsigned char *key = malloc(key_len ? key_len : 1);
    if (key == NULL)
        return luaL_error(L, "signer: out of memory");
    memcpy(key, spec.secret, spec.secret_len);
    if (!spec.v3)
        key[spec.secret_len] = '&';
    const char *failed = ecs_keyed_hmac_init(&g->mac, spec.v3 ? "SHA256" : "SHA1", key, key_len);
    OPENSSL_cleanse(key, key_len);
    free(key);
    if (failed)
        return luaL_error(L, "signer: %s", failed);
    g->base.mac = &g->mac;
    return 1;
}

void ecs_sign_register(lua_State *L)
{
    static const luaL_Reg METHODS[] = {
        { "sign", signer_l_sign },
        { NULL, NULL },
    };
    ecs_class(L, ECS_SIGNER_MT, METHODS, signer_l_gc, signer_l_tostring);
}
