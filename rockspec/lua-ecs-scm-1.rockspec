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
external_dependencies = {
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
  CURL = { header = "curl/curl.h", library = "curl" },
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LUA_CMOD_DIR = "$(LIBDIR)",
    LUA_LMOD_DIR = "$(LUADIR)",
  },
}
