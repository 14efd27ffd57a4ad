# Thin wrapper over scripts/ and CMake. `make run` and `make test` work on a fresh Debian 12.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
CONFIG ?= examples/Dwaarfile

.PHONY: all deps build run test bench fuzz fmt fmt-check clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DDWAAR_SANITIZE= -DDWAAR_FUZZ=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@scripts/run.sh $(BUILD)/dwaar-ingress/dwaar $(CONFIG)

# Unit and integration tests on an ASan+UBSan build with warnings as errors.
test: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDWAAR_WERROR=ON \
		-DDWAAR_SANITIZE=address,undefined >/dev/null
	@cmake --build $(TEST_BUILD) -j$(JOBS)
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS)

bench: build
	@scripts/bench.sh $(BUILD)

# Each libFuzzer harness for FUZZ_SECONDS (clang, ASan+UBSan); new corpus entries are kept.
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDWAAR_FUZZ=ON -DDWAAR_TESTS=OFF \
		-DDWAAR_SANITIZE=address,undefined >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fmt:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

fmt-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
