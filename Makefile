# vstorage top-level build.
#
#   make                 modules and userspace tools
#   make modules         kernel modules against KDIR
#   make user            vstoragectl and test helpers (SANITIZE=1: ASan/UBSan)
#   make install         modules (+depmod), vstoragectl, udev rules, man pages,
#                        the systemd units vstorage-vhost-user@.service and
#                        vstorage-graph.service (not enabled)
#   make check           userspace unit tests, then every VM test case
#   make check-debug     the same on the debug kernel (KASAN, lockdep,
#                        kmemleak, fault injection) plus the KUnit suites
#   make debug-kernel    build that kernel once per machine (tests/kernel/build)
#   make modules-debug   the modules and the KUnit module against it, in
#                        build/debug (the tree is copied: one source, two
#                        kernels, no clash of object files)
#   make fuzz            libFuzzer targets of the qcow2 metadata library, each
#                        for FUZZ_TIME seconds (default 60; tests/fuzz/)
#
# KDIR defaults to the build tree of the newest installed Debian 6.1 kernel,
# not `uname -r`: the machine that builds is not the machine that runs.

KDIR ?= $(shell ls -d /lib/modules/6.1.*/build 2>/dev/null | sort -V | tail -n 1)
KVER ?= $(notdir $(patsubst %/build,%,$(KDIR)))
PREFIX ?= /usr/local
DESTDIR ?=
SANITIZE ?= 0
FUZZ_TIME ?= 60

SRC := $(CURDIR)
BUILD := $(SRC)/build

.PHONY: all modules user install install-modules install-user check check-user \
	clean checkpatch sparse demo help fuzz check-debug debug-kernel modules-debug

all: modules user

modules:
	@test -n "$(KDIR)" || { echo "Error: no Linux 6.1 build tree under /lib/modules (run scripts/setup)" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(SRC) modules

user:
	$(MAKE) -C user BUILD=$(BUILD) SANITIZE=$(SANITIZE)
	$(MAKE) -C tests/unit BUILD=$(BUILD) SANITIZE=$(SANITIZE)
	$(MAKE) -C tests/tools BUILD=$(BUILD) SANITIZE=$(SANITIZE)
	$(MAKE) -C tests/vhost BUILD=$(BUILD) SANITIZE=$(SANITIZE)

install: install-modules install-user

install-modules: modules
	$(MAKE) -C $(KDIR) M=$(SRC) INSTALL_MOD_DIR=extra/vstorage \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) modules_install
	depmod $(if $(DESTDIR),-b $(DESTDIR)) -a $(KVER)

install-user: user
	$(MAKE) -C user BUILD=$(BUILD) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) install
	install -D -m 0644 udev/60-vstorage.rules $(DESTDIR)/etc/udev/rules.d/60-vstorage.rules
	install -d $(DESTDIR)/lib/systemd/system
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' systemd/vstorage-vhost-user@.service \
		>$(DESTDIR)/lib/systemd/system/vstorage-vhost-user@.service
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' systemd/vstorage-graph.service \
		>$(DESTDIR)/lib/systemd/system/vstorage-graph.service
	install -d $(DESTDIR)/etc/vstorage/graph.d

check:
	tests/check

check-user:
	tests/check --user-only

check-debug:
	tests/check --debug-kernel

debug-kernel:
	tests/kernel/build

DEBUG_SRC := $(BUILD)/debug
modules-debug:
	@dbg=$$(tests/kernel/build | tail -n 1) && \
	mkdir -p $(DEBUG_SRC) && \
	find Kbuild kernel uapi tests/kunit \( -name '*.[ch]' -o -name Kbuild \) -type f \
		-exec cp -p --parents -t $(DEBUG_SRC) {} + && \
	$(MAKE) -C $$dbg/build M=$(DEBUG_SRC) modules

# clang -fsanitize=fuzzer,address,undefined; fails on any crash and prints
# where the input was saved (FUZZ_TARGETS=, FUZZ_ARGS= select and tune)
fuzz:
	$(MAKE) -C tests/fuzz BUILD=$(BUILD) FUZZ_TIME=$(FUZZ_TIME) run

checkpatch:
	scripts/checkpatch

sparse:
	$(MAKE) -C $(KDIR) M=$(SRC) C=2 modules

demo:
	scripts/demo

clean:
	-$(MAKE) -C $(KDIR) M=$(SRC) clean
	-$(MAKE) -C user BUILD=$(BUILD) clean
	-$(MAKE) -C tests/unit BUILD=$(BUILD) clean
	-$(MAKE) -C tests/tools BUILD=$(BUILD) clean
	-$(MAKE) -C tests/vhost BUILD=$(BUILD) clean
	rm -rf $(BUILD)
