/* The event loop: libcurl multi driven by epoll (curl_multi_socket_action),
 * a timer heap for sleeps, one CURLSH share for DNS, TLS sessions and
 * connections. Completions are collected and handed to Lua from run_once,
 * never from inside a libcurl callback. */
#ifndef ECS_LOOP_H
#define ECS_LOOP_H

#include "compat.h"

#define ECS_LOOP_MT "ecs.core.loop"

/* core.loop() -> loop */
int ecs_l_loop_new(lua_State *L);
/* core.now() -> monotonic seconds (also loop:now()) */
int ecs_l_now(lua_State *L);
/* Registers the loop metatable; called once from luaopen_ecs_core. */
void ecs_loop_register(lua_State *L);

#endif
