# Thin wrapper: CMake builds, spec/run.sh tests. See README.md.
PREFIX ?= /usr/local
# lua5.4, or luajit for the LuaJIT/OpenResty paths (lib/lua/5.1, share/lua/5.1).
LUA_FLAVOR ?= lua5.4
MAKEFLAGS += --no-print-directory
BUILD_TYPE ?= RelWithDebInfo
CMAKE ?= cmake
ECS_REFERENCE_DIR ?= ../shared/reference

INSTALL_BUILD = $(if $(filter luajit,$(LUA_FLAVOR)),build-luajit,build)

.PHONY: all deps build build-luajit build-asan test test-lua54 luajit asan demo install bench \
        api-model check-reference rock-install clean fuzz fuzz-seeds

all: build

deps:
	@tools/install-deps

build: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@$(CMAKE) --build build -j2

build-luajit: deps
	@$(CMAKE) -S . -B build-luajit -DLUA_FLAVOR=luajit -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@$(CMAKE) --build build-luajit -j2

build-asan: deps
	@$(CMAKE) -S . -B build-asan -DECS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@$(CMAKE) --build build-asan -j2

# Every spec under Lua 5.4, then the C-core specs under LuaJIT; one summary line.
test: build build-luajit
	@tools/run-all-tests

# The C-core specs under LuaJIT 2.1 (the OpenResty build).
luajit: build-luajit
	@LUA=luajit BUILD=build-luajit NO_EMULATOR=1 spec/run.sh --tags core $$(grep -l "#core" spec/*_spec.lua)

# The whole suite with the module built under AddressSanitizer + UBSan.
asan: build-asan build-luajit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  LUA=build-asan/asan-lua BUILD=build-asan spec/run.sh

# The fleet workflow of examples/fleet.lua against a fresh emulator.
demo: build
	@tools/with-emulator --speed 0.5 lua5.4 examples/fleet.lua

# Benchmarks against the emulator; figures go to docs/BENCHMARKS.md by hand.
bench: build build-luajit build-asan
	@bench/run

# The modules, the emulator (bin/ecs-emulator) and the editor annotations under PREFIX.
install: $(INSTALL_BUILD)
	@$(CMAKE) --install $(INSTALL_BUILD) --prefix $(PREFIX)

# What the rockspec runs (luarocks make): configure, build and install in a
# temporary build folder, so the tree is left as it was. No package installs.
rock-install:
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	  $(CMAKE) -S . -B "$$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$(PREFIX)" -DCMAKE_C_FLAGS="$(CFLAGS)" \
	    -DLUA_INCDIR="$(LUA_INCDIR)" -DLUA_CMOD_DIR="$(LUA_CMOD_DIR)" -DLUA_LMOD_DIR="$(LUA_LMOD_DIR)" >/dev/null; \
	  $(CMAKE) --build "$$dir" -j2 >/dev/null; \
	  $(CMAKE) --install "$$dir" >/dev/null

# libFuzzer targets (fuzz/README.md): each for FUZZ_SECONDS (default 60) s;
# fuzz-seeds runs each over its committed seed corpus only (part of make test).
fuzz: deps
	@fuzz/run

fuzz-seeds: deps
	@fuzz/run --seeds

api-model:
	@cd tools && npm ci --no-audit --no-fund && node gen-api-model.js

# Re-extracts the facts of the reference docs; fails if spec/data/reference.lua is stale.
check-reference:
	@tools/extract-reference --check "$(ECS_REFERENCE_DIR)"

clean:
	@rm -rf build build-luajit build-asan build-fuzz
