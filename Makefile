# Thin wrapper around meson. `make demo` and `make test` install what is
# missing (Debian packages, as root), build, and run.

BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_TEST = meson test --print-errorlogs --num-processes 2

.PHONY: all deps test-deps build demo test unit asan valgrind crash check-format format bench clean

all: build

deps:
	@sh scripts/install-deps.sh build

test-deps:
	@sh scripts/install-deps.sh test

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	sh scripts/demo.sh $(BUILD)

# Every suite; ends with one line "N passed, N failed, N skipped".
test: test-deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@sh scripts/docker-up.sh $(BUILD)
	@$(MESON_TEST) -C $(BUILD); rc=$$?; \
	  python3 tests/summary.py $(BUILD)/meson-logs/testlog.json; exit $$rc

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

# The whole suite under ASan+UBSan (leaks included).
asan: test-deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	@sh scripts/docker-up.sh $(ASAN_BUILD)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON_TEST) -C $(ASAN_BUILD); rc=$$?; \
	  python3 tests/summary.py $(ASAN_BUILD)/meson-logs/testlog.json; exit $$rc

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
	rm -rf $(BUILD) $(ASAN_BUILD)
