/*
 * Per-vCPU dirty-page-rate quotas (softmmu/dirtylimit.c).  They act
 * through the vCPU throttle actuator (include/sysemu/vcpu-throttle.h), as
 * auto-converge's cpu-throttle does (include/sysemu/cpu-throttle.h): the
 * vCPU thread sleeps outside KVM_RUN, no lock held, and only throttled
 * vCPUs ever sleep or get kicked for it.
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
    uint64_t current_mbps;      /* over the last report window */
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

/*
 * Teardown, after the vCPU threads have ended: forget every limit.  It
 * leaves cpu-throttle and the actuator's timers to their own cleanups.
 */
void dirtylimit_cleanup(void);

#endif /* SYSEMU_DIRTYLIMIT_H */
