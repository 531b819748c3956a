rockspec_format = "3.0"
package = "lua-ecs"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-ecs/lua-ecs.git",
}
description = {
  summary = "Alibaba Cloud ECS API toolkit for Lua: C signing core, coroutine-friendly client",
  detailed = [[
lua-ecs calls any action of the Alibaba Cloud ECS API (2014-05-26) from Lua.
A C core does percent-encoding, parameter flattening and request signing
(v1 HMAC-SHA1 and v3 ACS3-HMAC-SHA256) with OpenSSL.
]],
  homepage = "https://github.com/lua-ecs/lua-ecs",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson >= 2.1",
}
-- OpenSSL (libcrypto) and libcurl are found by CMake through pkg-config, which
-- knows Debian's multiarch include folders (curl/curl.h is not in /usr/include).
build = {
  -- `make rock-install` configures, builds and installs in a temporary folder,
  -- so the source tree is left without build files.
  type = "make",
  build_pass = false,
  install_target = "rock-install",
  variables = {
    CFLAGS = "$(CFLAGS)",
    PREFIX = "$(PREFIX)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LUA_CMOD_DIR = "$(LIBDIR)",
    LUA_LMOD_DIR = "$(LUADIR)",
  },
}
