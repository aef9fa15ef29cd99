# alloy - the two commands: `make run` and `make test`. Both install what they
# need (scripts/deps.sh), configure, build and run.
JOBS    ?= 2
CMAKE   ?= cmake
BUILD   ?= build
GEN     := -G "Unix Makefiles"
comma   := ,

.PHONY: all deps build run test test-main test-nostats test-asan test-tsan bench format clean

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

run: build
	@$(BUILD)/examples/quickstart
	@$(BUILD)/bench/bench_heap --quick

test: deps test-main test-nostats test-asan test-tsan
	@echo "make test: all suites passed"

test-main: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-nostats: deps
	$(call build_tree,build-nostats,-DALLOY_STATS=OFF -DALLOY_BUILD_BENCH=OFF)
	cd build-nostats && ctest --output-on-failure -j $(JOBS)

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
	rm -rf $(BUILD) build-nostats build-asan build-tsan build-fuzz

# ---- fuzzing (issue 3): the allocator fuzz target (tests/fuzz/fuzz_alloc.c)
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
