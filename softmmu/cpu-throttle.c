/*
 * auto-converge's all-vCPU percentage throttle (QEMU's cpu-throttle):
 * every vCPU runs CPU_THROTTLE_TIMESLICE_NS, then sleeps
 * pct / (100 - pct) of the time it ran, so it is asleep pct % of the
 * time.  Run time is time inside KVM_RUN (CPUState.guest_run_ns): a
 * vCPU that was paused, or that the guest put to sleep, owes nothing
 * for it.  The step is pure (cpu_throttle_step in
 * softmmu/dirtylimit-controller.c); it acts through the vCPU throttle
 * actuator (softmmu/vcpu-throttle.c), which this file hands its ops: the
 * vCPU thread sleeps outside KVM_RUN, interruptibly, no lock held.
 */
#include "qemu/osdep.h"

#include "hw/core/cpu.h"
#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "sysemu/cpu-throttle.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtylimit-controller.h"
#include "sysemu/vcpu-throttle.h"
#include "trace.h"

typedef struct CpuThrottleState {
    int percentage;             /* (atomic) 0 = off */
    unsigned int epoch;         /* (atomic) bumped at each start */
    /* Each touched only by its own vCPU thread. */
    CpuThrottleVcpu vcpu[RS_MAX_CPUS];
    unsigned int vcpu_epoch[RS_MAX_CPUS];
} CpuThrottleState;

static CpuThrottleState throttle;

/* ---- on the vCPU thread, called by the actuator ---- */

static VcpuThrottleDecision cpu_throttle_vcpu_step(CPUState *cpu)
{
    int i = cpu_index(cpu);
    unsigned int epoch = qatomic_load_acquire(&throttle.epoch);
    int64_t run_ns = qatomic_read(&cpu->guest_run_ns);

    if (throttle.vcpu_epoch[i] != epoch) {
        cpu_throttle_start(&throttle.vcpu[i], run_ns);
        throttle.vcpu_epoch[i] = epoch;
    }
    return cpu_throttle_step(&throttle.vcpu[i], cpu_throttle_get_percentage(),
                             run_ns);
}

static void cpu_throttle_vcpu_slept(CPUState *cpu, int64_t slept_ns)
{
    cpu_throttle_slept(&throttle.vcpu[cpu_index(cpu)], slept_ns);
}

static const VcpuThrottleOps cpu_throttle_ops = {
    .step = cpu_throttle_vcpu_step,
    .slept = cpu_throttle_vcpu_slept,
};

/* ---- the commands (VM lock held) ---- */

void cpu_throttle_set(int percentage)
{
    int old;

    percentage = MAX(MIN(percentage, CPU_THROTTLE_PCT_MAX),
                     CPU_THROTTLE_PCT_MIN);
    old = qatomic_xchg(&throttle.percentage, percentage);
    trace_cpu_throttle_set(percentage);
    if (old) {
        return;     /* every vCPU already consults us */
    }
    qatomic_fetch_add(&throttle.epoch, 1);
    for (int i = 0; i < cpus_count(); i++) {
        vcpu_throttle_enable(&cpu_throttle_ops, i, true);
    }
}

void cpu_throttle_stop(void)
{
    if (!qatomic_xchg(&throttle.percentage, 0)) {
        return;
    }
    trace_cpu_throttle_set(0);
    for (int i = 0; i < cpus_count(); i++) {
        vcpu_throttle_enable(&cpu_throttle_ops, i, false);
    }
}

bool cpu_throttle_active(void)
{
    return qatomic_load_acquire(&throttle.percentage) != 0;
}

int cpu_throttle_get_percentage(void)
{
    return qatomic_load_acquire(&throttle.percentage);
}

void cpu_throttle_cleanup(void)
{
    cpu_throttle_stop();
    /* Whatever the vCPU count was when it started. */
    for (int i = 0; i < RS_MAX_CPUS; i++) {
        vcpu_throttle_enable(&cpu_throttle_ops, i, false);
    }
}
