# Thin wrapper over CMake. See README.md.
BUILD_DIR      ?= build
TEST_BUILD_DIR ?= build-test
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS   ?= 60
JOBS           ?= $(shell nproc)
SEEDS          ?= 20000
SEED_START     ?= 1
DURATION       ?= 120
SEED           ?= 1
RUNS           ?= 1
FLUSH          ?= always

SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: all deps build test fuzz fuzz-build format lint run sim clean cluster chaos

all: build

deps:
	@bash scripts/install-deps.sh

CONFIGURE_RELEASE = cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: deps
	@$(CONFIGURE_RELEASE)
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps
	@cmake -S . -B $(TEST_BUILD_DIR) -DCMAKE_BUILD_TYPE=Debug -DRINGLOG_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD_DIR) -j $(JOBS)
	@cd $(TEST_BUILD_DIR) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) --timeout 600

# One broker in the foreground on the defaults (127.0.0.1:7171, metrics :7172, ./data).
# Builds only ringlogd and the ringlog CLI the quickstart uses next, not the
# tests, simulator and benchmarks (`make build` builds everything).
run: deps
	@$(CONFIGURE_RELEASE)
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target ringlogd ringlog
	@mkdir -p data
	@exec $(BUILD_DIR)/bin/ringlogd --data-dir ./data $(ARGS)

# libFuzzer targets (clang, ASan+UBSan, -O1 with assertions on), all of them
# in parallel on JOBS cores for FUZZ_SECONDS each; FUZZ_SECONDS=0 replays the
# corpora and findings once (CI). Ends with "fuzz: N targets, E executions,
# F findings". See docs/TESTING.md.
fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 \
	  -DRINGLOG_FUZZ=ON -DRINGLOG_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzz_all -- --no-print-directory

fuzz: fuzz-build
	@bash scripts/run-fuzz.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS) $(JOBS)

# Deterministic replication simulation: seeds SEED_START..SEED_START+SEEDS-1
# spread over JOBS processes. Prints each failing seed, then exactly
# "sim: N seeds, F failures". Replay one with tests/sim/replay SEED.
sim: deps
	@$(CONFIGURE_RELEASE)
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target ringlog-sim >/dev/null
	@$(BUILD_DIR)/bin/ringlog-sim --start $(SEED_START) --seeds $(SEEDS) --jobs $(JOBS) $(SIM_ARGS)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

lint:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -I proto -I broker -I client/include \
	  -I replication proto broker client replication bench

clean:
	@rm -rf $(BUILD_DIR) $(TEST_BUILD_DIR) $(FUZZ_BUILD_DIR)

# Three brokers on 127.0.0.1:7171, :7181, :7191 (metrics on the port + 1),
# data in ./data/node1..3, in the foreground until Ctrl-C stops them all.
# ARGS go to every broker (e.g. ARGS='--flush none').
cluster: deps
	@$(CONFIGURE_RELEASE)
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target ringlogd ringlog
	@exec bash scripts/cluster.sh $(BUILD_DIR)/bin/ringlogd ./data $(ARGS)

# The chaos suite (tests/chaos, docs/TESTING.md): three ASan+UBSan brokers,
# producers and consumers under a seeded nemesis for DURATION seconds, then
# the checks; seeds SEED..SEED+RUNS-1, flush policy FLUSH (always|none).
# Prints one "chaos: seed S, D s, N acked, M faults, F failures" line per
# run; exits non-zero when any run failed (its data and logs are kept).
chaos: deps
	@cmake -S . -B $(TEST_BUILD_DIR) -DCMAKE_BUILD_TYPE=Debug -DRINGLOG_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD_DIR) -j $(JOBS) --target ringlogd ringlog-chaos >/dev/null
	@$(SAN_ENV) $(TEST_BUILD_DIR)/bin/ringlog-chaos --seed $(SEED) --duration $(DURATION) \
	  --runs $(RUNS) --flush $(FLUSH) $(CHAOS_ARGS)
