#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "clock.h"
#include "loop.h"

#define MAX_EVENTS 256
#define POOL_MAX 512          /* idle transfers kept for reuse */
#define BODY_LIMIT (64u << 20) /* a larger ECS reply is not a reply */
#define HEAD_LIMIT 65536u      /* bytes of response headers */
#define MAX_SECONDS 1e6        /* longest timeout or wait accepted, in seconds */

enum { OVERFLOW_NONE, OVERFLOW_BODY, OVERFLOW_HEAD };

typedef struct {
    char *data;
    size_t len, cap;
} bytes;

typedef struct transfer {
    CURL *easy;
    struct curl_slist *headers;
    bytes body, head, request_body;
    lua_Integer id;
    double started;
    CURLcode result;
    int overflow;   /* OVERFLOW_*: a limit of ours ended the transfer */
    char error[CURL_ERROR_SIZE]; /* libcurl's detail of a failure */
    int configured; /* the constant options are set */
    int custom_ca;  /* CURLOPT_CAINFO was set */
    struct transfer *next; /* in the completed or free list */
    struct transfer *prev_active, *next_active; /* while inside curl */
} transfer;

typedef struct {
    double due;
    lua_Integer id;
} timer;

typedef struct {
    CURLM *multi;
    CURLSH *share;
    int epfd;
    double curl_due; /* < 0: no curl timeout pending */
    lua_Integer next_id;
    int active;          /* transfers inside curl */
    transfer *done;      /* completed, not yet handed to Lua */
    transfer *done_tail;
    transfer *free;      /* pooled */
    transfer *in_flight; /* list of transfers inside curl */
    int free_count;
    timer *timers;       /* min-heap by due */
    size_t ntimers, timers_cap;
    int closed;
    int global_init; /* this loop holds a curl_global_init reference */
    /* Interest registered in epoll per socket (0: not registered). A socket
     * curl stops watching (an idle kept-alive connection) stays registered,
     * PARKED, so reusing it costs no epoll_ctl; the close callback forgets
     * it, since the kernel drops a closed socket from epoll by itself. */
    uint32_t *fd_state;
    size_t fd_cap;
} loop;

#define PARKED 0x80000000u


/* ---- growable byte buffers ---- */

static int bytes_append(bytes *b, const char *p, size_t n)
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

static void bytes_free(bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- timer heap ---- */

static void heap_swap(timer *a, timer *b)
{
    timer t = *a;
    *a = *b;
    *b = t;
}

static int heap_push(loop *lp, double due, lua_Integer id)
{
    if (lp->ntimers == lp->timers_cap) {
        size_t cap = lp->timers_cap ? lp->timers_cap * 2 : 64;
        timer *t = realloc(lp->timers, cap * sizeof *t);
        if (t == NULL)
            return -1;
        lp->timers = t;
        lp->timers_cap = cap;
    }
    size_t i = lp->ntimers++;
    lp->timers[i] = (timer){ due, id };
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        /* Equal deadlines fire in creation order: ids grow. */
        if (lp->timers[parent].due < lp->timers[i].due ||
            (lp->timers[parent].due == lp->timers[i].due &&
             lp->timers[parent].id < lp->timers[i].id))
            break;
        heap_swap(&lp->timers[parent], &lp->timers[i]);
        i = parent;
    }
    return 0;
}

