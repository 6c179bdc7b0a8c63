# Makefile: the one build for the kernel, the host tools and every test tier.
# Every output lands under build/: build/target/ for kernel objects,
# build/host/ for host programs and tests, build/fuzz/ for the fuzz
# targets, build/gen/ for generated sources. `make V=1` shows full commands.
#
# Two toolchains (STYLE.md rule 10):
#   CC/TARGET_CFLAGS    freestanding x86_64 kernel code, linked with newlib
#   HOSTCC/HOST_CFLAGS  Linux programs: unit tests (ASan+UBSan), host tools,
#                       benchmarks; they link the same hv/ kmcl/ kernel/ ...
#                       sources over host/inproc_hw.c (DESIGN.md, first seam)

BUILD    := build
TDIR     := $(BUILD)/target
HDIR     := $(BUILD)/host
FDIR     := $(BUILD)/fuzz
GEN      := $(BUILD)/gen
NEWLIB   := $(BUILD)/newlib/install/x86_64-elf
DEPS_STAMP := $(BUILD)/.deps-stamp

VERSION  := 0.1.0
GIT_REV  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# Rebuild what embeds the revision when HEAD moves.
$(shell mkdir -p $(BUILD); echo '$(GIT_REV)' | cmp -s - $(BUILD)/gitrev 2>/dev/null || echo '$(GIT_REV)' > $(BUILD)/gitrev)

V ?=
ifeq ($(V),1)
  Q :=
  E := @true
else
  Q := @
  E := @echo
endif

CC       := gcc
LD       := ld
OBJCOPY  := objcopy
HOSTCC   := gcc

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-qual \
            -Wsign-compare -Wwrite-strings -Wmissing-prototypes \
            -Wstrict-prototypes -Wundef

# Baseline x86-64 (guests here see no SSE3). Kernel code is built with
# -mgeneral-regs-only: this machine's kvm-pvm emulates kernel-mode code and
# cannot execute most SSE instructions (KVM-NOTES.md). SSE stays enabled in
# the CPU for newlib's float ABI, and interrupt entry still saves FPU/SSE
# state (DESIGN.md, conventions); tools/check-no-sse.sh guards the image.
# -mcmodel=small with -fno-pie: the kernel is linked at 1 MiB (linker.ld).
GCC_INC  := $(shell $(CC) -print-file-name=include)
TARGET_CFLAGS := -std=c11 -O2 -g -march=x86-64 -mtune=generic -mgeneral-regs-only \
            -ffreestanding -fno-common -fno-pie -mcmodel=small -mno-red-zone \
            -fno-stack-protector -fno-asynchronous-unwind-tables \
            -fno-omit-frame-pointer -nostdinc -isystem $(GCC_INC) \
            -isystem $(NEWLIB)/include -I. -DKERNEL_BUILD=1 \
            -DVERSION_STRING='"$(VERSION)"' -DBUILD_STRING='"$(GIT_REV)"' \
            $(WARNINGS) -MMD -MP
TARGET_ASFLAGS := -g -march=x86-64 -I. -DKERNEL_BUILD=1 -MMD -MP
TARGET_LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments \
            -T linker.ld --gc-sections

SANITIZE ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined
HOST_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -I. -I$(GEN) -DHOST_BUILD=1 \
            -DVERSION_STRING='"$(VERSION)"' -DBUILD_STRING='"$(GIT_REV)"' \
            $(WARNINGS) -MMD -MP
HOST_BENCH_CFLAGS := -std=gnu11 -O2 -g -I. -I$(GEN) -DHOST_BUILD=1 -DNDEBUG \
            $(WARNINGS) -MMD -MP

