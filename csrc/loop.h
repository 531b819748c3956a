/* The event loop: libcurl multi driven by epoll (curl_multi_socket_action),
 * a timer heap for sleeps, one CURLSH share for DNS, TLS sessions and
 * connections. Completions are collected and handed to Lua from run_once,
 * never from inside a libcurl callback. */
#ifndef ECS_LOOP_H
#define ECS_LOOP_H

#include "compat.h"

#define ECS_LOOP_MT "ecs.core.loop"

/* The module ecs.loop: new() -> loop, now() -> monotonic seconds. */
int ecs_l_loop_new(lua_State *L);
int luaopen_ecs_loop(lua_State *L);

#endif
