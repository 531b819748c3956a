#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "clock.h"
#include "loop.h"
#include "socket.h"
#include "timers.h"
#include "transfers.h"

#define MAX_EVENTS 256
#define MAX_SECONDS 1e6 /* longest timeout or wait accepted, in seconds */

typedef struct {
    CURLM *multi;
    CURLSH *share;
    int epfd;
    double curl_due; /* < 0: no curl timeout pending */
    lua_Integer next_id; /* of transfers and timers alike */
    ecs_transfers transfers;
    ecs_timers timers;
    ecs_sockets sockets; /* streams of our own (socket.h), beside curl's */
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

/* ---- libcurl callbacks: they only record, never call Lua ---- */

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

/* ---- arguments ---- */

static loop *check_loop(lua_State *L)
{
    loop *lp = luaL_checkudata(L, 1, ECS_LOOP_MT);
    if (lp->closed)
        luaL_error(L, "loop is closed");
    return lp;
}

/* A string (or number) field of the table at t, or NULL when nil. The value
 * stays on the stack, which keeps the string alive. */
static const char *opt_string_field(lua_State *L, int t, const char *name, size_t *len,
                                    const char *what)
{
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1))
        return NULL;
    const char *s = lua_tolstring(L, -1, len);
    if (s == NULL)
        luaL_error(L, "submit: %s must be a string", what);
    return s;
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

/* ---- methods ---- */

/* loop:submit(request, options) -> id
 * request = { method, url, headers = { [name] = value }, body }
 * options = { timeout, connect_timeout (seconds), ca_file, verify_tls } */
