/*
 * Dirty-rate measurement (migration/dirtyrate.c): QEMU's calc-dirty-rate /
 * query-dirty-rate in three modes, and the pure estimator behind them
 * (migration/dirtyrate-estimate.c).
 *
 * The quantity, in every mode: DISTINCT 4 KiB pages of workload memory
 * written within the window, per second; MB/s with MB = 2^20 bytes.
 */
#ifndef MIGRATION_DIRTYRATE_H
#define MIGRATION_DIRTYRATE_H

#include <stdint.h>

#include "hw/guest-abi.h"
#include "monitor/hmp.h"
#include "qapi/qapi-types.h"

/* QEMU's limits and default, with QEMU's reasons: a window shorter than
 * 50 ms is mostly harvest latency, longer than 60 s is not a rate. */
#define DIRTYRATE_MIN_CALC_TIME_MS 50
#define DIRTYRATE_MAX_CALC_TIME_MS 60000
/* Fewer than 128 samples per GiB gives intervals wider than the rate
 * itself for most guests; 16384 already reads 64 MiB per GiB twice. */
#define DIRTYRATE_MIN_SAMPLE_PAGES 128
#define DIRTYRATE_MAX_SAMPLE_PAGES 16384
#define DIRTYRATE_DEFAULT_SAMPLE_PAGES 512

/* ---- The pure estimator (no KVM, no threads, no clock). ---- */

/* A fast 64-bit hash of one 4 KiB page: any change of its content
 * changes the hash except with probability ~2^-64. */
uint64_t dirtyrate_page_hash(const void *page);

/* Samples for @nr_pages pages at @per_gib samples per GiB: at least 1,
 * at most @nr_pages. */
uint32_t dirtyrate_sample_count(uint64_t nr_pages, uint32_t per_gib);

/*
 * Stratified sample positions: the range [first_page, first_page +
 * nr_pages) is cut into @nr_samples equal strata and one page is drawn
 * uniformly in each from a generator seeded with @seed.  Unbiased for any
 * dirty set, and far tighter than independent draws when the dirty pages
 * are contiguous (a sequential writer leaves at most two partial strata).
 */
void dirtyrate_sample_positions(uint64_t first_page, uint64_t nr_pages,
                                uint32_t nr_samples, uint64_t seed,
                                uint64_t *pages);

typedef struct DirtyRateEstimate {
    uint64_t dirty_pages;       /* point estimate */
    uint64_t low_pages;         /* 95% interval */
    uint64_t high_pages;
} DirtyRateEstimate;

/*
 * @changed of @sampled pages changed in a population of @nr_pages: the
 * estimate of distinct dirty pages and its 95% Wilson score interval
 * (the binomial interval; conservative for stratified samples).
 */
DirtyRateEstimate dirtyrate_estimate(uint32_t changed, uint32_t sampled,
                                     uint64_t nr_pages);

/* Pages over a window -> MB/s (MB = 2^20); 0 for an empty window. */
double dirtyrate_pages_to_mbps(uint64_t pages, int64_t window_ns);
/* ... rounded to the nearest integer, as reported. */
int64_t dirtyrate_mbps_round(double mbps);

/*
 * Ground truth for a writer that stored @stores times into a region of
 * @region_pages pages: distinct pages written.  Sequential: min(stores,
 * region).  Random (uniform, independent): the expectation
 * N * (1 - (1 - 1/N)^k).
 */
double dirtyrate_expected_distinct_pages(uint64_t region_pages,
                                         uint64_t stores, bool random);

/* ---- Measurement (real KVM). ---- */

typedef struct DirtyRateConfig {
    DirtyRateMeasureMode mode;
    int64_t calc_time_ms;
    uint32_t sample_pages_per_gib;  /* page-sampling only */
} DirtyRateConfig;

typedef struct DirtyRateVcpuResult {
    uint64_t dirty_pages;       /* distinct pages this vCPU dirtied */
    uint64_t write_faults;      /* ring entries it pushed */
} DirtyRateVcpuResult;

typedef struct DirtyRateResult {
    DirtyRateMeasureMode mode;
    int64_t start_time_s;       /* wall clock, seconds since the epoch */
    int64_t window_ns;          /* the window actually measured */
    uint64_t dirty_pages;       /* distinct, VM-wide (estimated: sampling) */
    /* page-sampling */
    uint32_t sampled_pages;
    uint32_t changed_pages;
    uint64_t dirty_pages_low;
    uint64_t dirty_pages_high;
    /* dirty-ring */
    int nr_vcpus;               /* 0 in the other modes */
    uint64_t write_faults;      /* all vCPUs */
    DirtyRateVcpuResult vcpus[RS_MAX_CPUS];
} DirtyRateResult;

/*
 * Called at the two edges of the window (@window_end false, then true),
 * on the measuring thread, as close to them as the mode allows: how a
 * test or benchmark reads the guest's ground truth over the same window.
 */
typedef void (*DirtyRateWindowHook)(void *opaque, bool window_end);

/*
 * Check @cfg the way calc-dirty-rate does (QEMU's messages).
 * @has_sample_pages: the user gave sample-pages.
 */
bool dirtyrate_check_config(const DirtyRateConfig *cfg, bool has_sample_pages,
                            Error **errp);

/*
 * Measure once, on the caller's thread, blocking for the window.  Starts
 * and stops its own dirty tracking user (GLOBAL_DIRTY_DIRTY_RATE): never
 * disturbs another user.  The VM lock must not be held.  Ends early (and
 * fails) when dirtyrate_cleanup() runs.
 */
bool dirtyrate_measure(const DirtyRateConfig *cfg, DirtyRateWindowHook hook,
                       void *opaque, DirtyRateResult *out, Error **errp);

/* The async state of calc-dirty-rate (what query-dirty-rate shows). */
DirtyRateStatus dirtyrate_status(void);
/* The last result, if any measurement finished. */
bool dirtyrate_last_result(DirtyRateResult *out);

/* Teardown, before the vCPUs go: end and join a running measurement. */
void dirtyrate_cleanup(void);

/* HMP (migration/dirtyrate-hmp.c). */
void hmp_calc_dirty_rate(Monitor *mon, int argc, char **argv);
void hmp_info_dirty_rate(Monitor *mon, int argc, char **argv);
/* The text of "info dirty_rate" for @info: QEMU's lines, then ours. */
char *dirtyrate_format_info(const DirtyRateInfo *info);

#endif /* MIGRATION_DIRTYRATE_H */
