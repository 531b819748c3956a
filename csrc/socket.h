/* Stream sockets on the loop (TCP or unix), for clients of other services
 * (the Redis rate store) beside libcurl's transfers: a non-blocking connect,
 * writes as far as the kernel takes them, reads into a buffer of the socket,
 * and waits for readiness that run_once reports as completions { id, socket
 * = true }, as it reports transfers and timers. The file descriptors sit in
 * the loop's epoll set, edge-triggered, registered once per connection. */
#ifndef ECS_SOCKET_H
#define ECS_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define ECS_SOCKET_MT "ecs.core.socket"

typedef struct ecs_socket ecs_socket;

/* The sockets of one loop. */
typedef struct {
    int epfd;                 /* the loop's */
    lua_Integer *next_id;     /* the loop's id counter (ids of transfers, timers, waits) */
    ecs_socket *all;          /* every socket made by this loop, connected or not */
    ecs_socket **by_fd;       /* fd -> socket of this loop, or NULL */
    size_t cap;
    lua_Integer *ready;       /* ids of waits that completed, oldest first */
    size_t ready_count, ready_cap;
    int waiting;              /* waits not completed yet */
} ecs_sockets;

/* Sets up an empty set for the loop's epoll fd and id counter. */
void ecs_sockets_init(ecs_sockets *set, int epfd, lua_Integer *next_id);
/* The socket of fd in this set, or NULL (then fd is libcurl's). */
static inline ecs_socket *ecs_sockets_find(const ecs_sockets *set, int fd)
{
    return fd >= 0 && (size_t)fd < set->cap ? set->by_fd[fd] : NULL;
}
/* Records an epoll event of s; completes its wait when it is satisfied. */
void ecs_socket_event(ecs_sockets *set, ecs_socket *s, uint32_t events);
/* Pushes the next completion as { id, socket = true }; 0 when none is left. */
int ecs_sockets_push_ready(lua_State *L, ecs_sockets *set);
/* Closes every socket of the set (their userdata stay, closed) and frees it. */
void ecs_sockets_close(ecs_sockets *set);

/* loop:socket() -> a socket of this loop, not connected (see socket.c). */
int ecs_socket_new(lua_State *L, ecs_sockets *set);
/* Registers the socket metatable; called once from luaopen_ecs_loop. */
void ecs_socket_register(lua_State *L);

#endif