static int loop_l_submit(lua_State *L)
{
    loop *lp = check_loop(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    else {
        lua_settop(L, 2);
        lua_newtable(L);
    }
    /* The strings stay on the stack while the transfer is set up. */
    ecs_request req;
    req.url = opt_string_field(L, 2, "url", NULL, "request.url");
    if (req.url == NULL)
        return luaL_error(L, "submit: request.url must be a string");
    const char *method = opt_string_field(L, 2, "method", NULL, "request.method");
    if (method == NULL)
        method = "GET";
    req.body_len = 0;
    req.body = opt_string_field(L, 2, "body", &req.body_len, "request.body");
    req.timeout_ms = opt_millis(L, 3, "timeout", 10.0);
    req.connect_timeout_ms = opt_millis(L, 3, "connect_timeout", 5.0);
    req.ca_file = opt_string_field(L, 3, "ca_file", NULL, "options.ca_file");
    lua_getfield(L, 3, "verify_tls");
    req.verify_tls = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    req.headers = ecs_request_headers(L, 2);
    req.post = ecs_request_method(method);
    if (req.post < 0) {
        curl_slist_free_all(req.headers);
        return luaL_error(L, "submit: cannot set method (GET, POST or PUT)");
    }

    ecs_transfer *t = ecs_transfer_get(&lp->transfers);
    if (t == NULL) {
        curl_slist_free_all(req.headers);
        return luaL_error(L, "submit: out of memory");
    }
    const char *failed = ecs_transfer_setup(t, &req, lp->share, on_close_socket, lp);
    if (failed) {
        ecs_transfer_recycle(&lp->transfers, t);
        return luaL_error(L, "submit: cannot set %s", failed);
    }
    CURLMcode mc = ecs_transfer_start(&lp->transfers, t, lp->multi, ++lp->next_id);
    if (mc != CURLM_OK) {
        ecs_transfer_recycle(&lp->transfers, t);
        return luaL_error(L, "submit: curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    lua_pushinteger(L, t->id);
    return 1;
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
static int loop_l_run_once(lua_State *L)
{
    loop *lp = check_loop(L);
    double max_wait = luaL_optnumber(L, 2, -1.0);
    if (isnan(max_wait))
        max_wait = -1.0;
    double now = ecs_monotonic();
    /* wait < 0 means no deadline: sleep until a socket is ready. */
    double wait = max_wait < 0 ? -1.0 : max_wait;
    if (lp->transfers.done != NULL || lp->sockets.ready_count > 0)
        wait = 0;
    if (lp->curl_due >= 0) {
        double d = lp->curl_due > now ? lp->curl_due - now : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (lp->timers.count > 0) {
        double d = lp->timers.heap[0].due > now ? lp->timers.heap[0].due - now : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (wait < 0 && lp->transfers.active == 0 && lp->sockets.waiting == 0)
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
        ecs_socket *sock = ecs_sockets_find(&lp->sockets, fd);
        if (sock) {
            ecs_socket_event(&lp->sockets, sock, events[i].events);
            continue;
        }
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
    ecs_transfers_collect(&lp->transfers, lp->multi);
    now = ecs_monotonic(); /* after the work above, so latencies include it */

    lua_newtable(L);
    int count = 0;
    while (ecs_transfers_push_done(L, &lp->transfers, now))
        lua_rawseti(L, -2, ++count);
    while (ecs_sockets_push_ready(L, &lp->sockets))
        lua_rawseti(L, -2, ++count);
    while (lp->timers.count > 0 && lp->timers.heap[0].due <= now) {
        ecs_timer tm = ecs_timers_pop(&lp->timers);
        push_timer_completion(L, tm.id);
        lua_rawseti(L, -2, ++count);
    }
    return 1;
}

/* loop:timer(seconds) -> id; fires once through run_once. */
static int loop_l_timer(lua_State *L)
{
    loop *lp = check_loop(L);
    double seconds = luaL_checknumber(L, 2);
    luaL_argcheck(L, !isnan(seconds) && seconds <= MAX_SECONDS, 2,
                  "seconds must be a number at most 1e6");
    if (!(seconds >= 0))
        seconds = 0;
    lua_Integer id = ++lp->next_id;
    if (ecs_timers_push(&lp->timers, ecs_monotonic() + seconds, id) != 0)
        return luaL_error(L, "timer: out of memory");
    lua_pushinteger(L, id);
    return 1;
}

/* loop:pending() -> transfers in flight + timers not yet fired + socket waits */
static int loop_l_pending(lua_State *L)
{
    loop *lp = check_loop(L);
    lua_pushinteger(L, (lua_Integer)lp->transfers.active + (lua_Integer)lp->timers.count +
                           (lua_Integer)lp->sockets.waiting);
    return 1;
}

/* loop:socket() -> a stream socket whose waits complete through run_once
 * (socket.c); closed with the loop. */
static int loop_l_socket(lua_State *L)
{
    loop *lp = check_loop(L);
    return ecs_socket_new(L, &lp->sockets);
}

/* A share of DNS cache, TLS sessions and connections; 1 when set up. */
static int share_configure(CURLSH *share)
{
    return curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK &&
           curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK &&
           curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) == CURLSHE_OK;
}

/* loop:trim([keep]) -> handles freed. After a burst, frees pooled transfers
 * beyond `keep` (default 16) and hands free heap pages back to the system,
 * so a long-running script's memory returns to its level before the burst. */
static int loop_l_trim(lua_State *L)
{
    loop *lp = check_loop(L);
    lua_Integer keep = luaL_optinteger(L, 2, 16);
    luaL_argcheck(L, keep >= 0, 2, "keep must not be negative");
    int freed = ecs_transfers_trim(&lp->transfers, keep);
    /* With nothing in flight, a fresh share closes the burst's idle
     * connections (each holds buffers); the pooled handles attach to the new
     * share on their next use. */
    if (lp->transfers.active == 0 && lp->transfers.done == NULL) {
        CURLSH *fresh = curl_share_init();
        if (fresh && share_configure(fresh)) {
            ecs_transfers_unshare(&lp->transfers);
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

static void loop_close(loop *lp)
{
    if (lp->closed)
        return;
    lp->closed = 1;
    ecs_transfers_close(&lp->transfers, lp->multi);
    ecs_sockets_close(&lp->sockets);
    if (lp->multi)
        curl_multi_cleanup(lp->multi);
    if (lp->share)
        curl_share_cleanup(lp->share);
    if (lp->epfd >= 0)
        close(lp->epfd);
    ecs_timers_free(&lp->timers);
    free(lp->fd_state);
    lp->fd_state = NULL;
    lp->fd_cap = 0;
    if (lp->global_init)
        curl_global_cleanup();
    lp->global_init = 0;
    lp->multi = NULL;
    lp->share = NULL;
    lp->epfd = -1;
}

/* loop:close(), also the loop's __gc */
static int loop_l_close(lua_State *L)
{
    loop *lp = luaL_checkudata(L, 1, ECS_LOOP_MT);
    loop_close(lp);
    return 0;
}

static int loop_l_tostring(lua_State *L)
{
    loop *lp = luaL_checkudata(L, 1, ECS_LOOP_MT);
    lua_pushfstring(L, "ecs.core.loop (%s, %d transfers, %d timers)",
                    lp->closed ? "closed" : "open", lp->transfers.active,
                    (int)lp->timers.count);
    return 1;
}

int ecs_l_loop_new(lua_State *L)
{
    loop *lp = ecs_newuserdata(L, sizeof *lp);
    memset(lp, 0, sizeof *lp);
    lp->epfd = -1;
    lp->curl_due = -1.0;
    ecs_sockets_init(&lp->sockets, -1, &lp->next_id);
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
    lp->sockets.epfd = lp->epfd;
    lp->closed = 0;
    int ok = share_configure(lp->share) &&
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

#if defined(_WIN32)
#define ECS_EXPORT __declspec(dllexport)
#else
#define ECS_EXPORT __attribute__((visibility("default")))
#endif

/* ecs.loop is a module of its own so that libcurl (and the thirty libraries
 * it links) loads only when the first call is sent, not at require "ecs". */
ECS_EXPORT int luaopen_ecs_loop(lua_State *L)
{
    static const luaL_Reg METHODS[] = {
        { "submit", loop_l_submit },   { "timer", loop_l_timer }, { "run_once", loop_l_run_once },
        { "pending", loop_l_pending }, { "now", ecs_l_now },      { "close", loop_l_close },
        { "trim", loop_l_trim },       { "socket", loop_l_socket },
        { NULL, NULL },
    };
    static const luaL_Reg FUNCTIONS[] = {
        { "new", ecs_l_loop_new },
        { "now", ecs_l_now },
        { NULL, NULL },
    };
    ecs_class(L, ECS_LOOP_MT, METHODS, loop_l_close, loop_l_tostring);
    ecs_socket_register(L);
    lua_newtable(L);
    ecs_setfuncs(L, FUNCTIONS);
    lua_pushstring(L, curl_version());
    lua_setfield(L, -2, "curl_version");
    return 1;
}
