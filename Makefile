# restraint: these targets drive meson and ninja.
#   make        build build/restraint
#   make run    the default VM: a writer and a reader vCPU, HMP on stdio
#   make check  every test; ends with "N passed, N failed"
#   make soak   the chaos driver for SOAK_SECONDS (default 600), a table
#               at the end; SOAK_SEED=N replays a run
#   make bench  the benchmarks (tables, figures)
#   make demo   the whole story, scripted, with plots (DEMO_QUICK=1: short)
#   make traces record real programs' dirty-page traces into traces/
#   make libvirt-demo  real libvirtd + virsh drive restraint (as root)
#
# Each target installs only what it needs (scripts/install-deps): make
# and make run the build's packages, make check adds the tests' (clang,
# Prometheus, libvirt), make demo adds gnuplot.

BUILD ?= build
NINJA ?= ninja
RUN_ARGS ?= -m 1G -smp 2 -accel kvm,dirty-ring-size=4096 \
	-workload cpu=0,kind=write,size=384M \
	-workload cpu=1,kind=read,size=256M \
	-monitor stdio

SOAK_SECONDS ?= 600
SOAK_SEED ?=

.PHONY: all deps run check soak bench demo traces libvirt-demo clean

all: $(BUILD)/build.ninja
	@./scripts/install-deps build
	$(NINJA) -C $(BUILD)

deps:
	@./scripts/install-deps check

$(BUILD)/build.ninja:
	@./scripts/install-deps build
	./configure --builddir=$(BUILD)

run: all
	@sock=$${TMPDIR:-/tmp}/restraint-$$$$.qmp; \
	echo "QMP socket: $$sock  (try: scripts/qmp-shell $$sock)"; \
	exec $(BUILD)/restraint $(RUN_ARGS) -qmp unix:$$sock,server=on,wait=off

check:
	@./scripts/install-deps check
	@./scripts/run-checks

soak: all
	@RESTRAINT=$(BUILD)/restraint CHAOS_SEED=$(SOAK_SEED) \
	    python3 tests/chaos/chaos.py --duration $(SOAK_SECONDS)

bench: all
	@./scripts/run-benchmarks

demo: all
	@./scripts/install-deps demo
	@RESTRAINT=$(BUILD)/restraint DEMO_OUT=$(BUILD)/demo ./scripts/demo

traces: all
	@BUILD=$(BUILD) ./scripts/record-traces

# The libvirt test, telling its story: every virsh command and answer.
libvirt-demo: all
	@./scripts/install-deps check
	@RESTRAINT=$(abspath $(BUILD))/restraint \
		PYTHONPATH=tests/functional python3 tests/functional/test_libvirt.py

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
