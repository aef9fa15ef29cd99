# SPDX-License-Identifier: MIT
# alloy - the two commands: `make run` and `make test`. Both install what they
# need (scripts/deps.sh), configure, build and run.
JOBS    ?= 2
CMAKE   ?= cmake
BUILD   ?= build
GEN     := -G "Unix Makefiles"
comma   := ,

PREFIX  ?= /usr/local
# The build trees are make's children: no "Entering/Leaving directory" lines.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build run install test test-main test-asan test-tsan bench format clean

all: build

deps:
	@scripts/deps.sh

# configure+build one tree: $(call build_tree,dir,cmake-args)
define build_tree
	@$(CMAKE) -S . -B $(1) $(GEN) $(2) >/dev/null
	@$(CMAKE) --build $(1) -j $(JOBS)
endef

build: deps
	$(call build_tree,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)

# make run: build only the three programs it runs (progress lines, no logs),
# run each under a label, then say what to do next.
RUN_TARGETS := quickstart request_server bench_heap
run: deps
	@$(CMAKE) -S . -B $(BUILD) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build $(BUILD) -j $(JOBS) --target $(RUN_TARGETS)
	@echo
	@echo "== 1/3 examples/quickstart.c: the routed API (alloy_malloc & co.) and its counters"
	@$(BUILD)/examples/quickstart
	@echo
	@echo "== 2/3 examples/request_server.c: an arena per request, the current allocator, a pool"
	@$(BUILD)/examples/request_server
	@echo
	@echo "== 3/3 bench_heap --quick: ns per malloc+free pair, each backend direct and through alloy"
	@$(BUILD)/bench/bench_heap --quick
	@echo
	@echo "What next:"
	@echo "  link it:  make install, then cc app.c \$$(pkg-config --cflags --libs alloy)  (README, \"Install\")"
	@echo "  read:     docs/api.md (every call), docs/allocators.md (arenas, pools, scopes), man 3 alloy"
	@echo "  debug:    ALLOY_DEBUG=1 ./your-program  reports leaks and double frees with stacks (docs/debug.md)"

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the libraries, headers,
# CMake package, pkg-config files, man page, docs and examples (README, "Install").
install: deps
	@$(CMAKE) -S . -B $(BUILD) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build $(BUILD) -j $(JOBS) --target alloy alloy_static alloy_override
	@DESTDIR="$(DESTDIR)" $(CMAKE) --install $(BUILD) --prefix "$(PREFIX)" >/dev/null
	@libdir=$$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' $(BUILD)/CMakeCache.txt); \
	 echo "installed under $(DESTDIR)$(PREFIX): $$libdir/ (libraries, pkgconfig/, cmake/alloy/), include/, share/man/man3/alloy.3, share/doc/alloy/"; \
	 echo "use it: PKG_CONFIG_PATH=$(PREFIX)/$$libdir/pkgconfig pkg-config --cflags --libs alloy"

test: deps test-main test-asan test-tsan
	@echo "make test: all suites passed"

test-main: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	$(call build_tree,build-asan,-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DALLOY_BUILD_BENCH=OFF "-DCMAKE_C_FLAGS=-fsanitize=address$(comma)undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer")
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 ctest --output-on-failure -j $(JOBS) -LE no-asan

# TSan: the default backend is libc, i.e. TSan's own malloc, which models block
# reuse between threads exactly; the other backends are not instrumented (see
# tests/stress/CMakeLists.txt). Per-backend suites still run every backend.
test-tsan: deps
	$(call build_tree,build-tsan,-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DALLOY_BUILD_BENCH=OFF -DALLOY_BACKEND=libc "-DCMAKE_C_FLAGS=-fsanitize=thread")
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:allocator_may_return_null=1 ctest --output-on-failure -j $(JOBS) -LE no-tsan

# Every benchmark program, one after another; each prints its own table of
# medians and ratios (docs/BENCHMARKS.md keeps the latest, with the commands).
bench: build
	@$(BUILD)/bench/bench_heap
	@$(BUILD)/bench/bench_alloc
	@$(BUILD)/bench/bench_smr
	@$(BUILD)/bench/bench_debug

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp')

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

# ---- fuzzing: the allocator fuzz target (tests/fuzz/fuzz_alloc.c)
# under libFuzzer with ASan+UBSan for FUZZ_TIME seconds, liballoy itself
# instrumented for coverage (fuzzer-no-link); `make test` runs a
# short fixed-seed pass of the same target as the ctest entry fuzz_alloc.libfuzzer.
FUZZ_TIME ?= 300
.PHONY: fuzz
fuzz: deps
	@$(CMAKE) -S . -B build-fuzz $(GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLOY_BUILD_BENCH=OFF -DALLOY_BUILD_EXAMPLES=OFF "-DCMAKE_C_FLAGS=-fsanitize=address$(comma)undefined$(comma)fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer" >/dev/null
	@$(CMAKE) --build build-fuzz -j $(JOBS) --target fuzz_alloc
	@mkdir -p build-fuzz/corpus-alloc
	cd build-fuzz && ASAN_OPTIONS=allocator_may_return_null=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp tests/alloc/fuzz_alloc -max_total_time=$(FUZZ_TIME) -max_len=4096 -print_final_stats=1 corpus-alloc
