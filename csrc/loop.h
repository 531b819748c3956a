/* The event loop: libcurl multi driven by epoll (curl_multi_socket_action),
 * one CURLSH share for DNS, TLS sessions and connections, the timers of
 * timers.h, the pooled transfers of transfers.h and the stream sockets of
 * socket.h. Completions are collected and handed to Lua from run_once, never
 * from inside a libcurl callback. */
#ifndef ECS_LOOP_H
#define ECS_LOOP_H

#include "compat.h"

#define ECS_LOOP_MT "ecs.core.loop"

/* ecs.loop.new() -> loop with :submit, :timer, :socket, :run_once, :pending,
 * :now, :trim and :close (see loop.c); ecs.loop.now() -> monotonic seconds. */
int ecs_l_loop_new(lua_State *L);
int luaopen_ecs_loop(lua_State *L);

#endif