# ---- sources ----------------------------------------------------------------
# Target-only: boot/ and arch/x86_64/ (plus kernel/main.c, which owns boot).
BOOT_SRCS   := boot/multiboot.S
ARCH_SRCS   := $(wildcard arch/x86_64/*.c) $(wildcard arch/x86_64/*.S)
# Portable layers: compiled for the kernel AND into host programs.
KERNEL_SRCS := $(filter-out kernel/main.c,$(wildcard kernel/*.c))
HV_SRCS     := $(wildcard hv/*.c)
KMCL_SRCS   := $(wildcard kmcl/*.c)
DRV_SRCS    := $(wildcard drivers/*/*.c)
NET_SRCS    := $(wildcard net/*.c)
# The top: guest_main wires hv/, drivers/ and net/ together (guest/).
GUEST_SRCS  := $(wildcard guest/*.c)
PORTABLE_SRCS := $(KERNEL_SRCS) $(HV_SRCS) $(KMCL_SRCS) $(DRV_SRCS) $(NET_SRCS) $(GUEST_SRCS)

KERNEL_ALL_SRCS := $(BOOT_SRCS) $(ARCH_SRCS) kernel/main.c $(PORTABLE_SRCS)
KERNEL_OBJS := $(patsubst %,$(TDIR)/%.o,$(basename $(KERNEL_ALL_SRCS)))

# Host side: the portable layers, the pure exception-dump formatter, and the
# in-process hardware backend; plus host/ (the Hyper-V host emulator).
HOST_PORTABLE_SRCS := $(PORTABLE_SRCS) arch/x86_64/trap_dump.c arch/x86_64/acpi.c \
                      arch/x86_64/vga_text.c
# host/*.c minus the programs' mains (hvhost, hvsim), which link the library.
HOST_MAIN_SRCS := host/hvhost.c host/hvsim.c
HOST_EMU_SRCS := $(filter-out $(HOST_MAIN_SRCS),$(wildcard host/*.c))
# sim/: the in-process system (host and guest) as one fixture, in the library.
HOST_EMU_SRCS += $(wildcard sim/*.c)
HOST_LIB_OBJS := $(patsubst %.c,$(HDIR)/%.o,$(HOST_PORTABLE_SRCS) $(HOST_EMU_SRCS))
HOST_LIB    := $(HDIR)/libhvstack.a
# Libraries every program linking the host objects needs (host/netpcap.c).
HOST_LDLIBS := -lpcap

UNIT_SRCS   := $(wildcard tests/unit/*_test.c)
UNIT_LIB_SRCS := $(wildcard tests/unit/lib/*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(HDIR)/tests/unit/%,$(UNIT_SRCS))
UNIT_LIB_OBJS := $(patsubst %.c,$(HDIR)/%.o,$(UNIT_LIB_SRCS))

BENCH_SRCS  := $(wildcard bench/*.c)
BENCH_BINS  := $(patsubst bench/%.c,$(HDIR)/bench/%,$(BENCH_SRCS))
HOST_BENCH_OBJS := $(patsubst %.c,$(HDIR)/bench-obj/%.o,$(HOST_PORTABLE_SRCS) $(HOST_EMU_SRCS))

KERNEL_ELF  := $(BUILD)/kernel.elf
ISO         := $(BUILD)/kernel.iso

# Keep every intermediate object (make would otherwise delete the unit-test
# and fuzz objects after linking and rebuild them next time).
.SECONDARY:

.PHONY: all iso vhd run run-qemu test test-unit test-linux test-boot test-e2e test-sim test-netns test-fuzz bench clean distclean format lint deps newlib
all: $(KERNEL_ELF)

# ---- set-up -----------------------------------------------------------------
$(DEPS_STAMP): tools/deps.sh
	$(Q)mkdir -p $(@D)
	$(Q)tools/deps.sh
	$(Q)touch $@
deps: $(DEPS_STAMP)

$(NEWLIB)/lib/libc.a: tools/newlib.sh | $(DEPS_STAMP)
	$(Q)tools/newlib.sh $(BUILD)/newlib
newlib: $(NEWLIB)/lib/libc.a

# ---- one object rule for every build flavour ---------------------------------
# $(call object_rule,OUTDIR,LABEL,COMPILER AND FLAGS,EXTRA PREREQUISITES):
# OUTDIR/x/y.o from x/y.c. Every object depends on the Makefile (flags live
# here) and on the set-up stamp; headers come from the -MMD .d files, which
# the last line of this file includes for every flavour.
define object_rule
$(1)/%.o: %.c Makefile $(4) | $(DEPS_STAMP)
	$$(E) "  $(2) $$<"
	$$(Q)mkdir -p $$(@D)
	$$(Q)$(3) -c $$< -o $$@
endef

# ---- kernel -----------------------------------------------------------------
$(eval $(call object_rule,$(TDIR),CC     ,$$(CC) $$(TARGET_CFLAGS),$(NEWLIB)/lib/libc.a))

$(TDIR)/%.o: %.S Makefile | $(DEPS_STAMP)
	$(E) "  AS      $<"
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_ASFLAGS) -c $< -o $@

$(TDIR)/kernel/main.o: $(BUILD)/gitrev

# newlib's libc.a goes in a group with our objects: it calls back into the
# kernel's system calls (arch/x86_64/syscalls.c).
$(KERNEL_ELF): $(KERNEL_OBJS) linker.ld $(NEWLIB)/lib/libc.a
	$(E) "  LD      $@"
	$(Q)$(LD) $(TARGET_LDFLAGS) -o $@ $(KERNEL_OBJS) --start-group $(NEWLIB)/lib/libc.a --end-group
	$(Q)tools/check-multiboot.sh $@
	$(Q)tools/check-no-sse.sh $@

$(ISO): $(KERNEL_ELF) boot/grub.cfg | $(DEPS_STAMP)
	$(E) "  ISO     $@"
	$(Q)rm -rf $(BUILD)/iso && mkdir -p $(BUILD)/iso/boot/grub
	$(Q)cp $(KERNEL_ELF) $(BUILD)/iso/boot/kernel.elf
	$(Q)cp boot/grub.cfg $(BUILD)/iso/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(BUILD)/iso >$(BUILD)/iso.log 2>&1 || { cat $(BUILD)/iso.log; exit 1; }
iso: $(ISO)

# A fixed-size VHD (Hyper-V Gen1, Azure): MBR + GRUB for BIOS + a FAT
# partition at 1 MiB, built without root (tools/mkvhd.sh).
VHD := $(BUILD)/kernel.vhd
VHD_MIB ?= 64
$(VHD): $(KERNEL_ELF) boot/grub.cfg tools/mkvhd.sh | $(DEPS_STAMP)
	$(E) "  VHD     $@"
	$(Q)tools/mkvhd.sh $(KERNEL_ELF) boot/grub.cfg $@ $(VHD_MIB) >/dev/null
vhd: $(VHD)

# QEMU exits with (status << 1) | 1 through isa-debug-exit; tools/qemu-run.sh
# maps it back to the kernel's own status (DESIGN.md, exit status).
run-qemu: $(ISO)
	$(Q)tools/qemu-run.sh --iso $(ISO)

# --- hvhost and hvsim --------------------------------------------------------
# The host programs, each its main (HOST_MAIN_SRCS, kept out of the library)
# linked with libhvstack.a: build/hvhost runs the kernel under KVM, and
# build/hvsim is the in-process twin, guest stack and host emulator in one
# Linux process.
HVHOST := $(BUILD)/hvhost
HVSIM := $(BUILD)/hvsim
HOST_PROGS := $(patsubst host/%.c,$(BUILD)/%,$(HOST_MAIN_SRCS))
$(HOST_PROGS): $(BUILD)/%: $(HDIR)/host/%.o $(HOST_LIB)
	$(E) "  LINK    $@"
	$(Q)$(HOSTCC) $(SANITIZE) -o $@ $^ $(HOST_LDLIBS)
hvhost: $(HVHOST)
hvsim: $(HVSIM)
.PHONY: hvhost hvsim
# --- end hvhost and hvsim ----------------------------------------------------

# --- linux-peer --------------------------------------------------------------
# Linux as a second guest of hvhost (issue 17): a minimal kernel from Debian's
# linux-source-6.1 with hv_vmbus, hv_netvsc and hv_utils built in, cached in
# build/linux-peer/ (keyed by tests/linux/peer.config, init.c and the script;
# `make clean` keeps it, `make distclean` drops it). `make test` builds it
# only where the linux tier can run (usable /dev/kvm).
LINUX_PEER := $(BUILD)/linux-peer/bzImage
linux-peer: | $(DEPS_STAMP)
	$(Q)tools/linux-peer.sh $(BUILD)/linux-peer
linux-peer-if-kvm: $(HVHOST)
	$(Q)if why=$$($(HVHOST) --check-kvm); then tools/linux-peer.sh $(BUILD)/linux-peer; \
	else echo "linux-peer: not built ($$why); the linux tier skips"; fi
test-linux: $(HVHOST) $(KERNEL_ELF) linux-peer
	$(Q)tests/run.sh --only linux
.PHONY: linux-peer linux-peer-if-kvm test-linux
# --- end linux-peer ----------------------------------------------------------

# `make run`: the kernel under hvhost (KVM), or under hvsim where /dev/kvm
# is unusable (tools/run.sh says which and why). ARGS="..." adds options.
run: $(KERNEL_ELF) $(HVHOST) $(HVSIM)
	$(Q)BUILD=$(BUILD) tools/run.sh $(ARGS)

# ---- firmware tables ----------------------------------------------------------
# hvhost's DSDT is compiled from host/acpi_dsdt.asl by iasl (acpica-tools),
# as C bytes host/acpi_fw.c includes. -vw 6033: the 5-character _HID "VMBUS"
# that Hyper-V's own DSDT uses and Linux's hv_vmbus matches (the .asl says
# more); every other iasl error and warning stays fatal or visible.
$(GEN)/acpi_dsdt.hex: host/acpi_dsdt.asl | $(DEPS_STAMP)
	$(E) "  IASL    $<"
	$(Q)mkdir -p $(@D)
	$(Q)iasl -vw 6033 -vs -tc -p $(GEN)/acpi_dsdt $< >$(GEN)/acpi_dsdt.log 2>&1 || { cat $(GEN)/acpi_dsdt.log; exit 1; }
$(HDIR)/host/acpi_fw.o $(HDIR)/bench-obj/host/acpi_fw.o $(FDIR)/obj/host/acpi_fw.o: $(GEN)/acpi_dsdt.hex

# ---- host programs ----------------------------------------------------------
$(eval $(call object_rule,$(HDIR),HOSTCC ,$$(HOSTCC) $$(HOST_CFLAGS) $$(SANITIZE),))

$(HOST_LIB): $(HOST_LIB_OBJS)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(HDIR)/tests/unit/%: $(HDIR)/tests/unit/%.o $(UNIT_LIB_OBJS) $(HOST_LIB)
	$(E) "  LINK    $@"
	$(Q)$(HOSTCC) $(SANITIZE) -o $@ $< $(UNIT_LIB_OBJS) $(HOST_LIB) -lcmocka $(HOST_LDLIBS)

$(eval $(call object_rule,$(HDIR)/bench-obj,HOSTCC-O2,$$(HOSTCC) $$(HOST_BENCH_CFLAGS) $$(BENCH_CFLAGS_EXTRA),))

# --- bench section: per-benchmark flags (kmcl owns bench/ring) ---------------
# bench/ring compares kmcl/ring.c with DPDK's rte_ring (PERF-RELIABILITY-
# REFERENCE.md 1.5), so `make bench` installs libdpdk-dev first. A failed
# install is not fatal: bench/ring then prints "rte_ring: not available".
# DPDK's flags go to bench/ring only (target-specific), its headers as system
# headers so our -Werror set does not judge them.
BENCH_DEPS_STAMP := $(BUILD)/.bench-deps-stamp
$(BENCH_DEPS_STAMP): tools/deps.sh | $(DEPS_STAMP)
	$(Q)mkdir -p $(@D)
	$(Q)tools/deps.sh libdpdk-dev pkg-config || \
	  echo "bench: libdpdk-dev not installed; bench/ring runs without rte_ring"
	$(Q)touch $@
DPDK_LIBS = $(shell pkg-config --libs libdpdk 2>/dev/null)
DPDK_CFLAGS = $(if $(DPDK_LIBS),-DHAVE_DPDK=1 \
  $(patsubst -I%,-isystem %,$(shell pkg-config --cflags libdpdk 2>/dev/null)))
BENCH_CFLAGS_EXTRA :=
BENCH_LDLIBS :=
$(HDIR)/bench-obj/bench/ring.o: BENCH_CFLAGS_EXTRA = $(DPDK_CFLAGS)
$(HDIR)/bench-obj/bench/ring.o: | $(BENCH_DEPS_STAMP)
$(HDIR)/bench/ring: BENCH_LDLIBS = $(DPDK_LIBS)
# bench/ring needs kmcl/ring.c alone (pure functions): link just that, so the
# ring figures do not depend on the rest of the tree linking.
$(HDIR)/bench/ring: $(HDIR)/bench-obj/bench/ring.o $(HDIR)/bench-obj/kmcl/ring.o
	$(E) "  LINK    $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(HOSTCC) -o $@ $^ $(BENCH_LDLIBS) -lpthread
bench: $(BENCH_DEPS_STAMP)
# --- end bench section -------------------------------------------------------

$(HDIR)/bench/%: $(HDIR)/bench-obj/bench/%.o $(filter-out $(HDIR)/bench-obj/bench/%,$(HOST_BENCH_OBJS))
	$(E) "  LINK    $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(HOSTCC) -o $@ $^ $(BENCH_LDLIBS) -lpthread $(HOST_LDLIBS)


# --- fuzz --------------------------------------------------------------------
# libFuzzer targets (tests/fuzz/fuzz_*.c) link the production objects, built
# again with clang and -fsanitize=fuzzer-no-link,address,undefined under
# build/fuzz/. `make fuzz FUZZ_SECONDS=N` runs each for N seconds on a copy
# of its seed corpus (tests/fuzz/corpus/NAME) and prints executions,
# coverage and crashes per target (tools/fuzz.sh); `make test` runs each
# for FUZZ_TEST_SECONDS.
FUZZCC := clang
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 10
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := $(filter-out -O1,$(HOST_CFLAGS)) -O1 -DFUZZ_BUILD=1 $(FUZZ_SAN) \
               -fsanitize=fuzzer-no-link
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FDIR)/%,$(FUZZ_SRCS))
FUZZ_LIB_OBJS := $(patsubst %.c,$(FDIR)/obj/%.o,$(HOST_PORTABLE_SRCS) $(HOST_EMU_SRCS))
FUZZ_LIB := $(FDIR)/libhvstack-fuzz.a
$(eval $(call object_rule,$(FDIR)/obj,FUZZCC ,$$(FUZZCC) $$(FUZZ_CFLAGS),))
$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^
$(FDIR)/fuzz_%: $(FDIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(E) "  LINK    $@"
	$(Q)$(FUZZCC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(HOST_LDLIBS)
fuzz: $(FUZZ_BINS)
	$(Q)tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)
fuzz-build: $(FUZZ_BINS)
.PHONY: fuzz fuzz-build
# --- end fuzz ----------------------------------------------------------------

# ---- tests ------------------------------------------------------------------
# Every tier prints `N passed, N failed[, N skipped]`; tests/run.sh adds a total.
test: $(KERNEL_ELF) $(ISO) $(VHD) $(UNIT_BINS) $(HVHOST) $(HVSIM) $(FUZZ_BINS) linux-peer-if-kvm
	$(Q)FUZZ_TEST_SECONDS=$(FUZZ_TEST_SECONDS) tests/run.sh $(UNIT_BINS)

test-unit: $(UNIT_BINS)
	$(Q)tests/run.sh --only unit $(UNIT_BINS)

# (hvhost --check-kvm says whether the KVM case can run)
test-boot: $(KERNEL_ELF) $(ISO) $(VHD) $(HVHOST)
	$(Q)tests/run.sh --only boot

test-e2e: $(KERNEL_ELF) $(HVHOST)
	$(Q)tests/run.sh --only e2e

test-sim: $(HVSIM)
	$(Q)tests/run.sh --only sim

# Linux's ping/arping/UDP reach the kernel over --tap in a network namespace
# (root; hvhost on KVM, else hvsim).
test-netns: $(KERNEL_ELF) $(HVHOST) $(HVSIM)
	$(Q)tests/run.sh --only netns

test-fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_TEST_SECONDS=$(FUZZ_TEST_SECONDS) tests/run.sh --only fuzz

bench: $(BENCH_BINS) $(KERNEL_ELF) $(HVHOST) $(HVSIM)
	$(Q)for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done
	$(Q)for b in bench/*.sh; do echo "== $$b"; $$b || exit 1; done

# ---- style ------------------------------------------------------------------
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	$(Q)clang-format -i $(FORMAT_SRCS)
lint: | $(DEPS_STAMP)
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --inline-suppr --suppress=missingIncludeSystem -I. -DKERNEL_BUILD=1 \
	  boot arch kernel hv kmcl drivers net guest host sim
	@# newlib-nano's printf knows no %ll/%z/%j: portable code must not use them
	$(Q)! grep -nE '"[^"]*%[-+ #0-9.]*(ll|z|j)[diouxX]' $(filter-out host/%,$(PORTABLE_SRCS)) \
	  arch/x86_64/*.c || { echo "lint: %ll/%z/%j formats in kernel code (newlib-nano)"; exit 1; }
	@echo "lint: clang-format, cppcheck and printf formats clean"

# `make clean` removes every output under build/ but three, kept on purpose
# because they are slow to make again and no source edit changes them:
#   build/newlib/      the cached newlib build (tools/newlib.sh, minutes)
#   build/.deps-stamp  tools/deps.sh found the Debian packages installed
#   build/linux-peer/  the cached Linux peer (tools/linux-peer.sh, minutes;
#                      keyed by its own inputs)
# build/*.pcap are the captures README.md's examples write (--pcap
# build/peer.pcap, build/run.pcap). `make distclean` removes build/ whole,
# the three included.
clean:
	rm -rf $(TDIR) $(HDIR) $(FDIR) $(GEN) $(BUILD)/iso $(BUILD)/iso.log $(ISO) $(VHD) $(KERNEL_ELF) \
	  $(HOST_PROGS) $(BUILD)/test-logs $(BUILD)/gitrev $(BENCH_DEPS_STAMP) $(BUILD)/*.pcap
distclean:
	rm -rf $(BUILD)

-include $(shell find $(TDIR) $(HDIR) $(FDIR) -name '*.d' 2>/dev/null)
