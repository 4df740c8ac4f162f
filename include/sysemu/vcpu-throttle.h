/*
 * The vCPU throttle actuator (softmmu/vcpu-throttle.c): the one place a
 * vCPU thread sleeps for a throttle, and the per-vCPU timer that ends its
 * KVM_RUN slices.  It knows no policy: each throttle (the per-vCPU dirty
 * limit, auto-converge's cpu-throttle) hands it an ops table, and it asks
 * every table enabled on a vCPU what to do before each KVM_RUN.
 * See docs/devel/dirty-limit.md for the picture.
 */
#ifndef SYSEMU_VCPU_THROTTLE_H
#define SYSEMU_VCPU_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct CPUState CPUState;

/* What a throttle wants the vCPU thread to do next; 0 means "nothing". */
typedef struct VcpuThrottleDecision {
    int64_t sleep_ns;       /* sleep this long now, outside KVM_RUN */
    int64_t run_ns;         /* end the next KVM_RUN slice after this */
} VcpuThrottleDecision;

/*
 * A throttle, as the actuator sees it.  Every callback runs on @cpu's own
 * thread, outside KVM_RUN, with no lock held; a callback may take the
 * throttle's own lock.
 */
typedef struct VcpuThrottleOps {
    /*
     * Account what @cpu did since the previous step and decide.  While
     * any enabled throttle asks for a sleep, the vCPU sleeps the longest
     * asked for (at most VCPU_THROTTLE_SLEEP_MAX_NS) and every throttle
     * steps again; otherwise it runs until the shortest run_ns asked for.
     */
    VcpuThrottleDecision (*step)(CPUState *cpu);
    /* @cpu slept @slept_ns (less than asked when a kick ended it). */
    void (*slept)(CPUState *cpu, int64_t slept_ns);
    /* @cpu enters its next slice now.  May be NULL. */
    void (*run)(CPUState *cpu);
} VcpuThrottleOps;

/*
 * Longest single sleep: the vCPU thread steps its throttles at least every
 * 50 ms, so a cancel or a new quota acts within 50 ms (stop and quit
 * interrupt a sleep at once).
 */
#define VCPU_THROTTLE_SLEEP_MAX_NS 50000000LL
/* How many ops tables may ever be enabled in one process. */
#define VCPU_THROTTLE_MAX 8

/*
 * Make @ops act on vCPU @cpu_index, or stop it acting.  Any thread.  On
 * enable the vCPU is kicked out of KVM_RUN, so the throttle acts at once.
 * A vCPU no throttle acts on pays one relaxed load per KVM_RUN.
 */
void vcpu_throttle_enable(const VcpuThrottleOps *ops, int cpu_index,
                          bool on);

/*
 * On the vCPU thread, before each KVM_RUN and with no lock held: pay any
 * sleep owed (interruptible by pause and shutdown) and arm the timer that
 * ends the next slice.
 */
void throttle_vcpu_before_run(CPUState *cpu);

/*
 * Teardown, after the vCPU threads have ended and the throttles cleaned
 * up: delete the vCPUs' timers, forget which throttle acts where.
 */
void vcpu_throttle_cleanup(void);

#endif /* SYSEMU_VCPU_THROTTLE_H */
