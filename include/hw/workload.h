/*
 * The built-in guest's workloads, as the VMM sees them: configuration
 * written into each vCPU's control block, ground truth read back from it
 * without exits.
 */
#ifndef HW_WORKLOAD_H
#define HW_WORKLOAD_H

#include <stdint.h>
#include "hw/guest-abi.h"

typedef struct WorkloadConfig {
    enum rs_workload_kind kind;
    enum rs_workload_pattern pattern;
    uint64_t size_bytes;     /* 0 = the default for this vCPU */
    uint64_t rate_mbps;      /* MB/s, MB = 2^20; 0 = full speed */
    /*
     * Guest-physical start of the region, a multiple of 4 KiB at or above
     * RS_WORK_BASE; other vCPUs' regions may overlap it.  Without it the
     * region starts at the vCPU's default slice (moved down only as far as
     * a larger size needs to end inside RAM).
     */
    bool has_offset;
    uint64_t offset_bytes;
    /* replay (docs/guest-abi.md): the trace file (borrowed), the recorded
     * pid to replay (< 0: the one with the most distinct pages), speed in
     * thousandths (0 = 1x), loop at the end. */
    const char *trace_path;
    int64_t replay_pid;
    uint32_t replay_speed_milli;
    bool replay_loop;
} WorkloadConfig;

typedef struct WorkloadSample {
    uint32_t cpu_index;
    enum rs_workload_kind kind;
    enum rs_workload_pattern pattern;
    uint64_t region_gpa;
    uint64_t region_size;      /* bytes */
    uint64_t rate_mbps;        /* target, 0 = full speed */
    uint64_t generation;       /* what the VMM asked for */
    uint64_t seen_generation;  /* what the guest runs */
    uint64_t iterations;
    uint64_t pages_written;
    uint64_t bytes_read;
    uint64_t sweeps;
    uint64_t guest_tsc;
    uint64_t workload_status;  /* enum rs_workload_status */
    uint64_t visits;           /* pages visited since adoption (exact) */
    /* replay progress (guest-abi.h) */
    uint64_t replay_intervals;
    uint64_t replay_loops;
    uint64_t replay_interval_pages;
    uint64_t replay_lag_us;
    uint64_t exits;            /* KVM exits of the vCPU, since created */
    int64_t host_ns;           /* CLOCK_MONOTONIC when sampled */
} WorkloadSample;

const char *workload_kind_name(enum rs_workload_kind kind);
bool workload_kind_parse(const char *name, enum rs_workload_kind *kind);
const char *workload_pattern_name(enum rs_workload_pattern pattern);
bool workload_pattern_parse(const char *name,
                            enum rs_workload_pattern *pattern);

/* A replay speed (1 = as recorded) in thousandths, range-checked. */
bool workload_replay_speed(double speed, uint32_t *speed_milli,
                           Error **errp);

/* Change vCPU @cpu_index's workload; its region must lie in guest RAM
 * above the system area. */
bool workload_set(int cpu_index, const WorkloadConfig *cfg, Error **errp);
/* Read the guest's counters for @cpu_index (no exit, any thread). */
bool workload_sample(int cpu_index, WorkloadSample *out, Error **errp);

#endif /* HW_WORKLOAD_H */
