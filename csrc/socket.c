#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "socket.h"

#define CHUNK 16384            /* bytes asked of the kernel per read */
#define BUFFER_LIMIT (64u << 20) /* a larger reply is not one this socket is for */

enum { WAIT_NONE, WAIT_READ, WAIT_WRITE };

struct ecs_socket {
    ecs_sockets *set; /* its loop's; NULL once the loop closed, or at gc */
    int fd;           /* -1 when closed */
    int connecting;   /* a connect is in progress */
    /* Edge-triggered readiness: set by an event, cleared when a read or a
     * write finds the kernel's buffer empty or full again. */
    int readable, writable;
    int hup;          /* the peer hung up or the socket failed (epoll said so) */
    int eof;          /* a read returned 0 */
    int error;        /* errno of the failure seen, 0 none */
    int wait;         /* WAIT_*: what wait_id waits for */
    lua_Integer wait_id;
    char *buf;        /* received, not yet taken: buf[start .. start + len) */
    size_t start, len, cap;
    ecs_socket *prev, *next; /* in the set's list of every socket it made */
};

/* ---- the set ---- */

void ecs_sockets_init(ecs_sockets *set, int epfd, lua_Integer *next_id)
{
    memset(set, 0, sizeof *set);
    set->epfd = epfd;
    set->next_id = next_id;
}

static int set_add(ecs_sockets *set, ecs_socket *s)
{
    if ((size_t)s->fd >= set->cap) {
        size_t cap = set->cap ? set->cap : 64;
        while (cap <= (size_t)s->fd)
            cap *= 2;
        ecs_socket **p = realloc(set->by_fd, cap * sizeof *p);
        if (p == NULL)
            return -1;
        memset(p + set->cap, 0, (cap - set->cap) * sizeof *p);
        set->by_fd = p;
        set->cap = cap;
    }
    set->by_fd[s->fd] = s;
    return 0;
}

/* Ends s's wait without completing it. */
static void drop_wait(ecs_socket *s)
{
    if (s->wait != WAIT_NONE && s->set)
        s->set->waiting--;
    s->wait = WAIT_NONE;
    s->wait_id = 0;
}

/* Closes the descriptor (the kernel drops it from epoll); the socket stays
 * in its set, so that it can connect again. */
static void socket_shut(ecs_socket *s)
{
    drop_wait(s);
    if (s->fd >= 0) {
        if (s->set && (size_t)s->fd < s->set->cap && s->set->by_fd[s->fd] == s)
            s->set->by_fd[s->fd] = NULL;
        close(s->fd);
    }
    s->fd = -1;
}

/* Shuts s and takes it out of its set (at gc). */
static void socket_detach(ecs_socket *s)
{
    socket_shut(s);
    if (s->set == NULL)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->set->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->set = NULL;
}

void ecs_sockets_close(ecs_sockets *set)
{
    /* Every socket made by the loop forgets it: the loop's memory goes
     * before theirs may. */
    for (ecs_socket *s = set->all, *next; s; s = next) {
        next = s->next;
        socket_shut(s);
        s->set = NULL;
        s->prev = s->next = NULL;
    }
    set->all = NULL;
    free(set->by_fd);
    free(set->ready);
    set->by_fd = NULL;
    set->ready = NULL;
    set->cap = set->ready_count = set->ready_cap = 0;
    set->waiting = 0;
}

static int wait_satisfied(const ecs_socket *s)
{
    if (s->error || s->hup || s->eof)
        return 1;
    return s->wait == WAIT_READ ? s->readable : s->writable;
}

/* The wait of s completed: its id joins the ready queue (room for it was
 * made when the wait began). */
static void complete(ecs_socket *s)
{
    ecs_sockets *set = s->set;
    set->ready[set->ready_count++] = s->wait_id;
    drop_wait(s);
}

void ecs_socket_event(ecs_sockets *set, ecs_socket *s, uint32_t events)
{
    (void)set;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->readable = 1;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        s->writable = 1;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->hup = 1;
    if (s->wait != WAIT_NONE && wait_satisfied(s))
        complete(s);
}

int ecs_sockets_push_ready(lua_State *L, ecs_sockets *set)
{
    if (set->ready_count == 0)
        return 0;
    lua_Integer id = set->ready[0];
    set->ready_count--;
    /* Completions are few (one per waiting socket): a shift is cheap. */
    memmove(set->ready, set->ready + 1, set->ready_count * sizeof *set->ready);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, id);
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "socket");
    return 1;
}

