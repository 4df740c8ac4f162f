/*
 * When and how a migration holds the guest back so that it converges
 * (migration/convergence.c).  Four policies:
 *
 *   none           nothing
 *   auto-converge  QEMU's: every vCPU sleeps a growing percentage
 *   dirty-limit    QEMU's: every vCPU gets vcpu-dirty-limit MB/s
 *   adaptive       restraint's: a quota per writing vCPU, from the
 *                  bandwidth, the downtime target and its own rate
 *
 * The decisions are pure functions (tested with tables, no KVM); the
 * wrapper applies them through include/sysemu/dirtylimit.h with the VM
 * lock held, and lifts everything it set when the migration ends.
 */
#ifndef MIGRATION_CONVERGENCE_H
#define MIGRATION_CONVERGENCE_H

#include <stdint.h>

typedef enum ConvergencePolicy {
    CONVERGENCE_NONE,
    CONVERGENCE_AUTO,
    CONVERGENCE_DIRTY_LIMIT,
    CONVERGENCE_ADAPTIVE,
} ConvergencePolicy;

typedef struct ConvergenceParams {
    unsigned int throttle_initial_pct;
    unsigned int throttle_increment_pct;
    bool throttle_tailslow;
    unsigned int max_throttle_pct;
    unsigned int trigger_threshold_pct;
    uint64_t dirty_limit_period_ms;
    uint64_t vcpu_dirty_limit_mbps;
} ConvergenceParams;

/* What a sync period looked like (at each dirty-bitmap sync). */
typedef struct ConvergenceSync {
    uint64_t period_ms;
    uint64_t dirty_bytes;           /* dirtied during the period */
    uint64_t transferred_bytes;     /* sent during the period */
} ConvergenceSync;

/* ---- pure cores ------------------------------------------------------ */

/*
 * QEMU's trigger: true when the bytes dirtied in a period exceed
 * @threshold_pct % of the bytes sent in it for the second time in a row
 * (*@high_count counts, and is reset when it fires).
 */
bool convergence_trigger(unsigned int *high_count,
                         const ConvergenceSync *sync,
                         unsigned int threshold_pct);

/* auto-converge's next throttle percentage (QEMU's rule, tailslow too). */
unsigned int convergence_auto_next_pct(unsigned int now_pct,
                                       const ConvergenceParams *p,
                                       const ConvergenceSync *sync);

/* The adaptive policy's inputs for one decision. */
typedef struct AdaptiveInput {
    uint64_t budget_mbps;           /* dirty MB/s all vCPUs may share */
    int cpus;
    const uint64_t *rate_mbps;      /* each vCPU's measured dirty rate */
    const uint64_t *prev_quota_mbps;    /* 0: was not limited */
} AdaptiveInput;

/* Fraction of the stream's bandwidth the guest may dirty: 1/N. */
#define ADAPTIVE_INITIAL_SHARE_DIV  2
/* Never hold the guest below 1/N of the bandwidth. */
#define ADAPTIVE_MAX_SHARE_DIV      64

/*
 * Per-vCPU quotas (0 = not limited) sharing @in->budget_mbps max-min
 * fairly: a vCPU dirtying less than its fair share is left alone and its
 * unused share goes to the others; only those above their share are
 * held, at it.  A held vCPU still writing at >= half its quota counts as
 * wanting more.  Quotas are at least 1 MB/s.
 */
void convergence_adaptive_quotas(const AdaptiveInput *in,
                                 uint64_t *quota_mbps);

/*
 * The budget: @bandwidth_bytes_per_s of stream, of which a page costs
 * 4096 + 8 bytes, divided by @share_div.
 */
uint64_t convergence_adaptive_budget_mbps(uint64_t bandwidth_bytes_per_s,
                                          unsigned int share_div);

/*
 * After a pass: halve the guest's share (double @share_div) when the
 * dirty set did not shrink below 3/4 of what the pass sent.
 */
unsigned int convergence_adaptive_next_share(unsigned int share_div,
                                             uint64_t sent_pages,
                                             uint64_t dirty_pages);

/* ---- the wrapper (VM lock held) -------------------------------------- */

typedef struct ConvergenceState {
    ConvergencePolicy policy;
    ConvergenceParams params;
    bool started;
    unsigned int high_count;
    unsigned int throttle_pct;      /* auto-converge, 0 = off */
    bool dirty_limit_on;            /* dirty-limit quotas set */
    uint64_t dirty_limit_mbps;
    bool stat_started;              /* dirtyrate_stat_start() done */
    uint32_t saved_period_ms;
    unsigned int share_div;         /* adaptive */
    int cpus;
    uint64_t *quota_mbps;           /* adaptive, per vCPU, 0 = none */
} ConvergenceState;

bool convergence_start(ConvergenceState *cs, ConvergencePolicy policy,
                       const ConvergenceParams *params, Error **errp);
/* At each dirty-bitmap sync period of at least a second (QEMU's rule). */
void convergence_on_sync(ConvergenceState *cs, const ConvergenceSync *sync);
/* After each pass (adaptive's feedback). */
void convergence_on_pass(ConvergenceState *cs, uint64_t sent_pages,
                         uint64_t dirty_pages);
/* Periodically while the guest runs (adaptive follows the rates). */
void convergence_tick(ConvergenceState *cs, uint64_t bandwidth_bytes_per_s);
/* Lift every throttle and quota this migration set. */
void convergence_stop(ConvergenceState *cs);
unsigned int convergence_throttle_pct(const ConvergenceState *cs);
/* us for the fastest vCPU's ring to fill at its current rate; 0 if none. */
uint64_t convergence_ring_full_time_us(const ConvergenceState *cs);

/* us each limited vCPU slept per calculator period, on average. */
uint64_t convergence_throttle_time_us(const ConvergenceState *cs);

#endif /* MIGRATION_CONVERGENCE_H */
