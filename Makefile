# auditwatch - build, test, fuzz, bench.
#
#   make            build build/auditwatch
#   make deps       install missing Debian packages (idempotent, quiet when done)
#   make test       deps + unit/golden/conformance tests + the same under
#                   ASan/UBSan + a short fuzz smoke run
#   make asan       the test suite under AddressSanitizer + UBSan
#   make fuzz       bounded libFuzzer runs of every fuzz target (FUZZ_SECONDS)
#   make demo       deps + build + replay the bundled demo data through the shipped rules
#   make bench-decode   decode benchmark against cat, sshguard and jansson
#   make bench-replay   detection throughput and window memory
#   make bench-redis    Redis store throughput, round trips and memory
#   make bench-kafka    the stream job on a real broker: throughput against kcat, latency
#   make clean
#
# BUILD selects the output folder so sanitizer builds never mix objects
# with the release build.

CC       ?= cc
BUILD    ?= build
PKGS     := rdkafka jansson libpcre2-8 hiredis yaml-0.1 libmicrohttpd
OPTFLAGS ?= -O2
SANFLAGS ?=
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(OPTFLAGS) $(SANFLAGS) \
               -Iinclude -Isrc
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lm

LIB_SRCS  := $(filter-out src/main.c,$(wildcard src/*.c)) $(wildcard detectors/*.c)
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60

DEB_PACKAGES := build-essential pkg-config librdkafka-dev libjansson-dev libpcre2-dev \
                libhiredis-dev libyaml-dev libmicrohttpd-dev libcriterion-dev redis-server clang \
                libclang-rt-14-dev sshguard jq kcat curl python3 openjdk-17-jre-headless maven

.PHONY: all deps test check asan fuzz fuzz-smoke demo bench-decode bench-replay bench-redis bench-kafka clean

all: $(BUILD)/auditwatch

$(BUILD)/obj/%.o: %.c $(wildcard include/auditwatch/*.h) $(wildcard src/*.h) $(wildcard detectors/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libauditwatch.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/auditwatch: $(BUILD)/obj/src/main.o $(BUILD)/libauditwatch.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS_ALL) $(LDFLAGS)

$(BUILD)/tests/%: tests/%.c tests/test_util.h tests/redis_server.h $(BUILD)/libauditwatch.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libauditwatch.a $(LDLIBS_ALL) -lcriterion $(LDFLAGS)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

# check: run the test binaries of $(BUILD) (used by test and asan).
check: $(BUILD)/auditwatch $(BUILD)/gen $(TEST_BINS)
	@AW_BIN=$(BUILD)/auditwatch AW_GEN=$(BUILD)/gen tests/services.sh tests/run_tests.sh $(TEST_BINS)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory fuzz-smoke

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang OPTFLAGS=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" check

build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard include/auditwatch/*.h) $(wildcard src/*.h) $(wildcard tests/fuzz/*.h)
	@mkdir -p build-fuzz
	clang $(CFLAGS_BASE) $(PKG_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $@ $< $(LIB_SRCS) $(LDLIBS_ALL)

fuzz: $(FUZZ_BINS)
	@tests/fuzz/run_fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@tests/fuzz/run_fuzz.sh 15 $(FUZZ_BINS)

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh $(BUILD)/auditwatch

bench-decode: deps
	@$(MAKE) --no-print-directory all
	@bench/bench_decode.sh $(BUILD)/auditwatch

bench-replay: deps
	@$(MAKE) --no-print-directory all
	@bench/bench_replay.sh $(BUILD)/auditwatch

bench-redis: deps
	@$(MAKE) --no-print-directory all
	@bench/bench_redis.sh $(BUILD)/auditwatch

bench-kafka: deps
	@$(MAKE) --no-print-directory all
	@tests/services.sh bench/bench_kafka.sh $(BUILD)/auditwatch

# The deterministic data generator (labeled scenarios, demo data, benchmarks).
$(BUILD)/gen: bench/gen.c $(wildcard bench/scenario*.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ bench/gen.c

clean:
	rm -rf build build-asan build-fuzz bench/out