static int timer_before(const timer *a, const timer *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static timer heap_pop(loop *lp)
{
    timer top = lp->timers[0];
    lp->timers[0] = lp->timers[--lp->ntimers];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < lp->ntimers && timer_before(&lp->timers[l], &lp->timers[m]))
            m = l;
        if (r < lp->ntimers && timer_before(&lp->timers[r], &lp->timers[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(&lp->timers[i], &lp->timers[m]);
        i = m;
    }
    return top;
}

/* ---- libcurl callbacks: they only record, never call Lua ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    if (t->body.len + len > BODY_LIMIT || bytes_append(&t->body, p, len) != 0) {
        t->overflow = OVERFLOW_BODY;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
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

static uint32_t *fd_slot(loop *lp, curl_socket_t s)
{
    if (s < 0)
        return NULL;
    if ((size_t)s >= lp->fd_cap) {
        size_t cap = lp->fd_cap ? lp->fd_cap : 64;
        while (cap <= (size_t)s)
            cap *= 2;
        uint32_t *p = realloc(lp->fd_state, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        memset(p + lp->fd_cap, 0, (cap - lp->fd_cap) * sizeof *p);
        lp->fd_state = p;
        lp->fd_cap = cap;
    }
    return &lp->fd_state[s];
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    loop *lp = userp;
    (void)easy;
    (void)socketp;
    uint32_t *state = fd_slot(lp, s);
    if (state == NULL)
        return -1;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.fd = s;
    if (what == CURL_POLL_REMOVE) {
        if (*state == EPOLLIN) {
            *state |= PARKED; /* an idle socket with nothing to read stays quiet */
        } else if (*state) {
            epoll_ctl(lp->epfd, EPOLL_CTL_DEL, s, &ev);
            *state = 0;
        }
        return 0;
    }
    uint32_t want = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if ((*state & ~PARKED) == want && *state) {
        *state = want; /* unparked, same interest: nothing to tell the kernel */
        return 0;
    }
    ev.events = want;
    int op = *state ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(lp->epfd, op, s, &ev) != 0) {
        op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(lp->epfd, op, s, &ev) != 0)
            return -1;
    }
    *state = want;
    return 0;
}

/* Every socket libcurl closes passes here, so that its epoll state is forgotten. */
static int on_close_socket(void *userp, curl_socket_t s)
{
    loop *lp = userp;
    if (s >= 0 && (size_t)s < lp->fd_cap)
        lp->fd_state[s] = 0;
    return close(s);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    loop *lp = userp;
    (void)multi;
    lp->curl_due = timeout_ms < 0 ? -1.0 : ecs_monotonic() + (double)timeout_ms / 1000.0;
    return 0;
}

/* ---- transfers ---- */

static void transfer_destroy(transfer *t)
{
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    bytes_free(&t->body);
    bytes_free(&t->head);
    bytes_free(&t->request_body);
    free(t);
}

static void transfer_recycle(loop *lp, transfer *t)
{
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    t->body.len = t->head.len = t->request_body.len = 0;
    t->overflow = OVERFLOW_NONE;
    t->error[0] = '\0';
    /* Keep big buffers from pinning memory after a large reply. */
    if (t->body.cap > (1u << 20))
        bytes_free(&t->body);
    if (lp->free_count >= POOL_MAX || lp->closed) {
        transfer_destroy(t);
        return;
    }
    /* Options stay set for the next transfer; submit overwrites the
     * per-request ones. A handle that had a CA file set starts over. */
    if (t->custom_ca) {
        curl_easy_reset(t->easy);
        t->configured = 0;
        t->custom_ca = 0;
    }
    t->next = lp->free;
    lp->free = t;
    lp->free_count++;
}

