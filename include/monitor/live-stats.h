/*
 * Live per-vCPU statistics for people watching (monitor/live-stats.c):
 * the live view on the terminal and the Prometheus endpoint read the
 * same one-second samples, taken on the main loop.
 *
 * Each sample puts side by side what restraint measured (the dirty-rate
 * calculator's published counters, dirtyrate_stat_get) and what the
 * guest says it did (its own counters, workload_sample), with the
 * quota and sleep share of the dirty limiter.  Rates are bytes per
 * second here; the views convert (MB = 2^20 bytes).
 */
#ifndef MONITOR_LIVE_STATS_H
#define MONITOR_LIVE_STATS_H

#include <stdint.h>

#include "hw/guest-abi.h"

/* The sampling period: one line a second is what a person can read. */
#define LIVE_STATS_PERIOD_MS 1000

typedef struct LiveVcpuStats {
    int cpu_index;
    const char *workload_kind;          /* "write", ... ; static */
    bool has_measured;                  /* the calculator has two samples */
    double measured_bytes_per_s;        /* dirtied, as restraint measured */
    uint64_t measured_dirty_pages;      /* the calculator's counter */
    bool has_guest;                     /* two workload samples */
    double guest_write_bytes_per_s;     /* ground truth: pages stored to */
    double guest_read_bytes_per_s;
    uint64_t guest_pages_written;       /* the guest's own counters */
    uint64_t guest_bytes_read;
    uint64_t quota_mbps;                /* dirty limit, 0 = none */
    double limiter_rate_bytes_per_s;    /* the limiter's own window */
    double sleep_share;                 /* 0..1 asleep (limit or throttle) */
} LiveVcpuStats;

typedef struct LiveStats {
    uint64_t samples;                   /* 0: nothing yet */
    int64_t sampled_ns;                 /* CLOCK_MONOTONIC */
    bool per_vcpu_rates;                /* the dirty ring is on */
    int cpu_throttle_pct;               /* auto-converge, 0 = off */
    int nr_cpus;
    LiveVcpuStats vcpu[RS_MAX_CPUS];
} LiveStats;

typedef void (*LiveStatsListener)(const LiveStats *stats, void *opaque);

/*
 * Refcounted: the first start turns on per-vCPU dirty counting (its own
 * dirty-tracking user, GLOBAL_DIRTY_OBSERVE, ring mode only) and the
 * calculator thread, and arms the main-loop timer.  Main thread, VM lock
 * not held.
 */
bool live_stats_start(Error **errp);
void live_stats_stop(void);
/* The latest sample (valid until the next main-loop iteration). */
const LiveStats *live_stats_get(void);
/* Called on the main thread after each sample. */
void live_stats_add_listener(LiveStatsListener fn, void *opaque);
void live_stats_remove_listener(LiveStatsListener fn, void *opaque);

#endif /* MONITOR_LIVE_STATS_H */
