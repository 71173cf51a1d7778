# Drives CMake, as neovim's top-level Makefile does.  Run as root for `run`
# and `test` (the agent loads BPF; the kernel tests create namespaces).
#
#   make            build into build/
#   make run        build, then start the agent in the foreground
#   make test       build with -Werror and run every test (unit + kernel e2e)
#   make asan       the same under AddressSanitizer + UBSan, in build-asan/
#   make fuzz       build the libFuzzer harnesses with clang in build-fuzz/, run
#                   each for FUZZ_SECONDS (20); fails on any crash
#   make bench      build, then run the benchmarks under bench/
#   make install    install the binary, the systemd unit, the settings file (kept
#                   when present) and the README; honours DESTDIR and
#                   CMAKE_INSTALL_PREFIX (default /usr/local)
#   make package    build build/jcode-watcher_<version>_<arch>.deb (CPack)

BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

FUZZ_SECONDS ?= 20

.PHONY: all build run test asan fuzz bench install package clean

all: build

build:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/jcode-watcher $(ARGS)

test:
	$(MAKE) build CMAKE_FLAGS="-DJCW_WERROR=ON $(CMAKE_FLAGS)"
	cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DJCW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

fuzz:
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	bench/run.sh $(BUILD)

install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) $(if $(CMAKE_INSTALL_PREFIX),--prefix "$(CMAKE_INSTALL_PREFIX)")

package: build
	cd $(BUILD) && cpack -G DEB

clean:
	rm -rf build build-asan build-fuzz
