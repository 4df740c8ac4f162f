/*
 * The pure core of the per-vCPU dirty-rate calculator
 * (softmmu/dirtyrate-compute.c): from two readings of every vCPU's
 * monotonic dirty-page counter, the rate of each.  No thread, no clock,
 * no KVM: its unit test links this file alone.  The calculator thread
 * around it is softmmu/dirtyrate-stat.c (include/sysemu/dirtyrate-stat.h).
 */
#ifndef SYSEMU_DIRTYRATE_COMPUTE_H
#define SYSEMU_DIRTYRATE_COMPUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/guest-abi.h"

/* vCPUs the calculator follows (the guest ABI's limit). */
#define DIRTYRATE_STAT_MAX_CPUS RS_MAX_CPUS

typedef struct VcpuDirtyStat {
    uint64_t dirty_pages;           /* counter value at measured_ns */
    uint64_t rate_pages_per_s;      /* over the last period */
    int64_t measured_ns;            /* the clock's time of the sample */
    uint64_t period_ns;             /* length of the window measured */
} VcpuDirtyStat;

/* One consistent reading of every vCPU's counter. */
typedef struct DirtyRateStatSnapshot {
    uint64_t generation;
    int nr_cpus;
    int64_t now_ns;
    uint64_t dirty_pages[DIRTYRATE_STAT_MAX_CPUS];
} DirtyRateStatSnapshot;

/*
 * The rate of each vCPU between @prev and @cur into @out[i]
 * (@cur->nr_cpus entries).  False, and nothing computed, when the two
 * are of different vCPU lists or no time passed.  Counters are monotonic
 * modulo 2^64, so a wrap between the two is a small difference.
 */
bool dirtyrate_stat_compute(const DirtyRateStatSnapshot *prev,
                            const DirtyRateStatSnapshot *cur,
                            VcpuDirtyStat *out);

#endif /* SYSEMU_DIRTYRATE_COMPUTE_H */
