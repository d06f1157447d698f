# Builds the injected library, the leakwatch command, the fixtures and the tests.
#   make            library and command
#   make check      install what is missing, build, run every test
#   make demo       install what is missing, build, run leakwatch on the demo program
#   make fuzz       libFuzzer harnesses of the dump, suppression and baseline readers (clang)
#   make bench      performance comparison against plain, heaptrack, valgrind and LeakSanitizer
#   make install PREFIX=/usr/local   (DESTDIR too); make uninstall the same way

PREFIX   ?= /usr/local
CC       ?= cc
CXX      ?= c++
B        := build

WARN     := -Wall -Wextra -Wpedantic -Werror
# -MMD -MP: every object gets a dependency file, so a header change rebuilds what includes it and nothing else.
BASE     := -std=c11 -D_GNU_SOURCE $(WARN) -g -MMD -MP
OPT      := -O2
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_CFLAGS  := $(BASE) $(OPT) -fPIC -fvisibility=hidden -fno-strict-aliasing -ftls-model=initial-exec \
               -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
LIB_LDFLAGS := -shared -Wl,--version-script=preload/exports.map -Wl,-z,now -Wl,-z,nodelete
LIB_LIBS    := -lunwind -ldl -lpthread

CLI_PKGS    := libdw jansson ncursesw libprotobuf-c zlib
# $(B)/gen holds generated sources: the pprof format's protobuf code (report/proto/profile.proto).
GEN         := $(B)/gen
CLI_CFLAGS  := $(BASE) $(OPT) -I$(GEN) $(shell pkg-config --cflags $(CLI_PKGS))
CLI_LIBS    := $(shell pkg-config --libs $(CLI_PKGS)) -lm -pthread

CHECK_CFLAGS := $(shell pkg-config --cflags check)
CHECK_LIBS   := $(shell pkg-config --libs check)

