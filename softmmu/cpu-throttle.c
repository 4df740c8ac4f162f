/*
 * auto-converge's all-vCPU percentage throttle (QEMU's cpu-throttle):
 * every vCPU runs CPU_THROTTLE_TIMESLICE_NS, then sleeps
 * pct / (100 - pct) of the time it ran, so it is asleep pct % of the
 * time.  Run time is time inside KVM_RUN (CPUState.guest_run_ns): a
 * vCPU that was paused, or that the guest put to sleep, owes nothing
 * for it.  It acts through the dirty limiter's actuator
 * (throttle_vcpu_before_run in softmmu/dirtylimit.c): the vCPU thread
 * sleeps outside KVM_RUN, interruptibly, no lock held.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtylimit-controller.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

typedef struct CpuThrottleState {
    int percentage;             /* (atomic) 0 = off */
    unsigned int epoch;         /* (atomic) bumped at each start */
    /* Each touched only by its own vCPU thread. */
    CpuThrottleVcpu vcpu[RS_MAX_CPUS];
    unsigned int vcpu_epoch[RS_MAX_CPUS];
} CpuThrottleState;

static CpuThrottleState throttle;

void cpu_throttle_set(int percentage)
{
    int old;

    percentage = MAX(MIN(percentage, CPU_THROTTLE_PCT_MAX),
                     CPU_THROTTLE_PCT_MIN);
    old = __atomic_exchange_n(&throttle.percentage, percentage,
                              __ATOMIC_SEQ_CST);
    trace_cpu_throttle_set(percentage);
    if (old) {
        return;     /* every vCPU already consults us */
    }
    __atomic_fetch_add(&throttle.epoch, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < cpus_count(); i++) {
        throttle_vcpu_enable(i, THROTTLE_BY_CPU_THROTTLE, true);
    }
}

void cpu_throttle_stop(void)
{
    if (!__atomic_exchange_n(&throttle.percentage, 0, __ATOMIC_SEQ_CST)) {
        return;
    }
    trace_cpu_throttle_set(0);
    for (int i = 0; i < cpus_count(); i++) {
        throttle_vcpu_enable(i, THROTTLE_BY_CPU_THROTTLE, false);
    }
}

bool cpu_throttle_active(void)
{
    return __atomic_load_n(&throttle.percentage, __ATOMIC_ACQUIRE) != 0;
}

int cpu_throttle_get_percentage(void)
{
    return __atomic_load_n(&throttle.percentage, __ATOMIC_ACQUIRE);
}

DirtyLimitDecision cpu_throttle_vcpu_step(CPUState *cpu)
{
    int i = cpu_index(cpu);
    unsigned int epoch = __atomic_load_n(&throttle.epoch, __ATOMIC_ACQUIRE);
    int64_t run_ns = __atomic_load_n(&cpu->guest_run_ns, __ATOMIC_RELAXED);

    if (throttle.vcpu_epoch[i] != epoch) {
        cpu_throttle_start(&throttle.vcpu[i], run_ns);
        throttle.vcpu_epoch[i] = epoch;
    }
    return cpu_throttle_step(&throttle.vcpu[i], cpu_throttle_get_percentage(),
                             run_ns);
}

void cpu_throttle_vcpu_slept(CPUState *cpu, int64_t slept_ns)
{
    cpu_throttle_slept(&throttle.vcpu[cpu_index(cpu)], slept_ns);
}