/* ---- arguments ---- */

static ecs_socket *check_socket(lua_State *L)
{
    return luaL_checkudata(L, 1, ECS_SOCKET_MT);
}

/* nil and a message, the cosocket way of failing. */
static int fail(lua_State *L, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    return 2;
}

static const char *errno_message(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return "connection refused";
    case ECONNRESET:
    case EPIPE:
        return "connection reset by peer";
    case ETIMEDOUT:
        return "timeout";
    default:
        return strerror(err);
    }
}

/* ---- methods ---- */

/* The address of host:port, or of "unix:/path"; 0, or a message. */
static const char *resolve(const char *host, lua_Integer port, struct sockaddr_storage *addr,
                           socklen_t *addr_len, int *family)
{
    if (strncmp(host, "unix:", 5) == 0) {
        const char *path = host + 5;
        struct sockaddr_un *un = (struct sockaddr_un *)addr;
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof un->sun_path)
            return "bad unix socket path (empty or too long)";
        memset(un, 0, sizeof *un);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, n + 1);
        *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        *family = AF_UNIX;
        return NULL;
    }
    if (port < 1 || port > 65535)
        return "bad port (1 to 65535)";
    char service[8];
    snprintf(service, sizeof service, "%d", (int)port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* A literal address is taken as it is; a name goes to the system
     * resolver (blocking: give the rate store an address or a hosts name). */
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0 || res == NULL)
        return "cannot resolve the host name";
    if (res->ai_addrlen > sizeof *addr) {
        freeaddrinfo(res);
        return "address too long";
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    *family = res->ai_family;
    freeaddrinfo(res);
    return NULL;
}

/* sock:connect(host, port) or sock:connect("unix:/path") -> true when
 * connected at once, false when the connect goes on (wait "w", then
 * sock:connected()), or nil and a message. A connected socket is closed first. */
