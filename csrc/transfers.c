#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "transfers.h"

#define POOL_MAX 512           /* idle transfers kept for reuse */
#define BODY_LIMIT (64u << 20) /* a larger ECS reply is not a reply */
#define HEAD_LIMIT 65536u      /* bytes of response headers */

enum { OVERFLOW_NONE, OVERFLOW_BODY, OVERFLOW_HEAD };

/* ---- growable byte buffers ---- */

static int bytes_append(ecs_bytes *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void bytes_free(ecs_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- libcurl callbacks: they only record, never call Lua ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    ecs_transfer *t = ud;
    size_t len = size * n;
    if (t->body.len + len > BODY_LIMIT || bytes_append(&t->body, p, len) != 0) {
        t->overflow = OVERFLOW_BODY;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    ecs_transfer *t = ud;
    size_t len = size * n;
    /* A new status line (after a 100 Continue or a redirect) starts over. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        t->head.len = 0;
    if (t->head.len + len > HEAD_LIMIT || bytes_append(&t->head, p, len) != 0) {
        t->overflow = OVERFLOW_HEAD;
        return 0;
    }
    return len;
}

/* ---- the pool ---- */

static void transfer_destroy(ecs_transfer *t)
{
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    bytes_free(&t->body);
    bytes_free(&t->head);
    bytes_free(&t->request_body);
    free(t);
}

void ecs_transfer_recycle(ecs_transfers *p, ecs_transfer *t)
{
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    t->body.len = t->head.len = t->request_body.len = 0;
    t->overflow = OVERFLOW_NONE;
    t->error[0] = '\0';
    /* Keep big buffers from pinning memory after a large reply. */
    if (t->body.cap > (1u << 20))
        bytes_free(&t->body);
    if (p->free_count >= POOL_MAX || p->closed) {
        transfer_destroy(t);
        return;
    }
    /* Options stay set for the next transfer; setup overwrites the
     * per-request ones. A handle that had a CA file set starts over. */
    if (t->custom_ca) {
        curl_easy_reset(t->easy);
        t->configured = 0;
        t->custom_ca = 0;
    }
    t->next = p->free;
    p->free = t;
    p->free_count++;
}

ecs_transfer *ecs_transfer_get(ecs_transfers *p)
{
    ecs_transfer *t = p->free;
    if (t) {
        p->free = t->next;
        p->free_count--;
        t->next = NULL;
        return t;
    }
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->easy = curl_easy_init();
    if (t->easy == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

int ecs_transfers_trim(ecs_transfers *p, lua_Integer keep)
{
    int freed = 0;
    while (p->free && p->free_count > keep) {
        ecs_transfer *t = p->free;
        p->free = t->next;
        p->free_count--;
        transfer_destroy(t);
        freed++;
    }
    return freed;
}

void ecs_transfers_unshare(ecs_transfers *p)
{
    for (ecs_transfer *t = p->free; t; t = t->next) {
        curl_easy_setopt(t->easy, CURLOPT_SHARE, NULL);
        t->configured = 0;
    }
}

/* ---- requests ---- */

int ecs_request_method(const char *name)
{
    if (strcmp(name, "GET") == 0)
        return ECS_METHOD_GET;
    if (strcmp(name, "POST") == 0)
        return ECS_METHOD_POST;
    if (strcmp(name, "PUT") == 0)
        return ECS_METHOD_PUT;
    return -1;
}

/* A header line must stay one line: CR, LF or NUL would let a value inject
 * headers (or cut the line short). */
static int header_safe(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return 0;
    return 1;
}

struct curl_slist *ecs_request_headers(lua_State *L, int request)
{
    struct curl_slist *list = NULL;
    lua_getfield(L, request, "headers");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
                curl_slist_free_all(list);
                luaL_error(L, "submit: header names and values must be strings");
            }
            size_t name_len, value_len;
            const char *name = lua_tolstring(L, -2, &name_len);
            const char *value = lua_tolstring(L, -1, &value_len);
            if (!header_safe(name, name_len) || !header_safe(value, value_len)) {
                /* never the value in the message: it may be a token */
                curl_slist_free_all(list);
                luaL_error(L, "submit: header %s contains CR, LF or NUL", name);
            }
            lua_pushfstring(L, "%s: %s", name, value);
            struct curl_slist *n = curl_slist_append(list, lua_tostring(L, -1));
            lua_pop(L, 2);
            if (n == NULL) {
                curl_slist_free_all(list);
                luaL_error(L, "submit: out of memory");
            }
            list = n;
        }
    }
    lua_pop(L, 1);
    struct curl_slist *n = curl_slist_append(list, "Expect:");
    if (n == NULL) {
        curl_slist_free_all(list);
        luaL_error(L, "submit: out of memory");
    }
    return n;
}

/* ---- a transfer's way through curl ---- */

#define SETOPT(t, opt, val)                                                   \
    do {                                                                      \
        if (curl_easy_setopt((t)->easy, (opt), (val)) != CURLE_OK)            \
            return #opt;                                                      \
    } while (0)

const char *ecs_transfer_setup(ecs_transfer *t, const ecs_request *req, CURLSH *share,
                               curl_closesocket_callback on_close, void *close_data)
{
    t->headers = req->headers;
    if (!t->configured) {
        SETOPT(t, CURLOPT_SHARE, share);
        SETOPT(t, CURLOPT_WRITEFUNCTION, on_body);
        SETOPT(t, CURLOPT_WRITEDATA, t);
        SETOPT(t, CURLOPT_HEADERFUNCTION, on_header);
        SETOPT(t, CURLOPT_HEADERDATA, t);
        SETOPT(t, CURLOPT_PRIVATE, t);
        SETOPT(t, CURLOPT_NOSIGNAL, 1L);
        SETOPT(t, CURLOPT_TCP_KEEPALIVE, 1L);
        SETOPT(t, CURLOPT_ACCEPT_ENCODING, "");
        SETOPT(t, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(t, CURLOPT_CLOSESOCKETFUNCTION, on_close);
        SETOPT(t, CURLOPT_CLOSESOCKETDATA, close_data);
        SETOPT(t, CURLOPT_ERRORBUFFER, t->error);
#if LIBCURL_VERSION_NUM >= 0x075700
        /* A transfer ended while its name lookup hangs (timeout, cancel)
         * would otherwise join the resolver thread, freezing the loop until
         * getaddrinfo gives up (10 s and more); detach it instead. */
        SETOPT(t, CURLOPT_QUICK_EXIT, 1L);
#endif
        t->configured = 1;
    }
    SETOPT(t, CURLOPT_URL, req->url);
    SETOPT(t, CURLOPT_HTTPHEADER, t->headers);
    SETOPT(t, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    SETOPT(t, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    SETOPT(t, CURLOPT_SSL_VERIFYPEER, req->verify_tls ? 1L : 0L);
    SETOPT(t, CURLOPT_SSL_VERIFYHOST, req->verify_tls ? 2L : 0L);
    if (req->ca_file) {
        t->custom_ca = 1;
        SETOPT(t, CURLOPT_CAINFO, req->ca_file);
    }
    if (req->post == ECS_METHOD_POST || req->post == ECS_METHOD_PUT) {
        /* Own copy: the Lua string may be collected before the send ends. */
        t->request_body.len = 0;
        if (req->body_len && bytes_append(&t->request_body, req->body, req->body_len) != 0)
            return "out of memory";
        SETOPT(t, CURLOPT_POST, 1L);
        SETOPT(t, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SETOPT(t, CURLOPT_POSTFIELDS, req->body_len ? t->request_body.data : "");
        /* A PUT is a POST under another name: the body (maybe empty, sent
         * with Content-Length: 0) goes the same way. */
        SETOPT(t, CURLOPT_CUSTOMREQUEST, req->post == ECS_METHOD_PUT ? "PUT" : NULL);
    } else {
        SETOPT(t, CURLOPT_HTTPGET, 1L);
        /* A pooled handle may come from a PUT. */
        SETOPT(t, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    }
    return NULL;
}

CURLMcode ecs_transfer_start(ecs_transfers *p, ecs_transfer *t, CURLM *multi, lua_Integer id)
{
    t->id = id;
    t->started = ecs_monotonic();
    CURLMcode mc = curl_multi_add_handle(multi, t->easy);
    if (mc != CURLM_OK)
        return mc;
    p->active++;
    t->prev_active = NULL;
    t->next_active = p->in_flight;
    if (p->in_flight)
        p->in_flight->prev_active = t;
    p->in_flight = t;
    return CURLM_OK;
}

static void unlink_active(ecs_transfers *p, ecs_transfer *t)
{
    if (t->prev_active)
        t->prev_active->next_active = t->next_active;
    else
        p->in_flight = t->next_active;
    if (t->next_active)
        t->next_active->prev_active = t->prev_active;
    t->prev_active = t->next_active = NULL;
    p->active--;
}

void ecs_transfers_collect(ecs_transfers *p, CURLM *multi)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        ecs_transfer *t = (ecs_transfer *)priv;
        if (t == NULL)
            continue;
        t->result = msg->data.result;
        curl_multi_remove_handle(multi, t->easy);
        unlink_active(p, t);
        t->next = NULL;
        if (p->done_tail)
            p->done_tail->next = t;
        else
            p->done = t;
        p->done_tail = t;
    }
}

void ecs_transfers_close(ecs_transfers *p, CURLM *multi)
{
    p->closed = 1;
    while (p->in_flight) {
        ecs_transfer *t = p->in_flight;
        curl_multi_remove_handle(multi, t->easy);
        unlink_active(p, t);
        transfer_destroy(t);
    }
    while (p->done) {
        ecs_transfer *t = p->done;
        p->done = t->next;
        transfer_destroy(t);
    }
    p->done_tail = NULL;
    while (p->free) {
        ecs_transfer *t = p->free;
        p->free = t->next;
        transfer_destroy(t);
    }
    p->free_count = 0;
    p->active = 0;
}

/* ---- completions ---- */

/* Classifies a libcurl result for the Lua error: a stable code, and whether
 * the request may have reached the server (then a resend is safe only for
 * idempotent calls). */
static const char *transport_code(CURLcode rc, int *maybe_sent)
{
    *maybe_sent = 1;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "Transport.Timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *maybe_sent = 0;
        return "Transport.ResolveFailed";
    case CURLE_COULDNT_CONNECT:
        *maybe_sent = 0;
        return "Transport.ConnectFailed";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        *maybe_sent = 0;
        return "Transport.TLS";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return "Transport.Reset";
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_WRITE_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return "Transport.BadResponse";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        *maybe_sent = 0;
        return "Transport.BadURL";
    default:
        return "Transport.Error";
    }
}

/* One completed transfer as a Lua table:
 *   { id, latency, status, head, body } for a reply, or
 *   { id, latency, error_code, error, maybe_sent, resolved, connected[, too_large] }
 * head is the raw header block: most replies never need a header, so none is
 * parsed here (ecs.errors reads the one it needs). */
static void push_completion(lua_State *L, const ecs_transfer *t, double now)
{
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, t->id);
    lua_setfield(L, -2, "id");
    lua_pushnumber(L, now - t->started);
    lua_setfield(L, -2, "latency");
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (t->result == CURLE_OK && status > 0) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "status");
        lua_pushlstring(L, t->head.data ? t->head.data : "", t->head.len);
        lua_setfield(L, -2, "head");
        lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
        lua_setfield(L, -2, "body");
    } else {
        /* No status: a transfer that failed has no reply to report, even if
         * a status line came before the failure. */
        int maybe_sent;
        CURLcode rc = t->result == CURLE_OK ? CURLE_GOT_NOTHING : t->result;
        const char *code = transport_code(rc, &maybe_sent);
        const char *detail = t->error[0] ? t->error : curl_easy_strerror(rc);
        int too_large = 1;
        if (t->overflow == OVERFLOW_BODY) {
            detail = "reply body over the limit of 64 MB";
        } else if (t->overflow == OVERFLOW_HEAD ||
                   (rc == CURLE_OUT_OF_MEMORY && (t->head.len > 0 || status > 0))) {
            /* libcurl reports a header line over its own limit as out of memory */
            detail = "reply headers over the limit of 64 KB";
        } else {
            too_large = 0;
        }
        if (too_large) {
            code = "Transport.BadResponse";
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "too_large");
        }
        lua_pushstring(L, code);
        lua_setfield(L, -2, "error_code");
        lua_pushstring(L, detail);
        lua_setfield(L, -2, "error");
        lua_pushboolean(L, maybe_sent);
        lua_setfield(L, -2, "maybe_sent");
        /* how far it got, for the message: name resolved, connected */
        curl_off_t resolved = 0, connected = 0;
        long request_bytes = 0; /* a reused connection has no connect time, but sent bytes */
        curl_easy_getinfo(t->easy, CURLINFO_NAMELOOKUP_TIME_T, &resolved);
        curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connected);
        curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_bytes);
        int is_connected = connected > 0 || request_bytes > 0;
        lua_pushboolean(L, resolved > 0 || is_connected);
        lua_setfield(L, -2, "resolved");
        lua_pushboolean(L, is_connected);
        lua_setfield(L, -2, "connected");
    }
}

int ecs_transfers_push_done(lua_State *L, ecs_transfers *p, double now)
{
    ecs_transfer *t = p->done;
    if (t == NULL)
        return 0;
    p->done = t->next;
    if (p->done == NULL)
        p->done_tail = NULL;
    push_completion(L, t, now);
    ecs_transfer_recycle(p, t);
    return 1;
}