static transfer *transfer_get(loop *lp)
{
    transfer *t = lp->free;
    if (t) {
        lp->free = t->next;
        lp->free_count--;
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

static loop *check_loop(lua_State *L)
{
    loop *lp = luaL_checkudata(L, 1, ECS_LOOP_MT);
    if (lp->closed)
        luaL_error(L, "loop is closed");
    return lp;
}

/* A timeout option in whole milliseconds, libcurl's resolution: a positive
 * value below it is raised to 1 ms (0 would mean "no timeout"). */
static long opt_millis(lua_State *L, int t, const char *name, double dflt)
{
    double v = dflt;
    lua_getfield(L, t, name);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: expected a number (got %s)", name, luaL_typename(L, -1));
        v = (double)lua_tonumber(L, -1);
        if (!(v > 0 && v <= MAX_SECONDS))
            luaL_error(L, "%s: expected seconds > 0 and at most %g", name, MAX_SECONDS);
    }
    lua_pop(L, 1);
    double ms = v * 1000.0;
    return ms < 1.0 ? 1L : (long)ms;
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

#define SETOPT(t, opt, val)                                                   \
    do {                                                                      \
        if (curl_easy_setopt((t)->easy, (opt), (val)) != CURLE_OK) {          \
            failed = #opt;                                                    \
            goto fail;                                                        \
        }                                                                     \
    } while (0)

/* loop:submit(request, options) -> id
 * request = { method, url, headers = { [name] = value }, body }
 * options = { timeout, connect_timeout (seconds), ca_file, verify_tls } */
static int l_submit(lua_State *L)
{
    loop *lp = check_loop(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    else {
        lua_settop(L, 2);
        lua_newtable(L);
    }
    lua_getfield(L, 2, "url");
    const char *url = lua_tostring(L, -1);
    if (url == NULL)
        return luaL_error(L, "submit: request.url must be a string");
    lua_getfield(L, 2, "method");
    const char *method = luaL_optstring(L, -1, "GET");
    lua_getfield(L, 2, "body");
    size_t body_len = 0;
    const char *body = lua_isnil(L, -1) ? NULL : lua_tolstring(L, -1, &body_len);
    if (!lua_isnil(L, -1) && body == NULL)
        return luaL_error(L, "submit: request.body must be a string");
    long timeout_ms = opt_millis(L, 3, "timeout", 10.0);
    long connect_timeout_ms = opt_millis(L, 3, "connect_timeout", 5.0);
    lua_getfield(L, 3, "ca_file");
    const char *ca_file = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_getfield(L, 3, "verify_tls");
    int verify = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    /* Stack holds url, method, body, ca_file while the transfer is set up. */

    transfer *t = transfer_get(lp);
    if (t == NULL)
        return luaL_error(L, "submit: out of memory");
    const char *failed = NULL;
    struct curl_slist *list = NULL;
    lua_getfield(L, 2, "headers");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
                lua_pop(L, 3);
                curl_slist_free_all(list);
                transfer_recycle(lp, t);
                return luaL_error(L, "submit: header names and values must be strings");
            }
            size_t name_len, value_len;
            const char *name = lua_tolstring(L, -2, &name_len);
            const char *value = lua_tolstring(L, -1, &value_len);
            if (!header_safe(name, name_len) || !header_safe(value, value_len)) {
                /* never the value in the message: it may be a token */
                curl_slist_free_all(list);
                transfer_recycle(lp, t);
                return luaL_error(L, "submit: header %s contains CR, LF or NUL", name);
            }
            lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
            struct curl_slist *n = curl_slist_append(list, lua_tostring(L, -1));
            lua_pop(L, 2);
            if (n == NULL) {
                lua_pop(L, 2);
                curl_slist_free_all(list);
                transfer_recycle(lp, t);
                return luaL_error(L, "submit: out of memory");
            }
            list = n;
        }
    }
    lua_pop(L, 1);
    /* libcurl would add "Expect: 100-continue" to larger POSTs: a wasted round trip. */
    struct curl_slist *n = curl_slist_append(list, "Expect:");
    if (n == NULL) {
        curl_slist_free_all(list);
        transfer_recycle(lp, t);
        return luaL_error(L, "submit: out of memory");
    }
    t->headers = list = n;

    if (!t->configured) {
        SETOPT(t, CURLOPT_SHARE, lp->share);
        SETOPT(t, CURLOPT_WRITEFUNCTION, on_body);
        SETOPT(t, CURLOPT_WRITEDATA, t);
        SETOPT(t, CURLOPT_HEADERFUNCTION, on_header);
        SETOPT(t, CURLOPT_HEADERDATA, t);
        SETOPT(t, CURLOPT_PRIVATE, t);
        SETOPT(t, CURLOPT_NOSIGNAL, 1L);
        SETOPT(t, CURLOPT_TCP_KEEPALIVE, 1L);
        SETOPT(t, CURLOPT_ACCEPT_ENCODING, "");
        SETOPT(t, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(t, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
        SETOPT(t, CURLOPT_CLOSESOCKETDATA, lp);
        SETOPT(t, CURLOPT_ERRORBUFFER, t->error);
#if LIBCURL_VERSION_NUM >= 0x075700
        /* A transfer ended while its name lookup hangs (timeout, cancel)
         * would otherwise join the resolver thread, freezing the loop until
         * getaddrinfo gives up (10 s and more); detach it instead. */
        SETOPT(t, CURLOPT_QUICK_EXIT, 1L);
#endif
        t->configured = 1;
    }
    SETOPT(t, CURLOPT_URL, url);
    SETOPT(t, CURLOPT_HTTPHEADER, t->headers);
    SETOPT(t, CURLOPT_TIMEOUT_MS, timeout_ms);
    SETOPT(t, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    SETOPT(t, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    SETOPT(t, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (ca_file) {
        t->custom_ca = 1;
        SETOPT(t, CURLOPT_CAINFO, ca_file);
    }
    if (strcmp(method, "POST") == 0) {
        /* Own copy: the Lua string may be collected before the send ends. */
        t->request_body.len = 0;
        if (body_len && bytes_append(&t->request_body, body, body_len) != 0) {
            failed = "out of memory";
            goto fail;
        }
        SETOPT(t, CURLOPT_POST, 1L);
        SETOPT(t, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SETOPT(t, CURLOPT_POSTFIELDS, body_len ? t->request_body.data : "");
    } else if (strcmp(method, "GET") == 0) {
        SETOPT(t, CURLOPT_HTTPGET, 1L);
    } else {
        failed = "method (GET or POST)";
        goto fail;
    }

    t->id = ++lp->next_id;
    t->started = ecs_monotonic();
    CURLMcode mc = curl_multi_add_handle(lp->multi, t->easy);
    if (mc != CURLM_OK) {
        transfer_recycle(lp, t);
        return luaL_error(L, "submit: curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    lp->active++;
    t->prev_active = NULL;
    t->next_active = lp->in_flight;
    if (lp->in_flight)
        lp->in_flight->prev_active = t;
    lp->in_flight = t;
    lua_pushinteger(L, t->id);
    return 1;

fail:
    transfer_recycle(lp, t);
    return luaL_error(L, "submit: cannot set %s", failed);
}

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

static void unlink_active(loop *lp, transfer *t)
{
    if (t->prev_active)
        t->prev_active->next_active = t->next_active;
    else
        lp->in_flight = t->next_active;
    if (t->next_active)
        t->next_active->prev_active = t->prev_active;
    t->prev_active = t->next_active = NULL;
    lp->active--;
}

static void collect_completions(loop *lp)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(lp->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        transfer *t = (transfer *)priv;
        if (t == NULL)
            continue;
        t->result = msg->data.result;
        curl_multi_remove_handle(lp->multi, t->easy);
        unlink_active(lp, t);
        t->next = NULL;
        if (lp->done_tail)
            lp->done_tail->next = t;
        else
            lp->done = t;
        lp->done_tail = t;
    }
}

/* One completed transfer as a Lua table:
 * { id, status, head, body, latency } or { id, error_code, error, maybe_sent, latency }
 * head is the raw header block: most replies never need a header, so none is
 * parsed here (ecs.errors reads the one it needs). */
static void push_completion(lua_State *L, loop *lp, transfer *t, double now)
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
    transfer_recycle(lp, t);
}

static void push_timer_completion(lua_State *L, lua_Integer id)
{
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, id);
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "timer");
}

static void drive_timeout(loop *lp, double now)
{
    int running;
    if (lp->curl_due >= 0 && lp->curl_due <= now) {
        lp->curl_due = -1.0;
        curl_multi_socket_action(lp->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/* loop:run_once([max_wait seconds]) -> list of completions (maybe empty).
 * Waits for socket activity or the next deadline, at most max_wait (default:
 * until something is due), and hands back what completed. */
static int l_run_once(lua_State *L)
{
    loop *lp = check_loop(L);
    double max_wait = luaL_optnumber(L, 2, -1.0);
    if (isnan(max_wait))
        max_wait = -1.0;
    double now = ecs_monotonic();
    /* wait < 0 means no deadline: sleep until a socket is ready. */
    double wait = max_wait < 0 ? -1.0 : max_wait;
    if (lp->done != NULL)
        wait = 0;
    if (lp->curl_due >= 0) {
        double d = lp->curl_due > now ? lp->curl_due - now : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (lp->ntimers > 0) {
        double d = lp->timers[0].due > now ? lp->timers[0].due - now : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (wait < 0 && lp->active == 0)
        wait = 0; /* nothing could ever wake us */
    if (wait > MAX_SECONDS)
        wait = MAX_SECONDS; /* wake up now and then rather than overflow epoll's int */
    int timeout_ms = wait < 0 ? -1 : (int)(wait * 1000.0 + 0.999);

    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(lp->epfd, events, MAX_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR)
        return luaL_error(L, "run_once: epoll_wait failed: %s", strerror(errno));
    int running;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        if (fd >= 0 && (size_t)fd < lp->fd_cap && (lp->fd_state[fd] & PARKED)) {
            /* The server closed an idle connection: stop watching it; curl
             * notices when it next tries the connection. */
            struct epoll_event ev;
            memset(&ev, 0, sizeof ev);
            epoll_ctl(lp->epfd, EPOLL_CTL_DEL, fd, &ev);
            lp->fd_state[fd] = 0;
            continue;
        }
        int flags = 0;
        if (events[i].events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(lp->multi, fd, flags, &running);
    }
    drive_timeout(lp, ecs_monotonic());
    collect_completions(lp);
    now = ecs_monotonic(); /* after the work above, so latencies include it */

    lua_newtable(L);
    int count = 0;
    while (lp->done != NULL) {
        transfer *t = lp->done;
        lp->done = t->next;
        if (lp->done == NULL)
            lp->done_tail = NULL;
        push_completion(L, lp, t, now);
        lua_rawseti(L, -2, ++count);
    }
    while (lp->ntimers > 0 && lp->timers[0].due <= now) {
        timer tm = heap_pop(lp);
        push_timer_completion(L, tm.id);
        lua_rawseti(L, -2, ++count);
    }
    return 1;
}

/* loop:timer(seconds) -> id; fires once through run_once. */
static int l_timer(lua_State *L)
{
    loop *lp = check_loop(L);
    double seconds = luaL_checknumber(L, 2);
    luaL_argcheck(L, !isnan(seconds) && seconds <= MAX_SECONDS, 2,
                  "seconds must be a number at most 1e6");
    if (!(seconds >= 0))
        seconds = 0;
    lua_Integer id = ++lp->next_id;
    if (heap_push(lp, ecs_monotonic() + seconds, id) != 0)
        return luaL_error(L, "timer: out of memory");
    lua_pushinteger(L, id);
    return 1;
}

/* loop:pending() -> transfers in flight + timers not yet fired */
static int l_pending(lua_State *L)
{
    loop *lp = check_loop(L);
    lua_pushinteger(L, (lua_Integer)lp->active + (lua_Integer)lp->ntimers);
    return 1;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, ecs_monotonic());
    return 1;
}

static void loop_close(loop *lp)
{
    if (lp->closed)
        return;
    lp->closed = 1;
    while (lp->in_flight) {
        transfer *t = lp->in_flight;
        curl_multi_remove_handle(lp->multi, t->easy);
        unlink_active(lp, t);
        transfer_destroy(t);
    }
    while (lp->done) {
        transfer *t = lp->done;
        lp->done = t->next;
        transfer_destroy(t);
    }
    while (lp->free) {
        transfer *t = lp->free;
        lp->free = t->next;
        transfer_destroy(t);
    }
    if (lp->multi)
        curl_multi_cleanup(lp->multi);
    if (lp->share)
        curl_share_cleanup(lp->share);
    if (lp->epfd >= 0)
        close(lp->epfd);
    free(lp->timers);
    free(lp->fd_state);
    lp->fd_state = NULL;
    lp->fd_cap = 0;
    if (lp->global_init)
        curl_global_cleanup();
    lp->global_init = 0;
    lp->multi = NULL;
    lp->share = NULL;
    lp->epfd = -1;
    lp->timers = NULL;
    lp->active = 0;
    lp->ntimers = 0;
}

static int l_close(lua_State *L)
{
    loop *lp = luaL_checkudata(L, 1, ECS_LOOP_MT);
    loop_close(lp);
    return 0;
}

/* loop:trim([keep]) -> handles freed. After a burst, frees pooled transfers
 * beyond `keep` (default 16) and hands free heap pages back to the system,
 * so a long-running script's memory returns to its level before the burst. */
static int l_trim(lua_State *L)
{
    loop *lp = check_loop(L);
    lua_Integer keep = luaL_optinteger(L, 2, 16);
    luaL_argcheck(L, keep >= 0, 2, "keep must not be negative");
    int freed = 0;
    while (lp->free && lp->free_count > keep) {
        transfer *t = lp->free;
        lp->free = t->next;
        lp->free_count--;
        transfer_destroy(t);
        freed++;
    }
    /* With nothing in flight, a fresh share closes the burst's idle
     * connections (each holds buffers); the pooled handles attach to the new
     * share on their next use. */
    if (lp->active == 0 && lp->done == NULL) {
        CURLSH *fresh = curl_share_init();
        if (fresh && curl_share_setopt(fresh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK &&
            curl_share_setopt(fresh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK &&
            curl_share_setopt(fresh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) == CURLSHE_OK) {
            for (transfer *t = lp->free; t; t = t->next) {
                curl_easy_setopt(t->easy, CURLOPT_SHARE, NULL);
                t->configured = 0;
            }
            if (curl_share_cleanup(lp->share) == CURLSHE_OK) {
                lp->share = fresh;
                fresh = NULL;
            }
        }
        if (fresh)
            curl_share_cleanup(fresh);
    }
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    lua_pushinteger(L, freed);
    return 1;
}

static int l_tostring(lua_State *L)
{
    loop *lp = luaL_checkudata(L, 1, ECS_LOOP_MT);
    lua_pushfstring(L, "ecs.core.loop (%s, %d transfers, %d timers)",
                    lp->closed ? "closed" : "open", lp->active, (int)lp->ntimers);
    return 1;
}

int ecs_l_loop_new(lua_State *L)
{
    loop *lp = ecs_newuserdata(L, sizeof *lp);
    memset(lp, 0, sizeof *lp);
    lp->epfd = -1;
    lp->curl_due = -1.0;
    lp->closed = 1; /* until fully set up, so __gc frees only what exists */
    ecs_setmetatable(L, ECS_LOOP_MT);
    /* libcurl counts these calls; each loop holds one until it closes. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return luaL_error(L, "loop: curl_global_init failed");
    lp->global_init = 1;
    lp->epfd = epoll_create1(EPOLL_CLOEXEC);
    lp->multi = curl_multi_init();
    lp->share = curl_share_init();
    if (lp->epfd < 0 || lp->multi == NULL || lp->share == NULL) {
        lp->closed = 0;
        loop_close(lp);
        return luaL_error(L, "loop: cannot create epoll, curl multi or share handle");
    }
    lp->closed = 0;
    int ok = curl_share_setopt(lp->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK &&
             curl_share_setopt(lp->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK &&
             curl_share_setopt(lp->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) == CURLSHE_OK &&
             curl_multi_setopt(lp->multi, CURLMOPT_SOCKETFUNCTION, on_socket) == CURLM_OK &&
             curl_multi_setopt(lp->multi, CURLMOPT_SOCKETDATA, lp) == CURLM_OK &&
             curl_multi_setopt(lp->multi, CURLMOPT_TIMERFUNCTION, on_timer) == CURLM_OK &&
             curl_multi_setopt(lp->multi, CURLMOPT_TIMERDATA, lp) == CURLM_OK &&
             curl_multi_setopt(lp->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) == CURLM_OK &&
             curl_multi_setopt(lp->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L) == CURLM_OK;
    if (!ok) {
        loop_close(lp);
        return luaL_error(L, "loop: cannot configure libcurl");
    }
    return 1;
}

static int l_gc(lua_State *L)
{
    loop *lp = luaL_checkudata(L, 1, ECS_LOOP_MT);
    loop_close(lp);
    return 0;
}

static void loop_register(lua_State *L)
{
    static const luaL_Reg METHODS[] = {
        { "submit", l_submit },   { "timer", l_timer }, { "run_once", l_run_once },
        { "pending", l_pending }, { "now", l_now },     { "close", l_close },
        { "trim", l_trim },
        { NULL, NULL },
    };
    ecs_class(L, ECS_LOOP_MT, METHODS, l_gc, l_tostring);
}

#if defined(_WIN32)
#define ECS_EXPORT __declspec(dllexport)
#else
#define ECS_EXPORT __attribute__((visibility("default")))
#endif

/* ecs.loop is a module of its own so that libcurl (and the thirty libraries
 * it links) loads only when the first call is sent, not at require "ecs". */
ECS_EXPORT int luaopen_ecs_loop(lua_State *L)
{
    static const luaL_Reg FUNCTIONS[] = {
        { "new", ecs_l_loop_new },
        { "now", l_now },
        { NULL, NULL },
    };
    loop_register(L);
    lua_newtable(L);
    ecs_setfuncs(L, FUNCTIONS);
    lua_pushstring(L, curl_version());
    lua_setfield(L, -2, "curl_version");
    return 1;
}