static int socket_l_connect(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    const char *host = luaL_checkstring(L, 2);
    lua_Integer port = luaL_optinteger(L, 3, 0);
    ecs_sockets *set = s->set;
    if (set == NULL)
        return fail(L, "the loop is closed");
    socket_shut(s);
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    int family = AF_UNSPEC;
    const char *bad = resolve(host, port, &addr, &addr_len, &family);
    if (bad)
        return fail(L, bad);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(L, strerror(errno));
    if (family != AF_UNIX) {
        /* Requests are small and wait for their reply: no Nagle delay. */
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
            int err = errno;
            close(fd);
            return fail(L, strerror(err));
        }
    }
    s->fd = fd;
    s->connecting = s->readable = s->writable = s->hup = s->eof = s->error = 0;
    s->start = s->len = 0;
    int rc;
    do
        rc = connect(fd, (struct sockaddr *)&addr, addr_len);
    while (rc != 0 && errno == EINTR);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err != EINPROGRESS && err != EAGAIN) {
        socket_shut(s);
        return fail(L, errno_message(err));
    }
    /* Registered after connect: an unconnected socket polls as hung up. */
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    if (set_add(set, s) != 0) {
        socket_shut(s);
        return fail(L, "out of memory");
    }
    /* EEXIST: the number is still registered for a description another process keeps open
     * (a socket of curl's, closed here after a fork): take the registration over. */
    if (epoll_ctl(set->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
        (errno != EEXIST || epoll_ctl(set->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)) {
        err = errno;
        socket_shut(s);
        return fail(L, strerror(err));
    }
    s->connecting = rc != 0;
    if (!s->connecting)
        s->writable = 1;
    lua_pushboolean(L, !s->connecting);
    return 1;
}

/* sock:connected() -> true, or nil and why the connect failed (after a wait "w"). */
static int socket_l_connected(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    if (s->fd < 0)
        return fail(L, "closed");
    if (s->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == 0 && !s->writable && !s->hup)
            return fail(L, "connect in progress");
        if (err == 0 && s->hup)
            err = ECONNREFUSED;
        if (err != 0) {
            s->error = err;
            return fail(L, errno_message(err));
        }
        s->connecting = 0;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* sock:send(data[, from]) -> bytes of data[from..] the kernel took now (0
 * when its buffer is full: wait "w"), or nil and a message. */
static int socket_l_send(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    lua_Integer from = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, from >= 1 && (size_t)from <= len + 1, 3, "position out of range");
    if (s->fd < 0)
        return fail(L, "closed");
    if (s->error)
        return fail(L, errno_message(s->error));
    if (s->connecting)
        return fail(L, "not connected");
    size_t off = (size_t)from - 1, sent = 0;
    while (off + sent < len) {
        ssize_t n = send(s->fd, data + off + sent, len - off - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->writable = 0;
            break;
        }
        s->error = n < 0 ? errno : EPIPE;
        return fail(L, errno_message(s->error));
    }
    lua_pushinteger(L, (lua_Integer)sent);
    return 1;
}

/* Whether a read may find something: data, the peer's close or an error. */
static int may_read(const ecs_socket *s)
{
    return (s->readable || s->hup) && !s->eof && !s->error;
}

/* Reads what the kernel has into the buffer, at most until `want` bytes are
 * buffered (0: as much as there is). 0, or -1 when out of memory or over
 * the limit. Sets eof, error, and readable (0 once the kernel's buffer was
 * found empty). */
static int fill(ecs_socket *s, size_t want)
{
    while (may_read(s) && (want == 0 || s->len < want)) {
        if (s->start > 0 && s->start + s->len + CHUNK > s->cap) {
            memmove(s->buf, s->buf + s->start, s->len);
            s->start = 0;
        }
        if (s->len + CHUNK > s->cap) {
            if (s->len + CHUNK > BUFFER_LIMIT)
                return -1;
            size_t cap = s->cap ? s->cap : CHUNK;
            while (cap < s->len + CHUNK)
                cap *= 2;
            char *p = realloc(s->buf, cap);
            if (p == NULL)
                return -1;
            s->buf = p;
            s->cap = cap;
        }
        size_t room = s->cap - s->start - s->len;
        ssize_t n = recv(s->fd, s->buf + s->start + s->len, room, 0);
        if (n > 0) {
            s->len += (size_t)n;
            /* A short read of a stream socket emptied the kernel's buffer:
             * what arrives next raises a new edge (after a hang-up, read on
             * to the end). */
            if ((size_t)n < room && !s->hup) {
                s->readable = 0;
                break;
            }
        } else if (n == 0) {
            s->eof = 1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->readable = 0;
            break;
        } else if (errno != EINTR) {
            s->error = errno;
        }
    }
    return 0;
}

/* Pushes and takes n buffered bytes. */
static void take(lua_State *L, ecs_socket *s, size_t n, size_t skip)
{
    lua_pushlstring(L, s->buf + s->start, n);
    s->start += n + skip;
    s->len -= n + skip;
    if (s->len == 0)
        s->start = 0;
}

/* Pushes a line without its CR characters (the "*l" of cosockets). */
static void take_line(lua_State *L, ecs_socket *s, size_t n)
{
    luaL_Buffer b;
    const char *p = s->buf + s->start;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\r')
            luaL_addchar(&b, p[i]);
    luaL_pushresult(&b);
    s->start += n + 1;
    s->len -= n + 1;
    if (s->len == 0)
        s->start = 0;
}

/* nil, message, and the buffered bytes (taken) as the partial result. */
static int fail_partial(lua_State *L, ecs_socket *s, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    take(L, s, s->len, 0);
    return 3;
}

/* sock:receive("*l" | n | "*a") -> the line (without CR and LF), n bytes,
 * or everything up to the peer's close; false when it has not all arrived
 * yet (wait "r" and ask again); or nil, a message ("closed", ...) and the
 * partial data, which is taken. */
static int socket_l_receive(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    int line = 0, all = 0;
    size_t want = 0;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, 2);
        luaL_argcheck(L, n >= 0 && n <= (lua_Number)BUFFER_LIMIT, 2, "size out of range");
        want = (size_t)n;
    } else {
        const char *pattern = luaL_optstring(L, 2, "*l");
        if (strcmp(pattern, "*l") == 0 || strcmp(pattern, "l") == 0)
            line = 1;
        else if (strcmp(pattern, "*a") == 0 || strcmp(pattern, "a") == 0)
            all = 1;
        else
            return luaL_argerror(L, 2, "pattern must be \"*l\", \"*a\" or a size");
    }
    if (s->fd < 0 && s->len == 0)
        return fail(L, "closed");
    if (s->connecting)
        return fail(L, "not connected");
    for (;;) {
        if (line) {
            const char *nl = s->len ? memchr(s->buf + s->start, '\n', s->len) : NULL;
            if (nl) {
                take_line(L, s, (size_t)(nl - (s->buf + s->start)));
                return 1;
            }
        } else if (!all && s->len >= want) {
            take(L, s, want, 0);
            return 1;
        }
        if (s->eof) {
            if (all) {
                take(L, s, s->len, 0);
                return 1;
            }
            return fail_partial(L, s, "closed");
        }
        if (s->error)
            return fail_partial(L, s, errno_message(s->error));
        if (s->fd < 0)
            return fail_partial(L, s, "closed");
        if (!may_read(s)) {
            lua_pushboolean(L, 0);
            return 1;
        }
        if (fill(s, line || all ? 0 : want) != 0)
            return fail_partial(L, s, "receive buffer limit (64 MB) exceeded or out of memory");
    }
}

