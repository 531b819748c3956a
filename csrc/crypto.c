#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto.h"

static const char HEX[] = "0123456789abcdef";

/* ---- HMAC and digests ---- */

void ecs_hmac(lua_State *L, const EVP_MD *md, const char *key, size_t key_len,
              const char *msg, size_t msg_len, unsigned char *out, unsigned int *out_len)
{
    if (key_len > 0x7fffffff)
        luaL_error(L, "hmac: key too long");
    if (HMAC(md, key, (int)key_len, (const unsigned char *)msg, msg_len, out,
             out_len) == NULL)
        luaL_error(L, "hmac: OpenSSL HMAC failed");
}

const char *ecs_keyed_hmac_init(ecs_keyed_hmac *h, const char *digest,
                                const unsigned char *key, size_t key_len)
{
    h->alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    h->ctx = h->alg ? EVP_MAC_CTX_new(h->alg) : NULL;
    if (h->ctx == NULL)
        return "OpenSSL has no HMAC";
    char name[8]; /* OSSL_PARAM wants it writable */
    snprintf(name, sizeof name, "%s", digest);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_init(h->ctx, key, key_len, params) != 1)
        return "OpenSSL EVP_MAC_init failed";
    return NULL;
}

void ecs_keyed_hmac_free(ecs_keyed_hmac *h)
{
    EVP_MAC_CTX_free(h->ctx);
    EVP_MAC_free(h->alg);
    h->ctx = NULL;
    h->alg = NULL;
}

void ecs_keyed_hmac_of(lua_State *L, const ecs_keyed_hmac *h, const char *msg, size_t msg_len,
                       unsigned char *out, unsigned int *out_len)
{
    size_t n = 0;
    if (EVP_MAC_init(h->ctx, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(h->ctx, (const unsigned char *)msg, msg_len) != 1 ||
        EVP_MAC_final(h->ctx, out, &n, EVP_MAX_MD_SIZE) != 1)
        luaL_error(L, "sign: OpenSSL EVP_MAC failed");
    *out_len = (unsigned int)n;
}

void ecs_digest(lua_State *L, const EVP_MD *md, const char *msg, size_t msg_len,
                unsigned char *out, unsigned int *out_len)
{
    if (EVP_Digest(msg, msg_len, out, out_len, md, NULL) != 1)
        luaL_error(L, "digest: OpenSSL EVP_Digest failed");
}

void ecs_add_hex(luaL_Buffer *b, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        luaL_addchar(b, HEX[p[i] >> 4]);
        luaL_addchar(b, HEX[p[i] & 15]);
    }
}

void ecs_push_hex(lua_State *L, const unsigned char *p, size_t n)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    ecs_add_hex(&b, p, n);
    luaL_pushresult(&b);
}

void ecs_push_base64(lua_State *L, const unsigned char *p, size_t n)
{
    /* EVP_EncodeBlock writes 4 bytes per 3 plus a NUL; n is a digest size. */
    unsigned char out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    int len = EVP_EncodeBlock(out, p, (int)n);
    if (len < 0)
        luaL_error(L, "base64: OpenSSL EVP_EncodeBlock failed");
    lua_pushlstring(L, (const char *)out, (size_t)len);
}

/* The algorithm argument at arg of core.hmac and core.digest. */
static const EVP_MD *check_md(lua_State *L, int arg)
{
    const char *name = luaL_checkstring(L, arg);
    if (strcmp(name, "sha1") == 0)
        return EVP_sha1();
    if (strcmp(name, "sha256") == 0)
        return EVP_sha256();
    luaL_error(L, "unsupported algorithm '%s' (sha1 or sha256)", name);
    return NULL;
}

enum { ENC_HEX, ENC_BASE64, ENC_RAW };

/* The optional output encoding argument at arg (default "hex"). */
static int opt_encoding(lua_State *L, int arg)
{
    const char *enc = luaL_optstring(L, arg, "hex");
    if (strcmp(enc, "hex") == 0)
        return ENC_HEX;
    if (strcmp(enc, "base64") == 0)
        return ENC_BASE64;
    if (strcmp(enc, "raw") == 0)
        return ENC_RAW;
    return luaL_error(L, "unsupported encoding '%s' (hex, base64 or raw)", enc);
}

