/*
 * The start-up's wiring: what each lower layer calls up through, handed
 * to it in one place (docs/devel/architecture.md, "The seams").
 *
 * softmmu/cpus.c runs the vCPU loop but names neither the accelerator it
 * runs, the throttle that sleeps before each run nor the run state that
 * hears of a halt: vl_connect() hands it all three.  main() and the
 * tests' VMs (tests/test-vm.c) call it before machine_init().
 */
#include "qemu/osdep.h"

#include "sysemu/cpus-internal.h"
#include "sysemu/kvm.h"
#include "sysemu/runstate.h"
#include "sysemu/vcpu-throttle.h"
#include "sysemu/vl-connect.h"

void vl_connect(void)
{
    cpus_set_accel_ops(&kvm_accel_ops);
    /* A vCPU nobody throttles pays one relaxed load per run. */
    cpus_add_before_run_hook(throttle_vcpu_before_run);
    cpus_set_halt_notifier(runstate_vcpu_halted);
}