TRACKER_SRC := $(wildcard tracker/*.c)
PRELOAD_SRC := $(wildcard preload/*.c)
REPORT_SRC  := $(filter-out report/main.c,$(wildcard report/*.c))

PROTO_C     := $(GEN)/proto/profile.pb-c.c
PROTO_H     := $(GEN)/proto/profile.pb-c.h

LIB_OBJ     := $(patsubst %.c,$(B)/lib-obj/%.o,$(TRACKER_SRC) $(PRELOAD_SRC))
CLI_OBJ     := $(patsubst %.c,$(B)/cli-obj/%.o,$(REPORT_SRC) report/main.c) $(B)/cli-obj/gen/profile.pb-c.o
# Sanitizer builds of tracker/ and report/ for the unit tests.
TRK_SAN_OBJ := $(patsubst %.c,$(B)/san-obj/%.o,$(TRACKER_SRC))
REP_SAN_OBJ := $(patsubst %.c,$(B)/san-obj/%.o,$(REPORT_SRC)) $(B)/san-obj/gen/profile.pb-c.o

LIB := $(B)/lib/libleakwatch.so
CLI := $(B)/bin/leakwatch

UNIT_TRK   := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/tracker_*.c))
UNIT_REP   := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/report_*.c))
FIX_C      := $(patsubst tests/fixtures/%.c,$(B)/tests/fixtures/%,$(wildcard tests/fixtures/*.c))
FIX_CXX    := $(patsubst tests/fixtures/%.cc,$(B)/tests/fixtures/%,$(wildcard tests/fixtures/*.cc))
FIX_SO     := $(patsubst tests/fixtures/lib%.so.c,$(B)/tests/fixtures/lib%.so,$(wildcard tests/fixtures/lib*.so.c))
INTEG      := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(wildcard tests/integration/test_*.c))
INTEG_HELP := $(filter-out $(wildcard tests/integration/test_*.c),$(wildcard tests/integration/*.c))
DEMO       := $(B)/demo/demo

.PHONY: all deps check unit integration demo bench install uninstall clean tests-build fuzz fuzz-run
# Objects of the sanitizer builds are only prerequisites of the tests: keep them between runs.
.SECONDARY:
all: $(LIB) $(CLI)

deps:
	@sh scripts/install-deps

# The boundary: preload/ sees only boundary/lw_tracker.h of the tracker, never tracker/'s own headers.
$(B)/lib-obj/tracker/%.o: tracker/%.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -Itracker -Iboundary -c $< -o $@

$(B)/lib-obj/preload/%.o: preload/%.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -Ipreload -Iboundary -c $< -o $@

$(LIB): $(LIB_OBJ) preload/exports.map
	@mkdir -p $(dir $@)
	$(CC) $(LIB_LDFLAGS) -o $@ $(LIB_OBJ) $(LIB_LIBS)

$(B)/cli-obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -Ireport -c $< -o $@

$(PROTO_C) $(PROTO_H) &: report/proto/profile.proto
	@mkdir -p $(dir $@)
	protoc-c --c_out=$(GEN)/proto --proto_path=report/proto $<

# The generated code is compiled as protoc-c writes it, in each build of report/.
$(B)/cli-obj/gen/%.o: $(GEN)/proto/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -c $< -o $@

$(B)/san-obj/gen/%.o: $(GEN)/proto/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -O1 $(SAN) -c $< -o $@

$(B)/fuzz-obj/gen/%.o: $(GEN)/proto/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

# The first build has no dependency files yet: what includes the generated header waits for it.
$(B)/cli-obj/report/render_pprof.o $(B)/san-obj/report/render_pprof.o $(B)/fuzz-obj/report/render_pprof.o: $(PROTO_H)

$(CLI): $(CLI_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CLI_OBJ) $(CLI_LIBS)

$(B)/san-obj/tracker/%.o: tracker/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -O1 $(SAN) -fPIC -Itracker -Iboundary -c $< -o $@

$(B)/san-obj/report/%.o: report/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -O1 $(SAN) -Ireport -c $< -o $@

$(B)/tests/unit/tracker_%: tests/unit/tracker_%.c $(TRK_SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -O1 $(SAN) $(CHECK_CFLAGS) -Itracker -Iboundary -o $@ $< $(TRK_SAN_OBJ) $(LIB_LIBS) -ljansson $(CHECK_LIBS)

$(B)/tests/unit/report_%: tests/unit/report_%.c $(REP_SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -O1 $(SAN) $(CHECK_CFLAGS) -Ireport -o $@ $< $(REP_SAN_OBJ) $(CLI_LIBS) $(CHECK_LIBS)

# Fixtures are built at -O0 so that the compiler keeps every allocation whose result is unused.
FIX_FLAGS := -O0 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-unused-result -Iinclude
$(B)/tests/fixtures/lib%.so: tests/fixtures/lib%.so.c
	@mkdir -p $(dir $@)
	$(CC) $(FIX_FLAGS) -D_GNU_SOURCE -fPIC -shared -o $@ $<
$(B)/tests/fixtures/%: tests/fixtures/%.c $(FIX_SO) $(wildcard tests/fixtures/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(FIX_FLAGS) -std=gnu11 -D_GNU_SOURCE -o $@ $< -L$(B)/tests/fixtures -Wl,-rpath,'$$ORIGIN' \
	    $$(sed -n 's|^// link: *||p' $<) -lpthread -lrt
$(B)/tests/fixtures/%: tests/fixtures/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(FIX_FLAGS) -o $@ $<

$(B)/tests/integration/%: tests/integration/%.c $(INTEG_HELP) $(wildcard tests/integration/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -O1 $(CHECK_CFLAGS) $(shell pkg-config --cflags jansson) -Itests/integration -o $@ $< \
	    $(INTEG_HELP) $(shell pkg-config --libs jansson) $(CHECK_LIBS)

# libFuzzer harnesses (tests/fuzz/fuzz_NAME.c), built with clang against the report sources; `make check` runs
# each for FUZZ_SECONDS on a temporary copy of its corpus (tests/fuzz/corpus/NAME/) and fails on a crash.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_FLAGS   := -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer -I$(GEN) $(shell pkg-config --cflags $(CLI_PKGS))
FUZZ_OBJ     := $(patsubst %.c,$(B)/fuzz-obj/%.o,$(REPORT_SRC)) $(B)/fuzz-obj/gen/profile.pb-c.o
FUZZERS      := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

$(B)/fuzz-obj/report/%.o: report/%.c $(wildcard report/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -Ireport -c $< -o $@

$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -Ireport -o $@ $< $(FUZZ_OBJ) $(CLI_LIBS)

fuzz: $(FUZZERS)

fuzz-run: fuzz
	@sh tests/fuzz/run $(FUZZ_SECONDS) $(FUZZERS)

# The benchmark's workload, also run by the verification test.
WORKLOAD := $(B)/bench/workload
$(WORKLOAD): bench/workload.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Werror -O2 -g -pthread -o $@ $<

$(DEMO): demo/demo.c
	@mkdir -p $(dir $@)
	$(CC) -O0 -g -Wall -Wextra -Werror -o $@ $<

unit: $(UNIT_TRK) $(UNIT_REP)
	@sh scripts/run-tests unit $(UNIT_TRK) $(UNIT_REP)

integration: all $(FIX_C) $(FIX_CXX) $(FIX_SO) $(INTEG)
	@sh scripts/run-tests integration $(INTEG)

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory tests-build
	@sh scripts/run-tests all $(UNIT_TRK) $(UNIT_REP) $(INTEG)
	@$(MAKE) --no-print-directory fuzz-run

tests-build: $(UNIT_TRK) $(UNIT_REP) $(FIX_C) $(FIX_CXX) $(FIX_SO) $(INTEG) $(DEMO) $(WORKLOAD)

demo: deps
	@$(MAKE) --no-print-directory all $(DEMO)
	$(CLI) run -- $(DEMO); true

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run

# Every installed file, relative to $(DESTDIR)$(PREFIX): `make uninstall` removes exactly these.
INSTALLED := bin/leakwatch lib/leakwatch/libleakwatch.so share/doc/leakwatch/README.md share/doc/leakwatch/FORMAT.md \
             share/man/man1/leakwatch.1 share/man/man7/leakwatch.7 share/bash-completion/completions/leakwatch \
             include/leakwatch/leakwatch.h lib/pkgconfig/leakwatch.pc

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/leakwatch $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/leakwatch
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/leakwatch/libleakwatch.so
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/leakwatch
	install -m 644 README.md docs/FORMAT.md $(DESTDIR)$(PREFIX)/share/doc/leakwatch/
	install -D -m 644 docs/leakwatch.1 $(DESTDIR)$(PREFIX)/share/man/man1/leakwatch.1
	install -D -m 644 include/leakwatch/leakwatch.h $(DESTDIR)$(PREFIX)/include/leakwatch/leakwatch.h
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib/leakwatch' '' \
	    'Name: leakwatch' 'Description: What a program tells leakwatch (leakwatch.h); no link dependency' \
	    'Version: 1' 'Cflags: -I$${includedir}' 'Libs:' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/leakwatch.pc
	install -D -m 644 docs/leakwatch.7 $(DESTDIR)$(PREFIX)/share/man/man7/leakwatch.7
	install -D -m 644 scripts/leakwatch.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/leakwatch

# Removes what install wrote, and the directories of leakwatch's own that are left empty.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	-rmdir $(DESTDIR)$(PREFIX)/lib/leakwatch $(DESTDIR)$(PREFIX)/share/doc/leakwatch \
	    $(DESTDIR)$(PREFIX)/include/leakwatch 2>/dev/null

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