static void push_encoded(lua_State *L, const unsigned char *p, size_t n, int enc)
{
    if (enc == ENC_HEX)
        ecs_push_hex(L, p, n);
    else if (enc == ENC_BASE64)
        ecs_push_base64(L, p, n);
    else
        lua_pushlstring(L, (const char *)p, n);
}

int ecs_l_hmac(lua_State *L)
{
    size_t key_len, msg_len;
    const EVP_MD *md = check_md(L, 1);
    const char *key = luaL_checklstring(L, 2, &key_len);
    const char *msg = luaL_checklstring(L, 3, &msg_len);
    int enc = opt_encoding(L, 4);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    ecs_hmac(L, md, key, key_len, msg, msg_len, out, &out_len);
    push_encoded(L, out, out_len, enc);
    return 1;
}

int ecs_l_digest(lua_State *L)
{
    size_t msg_len;
    const EVP_MD *md = check_md(L, 1);
    const char *msg = luaL_checklstring(L, 2, &msg_len);
    int enc = opt_encoding(L, 3);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    ecs_digest(L, md, msg, msg_len, out, &out_len);
    push_encoded(L, out, out_len, enc);
    return 1;
}

/* ---- nonces ---- */

/* The pool sits in its own page marked MADV_WIPEONFORK: a forked child (an
 * OpenResty worker, say) finds it zeroed, so it never repeats its parent's
 * nonces, and it refills from OpenSSL, which reseeds after a fork. Where the
 * page cannot be had, every nonce comes from RAND_bytes directly. */
struct ecs_nonce_pool {
    uint32_t valid; /* zero after a fork */
    uint32_t next;  /* offset of the next unused byte */
    unsigned char bytes[4088];
};

ecs_nonce_pool *ecs_nonce_pool_new(void)
{
#if defined(MADV_WIPEONFORK)
    void *p = mmap(NULL, sizeof(ecs_nonce_pool), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (madvise(p, sizeof(ecs_nonce_pool), MADV_WIPEONFORK) != 0) {
        munmap(p, sizeof(ecs_nonce_pool));
        return NULL;
    }
    return p;
#else
    return NULL;
#endif
}

void ecs_nonce_pool_free(ecs_nonce_pool *pool)
{
    if (pool)
        munmap(pool, sizeof *pool);
}

static void random_bytes(lua_State *L, ecs_nonce_pool *pool, unsigned char *out, size_t n)
{
    if (pool == NULL) {
        if (RAND_bytes(out, (int)n) != 1)
            luaL_error(L, "nonce: OpenSSL RAND_bytes failed");
        return;
    }
    if (!pool->valid || pool->next + n > sizeof pool->bytes) {
        if (RAND_bytes(pool->bytes, sizeof pool->bytes) != 1)
            luaL_error(L, "nonce: OpenSSL RAND_bytes failed");
        pool->next = 0;
        pool->valid = 1;
    }
    memcpy(out, pool->bytes + pool->next, n);
    /* Used bytes are not kept around. */
    memset(pool->bytes + pool->next, 0, n);
    pool->next += (uint32_t)n;
}

void ecs_push_nonce(lua_State *L, ecs_nonce_pool *pool)
{
    unsigned char r[16];
    char s[37];
    random_bytes(L, pool, r, sizeof r);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s[o++] = '-';
        s[o++] = HEX[r[i] >> 4];
        s[o++] = HEX[r[i] & 15];
    }
    lua_pushlstring(L, s, o);
}

int ecs_l_nonce(lua_State *L)
{
    ecs_push_nonce(L, NULL);
    return 1;
}

/* ---- timestamps ---- */

void ecs_push_timestamp(lua_State *L, time_t t)
{
    struct tm tm;
    char s[32];
    if (gmtime_r(&t, &tm) == NULL)
        luaL_error(L, "timestamp: time out of range");
    size_t n = strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (n == 0)
        luaL_error(L, "timestamp: cannot format time");
    lua_pushlstring(L, s, n);
}

int ecs_l_timestamp(lua_State *L)
{
    time_t t;
    if (lua_isnoneornil(L, 1)) {
        t = time(NULL);
    } else {
        double v = luaL_checknumber(L, 1);
        /* Checked before the cast: NaN or a value outside time_t is undefined. */
        luaL_argcheck(L, v >= 0 && v < 253402300800.0, 1,
                      "epoch seconds from 0 to the end of year 9999 expected");
        t = (time_t)v;
    }
    ecs_push_timestamp(L, t);
    return 1;
}
