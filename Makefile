# ktproxy - transparent mTLS delegation proxy
#
#   make            build ktproxy and ktproxy-stat into $(BUILD)/
#   make check      unit tests, fuzz smoke, integration suite; plain and ASan+UBSan builds
#   make demo       install what is missing, build, run real traffic through ktproxy
#   make bench      ktproxy, nginx and HAProxy side by side: docs/performance.md
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall: the same, removed)
#   make fuzz       run the libFuzzer targets (FUZZ_SECONDS each)
#   make SAN=1      build with AddressSanitizer and UndefinedBehaviorSanitizer
#   V=1             show the commands

PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
CC ?= cc

ifeq ($(SAN),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT ?= -O1 -g
else
BUILD ?= build/plain
SANFLAGS :=
OPT ?= -O2 -g
endif

PKGS := openssl liburing libmnl libnftnl libcap libbpf
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

CFLAGS ?= $(OPT)
CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -MMD -MP \
	$(SANFLAGS) $(PKG_CFLAGS) -Isrc -I$(BUILD)/bpf
LDFLAGS += $(SANFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread

ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-6s %s\n' $(1) $(2);
endif

# Everything but main.c is a library the tests link against.
LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
DAEMON_OBJS := $(BUILD)/src/main.o $(LIB_OBJS)
STAT_OBJS := $(BUILD)/tools/ktproxy-stat.o $(BUILD)/tools/stat_conns.o $(BUILD)/tools/sockdiag.o \
	$(BUILD)/src/stats.o $(BUILD)/src/metrics.o $(BUILD)/src/conntab.o $(BUILD)/src/json.o \
	$(BUILD)/src/shmfile.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/ktproxy $(BUILD)/ktproxy-stat $(BUILD)/ktp-load $(BUILD)/mintbench $(UNIT_BINS)
	$(Q)ln -sfn $(notdir $(BUILD)) build/current 2>/dev/null || true

$(BUILD)/ktproxy: $(DAEMON_OBJS)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ktproxy-stat: $(STAT_OBJS)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ktp-load: $(BUILD)/tools/bench/ktp-load.o
	$(call quiet,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# forged certificates minted per second per key type (tools/mintbench.c)
$(BUILD)/mintbench: $(BUILD)/tools/mintbench.o $(LIB_OBJS)
	$(call quiet,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB_OBJS)
	$(call quiet,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# bpf/: the sk_lookup program, compiled for the BPF target, and the libbpf
# skeleton that embeds it in the daemon (src/steer.c includes it).
BPF_CLANG ?= clang
BPF_CFLAGS := -g -O2 -target bpf -Wall -Ibpf -I/usr/include/$(shell $(CC) -dumpmachine)
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/%.h
	$(call quiet,BPF,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<
$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call quiet,SKEL,$@)
	$(Q)bpftool gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@
$(BUILD)/src/steer.o: $(BUILD)/bpf/steer.skel.h

$(BUILD)/%.o: %.c
	$(call quiet,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- tests
deps:
	$(Q)tools/install-deps

unit: all
	$(Q)tests/run-unit $(BUILD)

check: deps
	$(Q)tests/check

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo $(BUILD)

# the host part, then the kTLS VM part (tools/bench/vm; BENCH_VM=0 leaves it
# out), one report: docs/performance.md
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench/run $(BUILD)

# ---------------------------------------------------------------- fuzzing
FUZZ_SECONDS ?= 60
FUZZ_SRCS_fuzz_http1 := src/http1.c
FUZZ_SRCS_fuzz_ocsp := src/ocsp.c src/verify.c src/ident.c src/config_msg.c
FUZZ_SRCS_fuzz_config := src/config.c src/config_file.c src/config_msg.c src/headers.c \
	src/verify.c src/ocsp.c src/forge_policy.c src/ident.c src/intercept_conf.c
FUZZ_TARGETS := $(patsubst fuzz/%.c,build/fuzz/%,$(wildcard fuzz/fuzz_*.c))
build/fuzz/%: fuzz/%.c $(filter-out src/main.c,$(wildcard src/*.c))
	$(call quiet,FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_SRCS_$*) $(PKG_LIBS)
fuzz: $(FUZZ_TARGETS)
	$(Q)for t in $(FUZZ_TARGETS); do n=$$(basename $$t); mkdir -p fuzz/corpus-$$n; \
		$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 fuzz/corpus-$$n fuzz/seeds/$$n || exit 1; done

# ---------------------------------------------------------------- install
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
MANPAGES5 := man/ktproxy.conf.5
MANPAGES8 := man/ktproxy.8 man/ktproxy-stat.8

# The unit names the binary where SBINDIR puts it.
install: $(BUILD)/ktproxy $(BUILD)/ktproxy-stat
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/ktproxy
	install -m 0755 $(BUILD)/ktproxy $(DESTDIR)$(SBINDIR)/ktproxy
	install -m 0755 $(BUILD)/ktproxy-stat $(DESTDIR)$(BINDIR)/ktproxy-stat
	install -m 0644 $(MANPAGES5) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(MANPAGES8) $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|/usr/local/sbin/ktproxy|$(SBINDIR)/ktproxy|g' \
		-e 's|/etc/ktproxy/|$(SYSCONFDIR)/ktproxy/|g' dist/ktproxy.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/ktproxy.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/ktproxy.service
	install -m 0644 dist/ktproxy.conf.example $(DESTDIR)$(SYSCONFDIR)/ktproxy/ktproxy.conf.example

# Removes what install put there; a ktproxy.conf of the operator's stays.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ktproxy $(DESTDIR)$(BINDIR)/ktproxy-stat \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MANPAGES5))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MANPAGES8))) \
		$(DESTDIR)$(SYSTEMDUNITDIR)/ktproxy.service \
		$(DESTDIR)$(SYSCONFDIR)/ktproxy/ktproxy.conf.example
	rmdir $(DESTDIR)$(SYSCONFDIR)/ktproxy 2>/dev/null || true

clean:
	rm -rf build

.SECONDARY:
.PHONY: all deps unit check demo bench fuzz install uninstall clean
