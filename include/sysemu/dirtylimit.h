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

/*
 * On the vCPU thread, before each KVM_RUN and with no lock held: pay any
 * throttle sleep owed (interruptible by pause and shutdown).
 */
void throttle_vcpu_before_run(CPUState *cpu);

#endif /* SYSEMU_DIRTYLIMIT_H */
