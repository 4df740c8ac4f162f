/*
 * Per-vCPU dirty-page-rate quotas (softmmu/dirtylimit.c) and the
 * all-vCPU percentage throttle of auto-converge (softmmu/cpu-throttle.c).
 * Both act the same way: the vCPU thread sleeps outside KVM_RUN, no lock
 * held, and only throttled vCPUs ever sleep or get kicked for it.
 * Rates are MB/s, MB = 2^20 bytes.  VM lock held by callers.
 */
#ifndef SYSEMU_DIRTYLIMIT_H
#define SYSEMU_DIRTYLIMIT_H

#include <stdint.h>

#include "hw/core/cpu.h"
#include "sysemu/dirtylimit-controller.h"

/* @cpu_index -1: every vCPU.  Needs the dirty ring. */
bool dirtylimit_set_vcpu(int cpu_index, uint64_t quota_mbps, Error **errp);
void dirtylimit_cancel_vcpu(int cpu_index);
bool dirtylimit_vcpu_limited(int cpu_index);
bool dirtylimit_in_service(void);

/* auto-converge: every vCPU sleeps @percentage % of the time (1..99). */
void cpu_throttle_set(int percentage);
void cpu_throttle_stop(void);
bool cpu_throttle_active(void);
int cpu_throttle_get_percentage(void);

/* How a dirty limit is enforced (x-set-dirty-limit-policy). */
typedef enum DirtyLimitPolicyKind {
    DIRTYLIMIT_DUTY_CYCLE = 0,  /* ours: timed slices, debt paid by sleep */
    DIRTYLIMIT_RING_FULL,       /* QEMU 7.1: sleep only at ring-full */
} DirtyLimitPolicyKind;

/* Applies to every limit; limits already set start again under it. */
void dirtylimit_set_policy(DirtyLimitPolicyKind policy);
DirtyLimitPolicyKind dirtylimit_get_policy(void);

/* One limited vCPU's state, as query-vcpu-dirty-limit reports it. */
typedef struct DirtyLimitVcpuInfo {
    int cpu_index;
    uint64_t quota_mbps;
    /*
     * Over the last report window: under the duty cycle the distinct
     * pages of the last complete 1-s window (qemu/dirty-window.h), under
     * ring-full the ring entries of its own last second (QEMU's count).
     */
    uint64_t current_mbps;
    uint64_t current_pages_per_s;
    double sleep_share;         /* 0..1 of that window asleep */
    int64_t rate_age_ms;        /* since that window ended; -1: none yet */
    DirtyLimitPolicyKind policy;
} DirtyLimitVcpuInfo;

/* false when @cpu_index is not limited. */
bool dirtylimit_vcpu_info(int cpu_index, DirtyLimitVcpuInfo *info);

/*
 * Migration calls this while a migration with the dirty-limit
 * capability runs: the QMP commands then refuse to change limits
 * (migration's own calls to dirtylimit_set_vcpu are not refused).
 */
void dirtylimit_set_migration_active(bool active);

/* Teardown, after the vCPU threads have ended: forget every limit. */
void dirtylimit_cleanup(void);

/*
 * The shared actuator (softmmu/dirtylimit.c).  Which throttles act on a
 * vCPU: the vCPU thread reads this with one relaxed load per KVM_RUN.
 */
#define THROTTLE_BY_DIRTYLIMIT    (1u << 0)
#define THROTTLE_BY_CPU_THROTTLE  (1u << 1)
void throttle_vcpu_enable(int cpu_index, unsigned int by, bool on);

/* cpu-throttle's part of the actuator, on the vCPU thread. */
DirtyLimitDecision cpu_throttle_vcpu_step(CPUState *cpu);
void cpu_throttle_vcpu_slept(CPUState *cpu, int64_t slept_ns);

/*
 * On the vCPU thread, before each KVM_RUN and with no lock held: pay any
 * throttle sleep owed (interruptible by pause and shutdown).
 */
void throttle_vcpu_before_run(CPUState *cpu);

#endif /* SYSEMU_DIRTYLIMIT_H */
