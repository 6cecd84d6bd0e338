# Thin wrapper around meson. `make demo`, `make test` and `make fuzz` install
# what is missing (Debian packages, as root), build, and run. `make help` lists
# the targets.

BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZERS = config compose envfile proc
MESON_TEST = meson test --print-errorlogs --num-processes 2

.PHONY: all help deps test-deps fuzz-deps build demo test unit asan valgrind crash fuzz check-format \
	format bench clean

all: build

help:
	@echo "make build          build berth and berth-shim in $(BUILD)/"
	@echo "make demo           build and run the demo"
	@echo "make test           every suite (installs what is missing)"
	@echo "make asan           every suite under ASan+UBSan in $(ASAN_BUILD)/"
	@echo "make valgrind       the core commands under valgrind"
	@echo "make fuzz           each fuzzer of tests/fuzz for FUZZ_SECONDS (default 60) with"
	@echo "                    clang and libFuzzer in $(FUZZ_BUILD)/; fails on a crash"
	@echo "make check-format   clang-format check; make format rewrites"
	@echo "make bench          the benchmarks"
	@echo "make clean          remove the build directories"

deps:
	@sh scripts/install-deps.sh build

test-deps:
	@sh scripts/install-deps.sh test

fuzz-deps:
	@sh scripts/install-deps.sh fuzz

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	@sh scripts/install-deps.sh demo
	sh scripts/demo.sh $(BUILD)

# Every suite; ends with one line "N passed, N failed, N skipped".
test: test-deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@sh scripts/docker-up.sh $(BUILD)
	@sh scripts/test-ports.sh reserve $(BUILD)
	@$(MESON_TEST) -C $(BUILD); rc=$$?; \
	  sh scripts/test-ports.sh release $(BUILD); \
	  python3 tests/summary.py $(BUILD)/meson-logs/testlog.json; exit $$rc

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

# The whole suite under ASan+UBSan (leaks included).
asan: test-deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	@sh scripts/docker-up.sh $(ASAN_BUILD)
	@sh scripts/test-ports.sh reserve $(ASAN_BUILD)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON_TEST) -C $(ASAN_BUILD); rc=$$?; \
	  sh scripts/test-ports.sh release $(ASAN_BUILD); \
	  python3 tests/summary.py $(ASAN_BUILD)/meson-logs/testlog.json; exit $$rc

$(FUZZ_BUILD)/build.ninja: | fuzz-deps
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

# Each libFuzzer harness for FUZZ_SECONDS on a copy of its corpus
# (tests/fuzz/corpus/NAME/); fails on a crash, leak, hang or blow-up.
fuzz: fuzz-deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $(FUZZERS:%=tests/fuzz/fuzz_%)
	@sh scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZERS)

# The core commands under valgrind: no leak, no error.
valgrind: test-deps build
	meson test -C $(BUILD) --print-errorlogs t9000-valgrind

# The crash-injection suite with full counts: 100 random kills of up and of
# down for each recovery (plain down, and up), every pause point.
CRASH_RUNS ?= 100
crash: test-deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	CRASH_RUNS=$(CRASH_RUNS) CRASH_PORT_BASE=27600 meson test -C $(BUILD) --print-errorlogs --timeout-multiplier 10 \
	  t1450-crash-inject

check-format:
	@bad=$$(find src tests bench -name '*.[ch]' | xargs clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true); \
	  if [ "$$bad" != 0 ]; then echo "clang-format: $$bad places differ; run make format"; exit 1; fi

format:
	find src tests bench -name '*.[ch]' | xargs clang-format -i

bench: build
	sh bench/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