/* sock:wait("r" | "w") -> id: run_once completes it as { id, socket = true }
 * once the socket may be read (or written), or has failed. A wait replaces
 * the socket's previous one. */
static int socket_l_wait(lua_State *L)
{
    static const char *const WHAT[] = { "r", "w", NULL };
    ecs_socket *s = check_socket(L);
    int what = luaL_checkoption(L, 2, NULL, WHAT) == 0 ? WAIT_READ : WAIT_WRITE;
    ecs_sockets *set = s->set;
    if (s->fd < 0 || set == NULL)
        return luaL_error(L, "wait: the socket is closed");
    drop_wait(s);
    /* Room in the ready queue for every wait that may complete. */
    size_t need = set->ready_count + (size_t)set->waiting + 1;
    if (need > set->ready_cap) {
        size_t cap = set->ready_cap ? set->ready_cap * 2 : 16;
        while (cap < need)
            cap *= 2;
        lua_Integer *p = realloc(set->ready, cap * sizeof *p);
        if (p == NULL)
            return luaL_error(L, "wait: out of memory");
        set->ready = p;
        set->ready_cap = cap;
    }
    s->wait = what;
    s->wait_id = ++*set->next_id;
    set->waiting++;
    lua_pushinteger(L, s->wait_id);
    if (wait_satisfied(s))
        complete(s); /* run_once hands it back at once */
    return 1;
}

/* sock:unwait(): the wait ends without completion (its time ran out). */
static int socket_l_unwait(lua_State *L)
{
    drop_wait(check_socket(L));
    return 0;
}

/* sock:alive() -> whether the connection can be used again: connected, not
 * closed by the peer, no failure, nothing unread. */
static int socket_l_alive(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    lua_pushboolean(L, s->fd >= 0 && !s->connecting && !s->hup && !s->eof && !s->error &&
                           !s->readable && s->len == 0);
    return 1;
}

/* sock:close(): it may connect again. */
static int socket_l_close(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    socket_shut(s);
    free(s->buf);
    s->buf = NULL;
    s->start = s->len = s->cap = 0;
    return 0;
}

static int socket_l_gc(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    socket_detach(s);
    free(s->buf);
    s->buf = NULL;
    return 0;
}

static int socket_l_tostring(lua_State *L)
{
    ecs_socket *s = check_socket(L);
    if (s->fd < 0)
        lua_pushliteral(L, "ecs.core.socket (closed)");
    else
        lua_pushfstring(L, "ecs.core.socket (fd %d%s)", s->fd, s->connecting ? ", connecting" : "");
    return 1;
}

int ecs_socket_new(lua_State *L, ecs_sockets *set)
{
    ecs_socket *s = ecs_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->set = set;
    s->next = set->all;
    if (set->all)
        set->all->prev = s;
    set->all = s;
    ecs_setmetatable(L, ECS_SOCKET_MT);
    return 1;
}

void ecs_socket_register(lua_State *L)
{
    static const luaL_Reg METHODS[] = {
        { "connect", socket_l_connect }, { "connected", socket_l_connected },
        { "send", socket_l_send },       { "receive", socket_l_receive },
        { "wait", socket_l_wait },       { "unwait", socket_l_unwait },
        { "alive", socket_l_alive },     { "close", socket_l_close },
        { NULL, NULL },
    };
    ecs_class(L, ECS_SOCKET_MT, METHODS, socket_l_gc, socket_l_tostring);
}
