/*
 * The dirty-limit controllers: pure functions of (quota, dirty-page
 * counter, clock, previous state) -> how long the vCPU thread sleeps now
 * and how long its next KVM_RUN slice may last.  No locks, no KVM, no
 * clock of their own: softmmu/dirtylimit.c and cpu-throttle.c feed them
 * (and hand their decisions to softmmu/vcpu-throttle.c), and
 * tests/unit/test-dirtylimit-controller.c drives them against a simulated
 * vCPU and a fake clock.  See docs/devel/dirty-limit.md for the picture.
 *
 * Two policies:
 *  - duty cycle (ours): the vCPU runs in short slices ended by a
 *    per-thread timer; before each slice it pays, by sleeping, the pages
 *    it dirtied beyond the quota (a debt in pages).  Holds any quota for
 *    any ring size.
 *  - ring-full (QEMU 7.1's published algorithm, the baseline): once a
 *    second, adjust a sleep that is taken only when the dirty ring fills.
 *
 * Run time is never plain wall time: a vCPU parked while the VM is
 * paused, or asleep at the guest's own request (the doorbell), is not
 * running and owes nothing for it.  cpu-throttle charges time inside
 * KVM_RUN (CPUState.guest_run_ns).  The duty cycle learns its vCPU's
 * rate over @active_ns, wall time less those two (CPUState.parked_ns,
 * doorbell_sleep_ns): its slices end on a wall-clock timer, so the rate
 * that sizes them counts what else a slice costs (the exit, the host
 * preempting the thread), as wall time does.  (Measured on a loaded
 * 2-core host: learning from KVM_RUN time alone made slices so short
 * that a 50 MB/s limit ran at 11-30 MB/s in 3 runs of 7.)
 *
 * Units: pages are 4 KiB, time is ns, quotas are pages/s internally and
 * MB/s (MB = 2^20 bytes) at the interface.
 */
#ifndef SYSEMU_DIRTYLIMIT_CONTROLLER_H
#define SYSEMU_DIRTYLIMIT_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "qemu/dirty-window.h"
#include "sysemu/vcpu-throttle.h"

/* Bytes per page the dirty ring reports. */
#define DIRTYLIMIT_PAGE_BYTES 4096ULL
/* MB/s -> pages/s: 2^20 / 2^12. */
#define DIRTYLIMIT_PAGES_PER_MB 256ULL
/*
 * Largest quota accepted, MB/s (2^24 MB/s = 16 TiB/s, far above any
 * memory bandwidth): in pages/s it is 2^32, and times 10^9 ns (< 2^30)
 * it still fits in 63 bits, so no conversion of a quota can overflow.
 */
#define DIRTYLIMIT_MAX_QUOTA_MBPS (1ULL << 24)

/*
 * What the vCPU thread does next; 0 fields mean "nothing".  The actuator's
 * type (include/sysemu/vcpu-throttle.h): a decision goes to it unchanged.
 */
typedef VcpuThrottleDecision DirtyLimitDecision;

/* What a controller reports to query-vcpu-dirty-limit. */
typedef struct DirtyLimitReport {
    uint64_t rate_pages_per_s;  /* over the last report window */
    double sleep_share;         /* 0..1 of that window spent asleep */
    int64_t measured_ns;        /* when that window ended; 0 = none yet */
} DirtyLimitReport;

/*
 * The report window: rates and sleep shares are averaged over 1 s, the
 * period QEMU's current-rate covers, so the numbers compare.
 */
#define DIRTYLIMIT_REPORT_WINDOW_NS 1000000000LL

typedef struct DirtyLimitWindow {
    int64_t start_ns;
    uint64_t pages;
    int64_t slept_ns;
    DirtyLimitReport last;
} DirtyLimitWindow;

/* ---- The duty-cycle controller (ours) ---- */

/*
 * What the duty cycle is fed: two monotonic counters of a vCPU.  @pages:
 * distinct pages per window, summed (dirty_window_total()); @carried: of
 * those, the pages its window before had too (dirty_window_carried()),
 * 0 where nothing is known of windows.
 */
typedef struct DirtyLimitCount {
    uint64_t pages;
    uint64_t carried;
} DirtyLimitCount;

/*
 * Carried pages (a hot set re-counted at each window start) are charged
 * spread over the window that counted them, in proportion to the time
 * gone in it, but no slower than the window before's pages spread so:
 * a hot set comes in a burst at the window's start and is spread; a
 * writer sweeping a region it rewrites within two windows brings its
 * carried pages all through the window and is charged as they come.
 * The window is the dirty window's: 1 s, aligned on the clock.  See
 * docs/devel/dirty-limit.md, "Carried pages".
 */
#define DIRTYLIMIT_CARRY_WINDOW_NS DIRTY_WINDOW_DEFAULT_NS

typedef struct DirtyLimitCtl {
    uint64_t quota_pages_per_s;
    int64_t last_ns;            /* time of the previous step */
    uint64_t last_dirty_pages;  /* counter at the previous step */
    uint64_t last_carried_pages;    /* carried counter, likewise */
    int64_t carry_window;       /* index of the window being charged */
    double carry_pages;         /* carried pages counted in it so far */
    double carry_charged;       /* of those, charged to the debt */
    /*
     * Pages counted in the window being charged and in the one before
     * (scaled to a whole window if the controller started in it; -1: not
     * seen enough): no more of a window's pages can be carried
     * than the window before counted, so carried pages are charged at
     * least as fast as that many spread over the window.
     */
    double window_pages;
    double prev_window_pages;
    int64_t window_seen_from_ns;    /* the first step in it, or its start */
    bool in_slice;              /* a slice began at dirtylimit_ctl_run() */
    int64_t slice_start_active_ns;  /* @active_ns when it began */
    /* Pages dirtied beyond the budget; negative: unused budget (credit). */
    double debt_pages;
    /* Peak-holding estimate of the dirty rate while in KVM_RUN. */
    double run_rate_pages_per_s;
    bool run_rate_measured;     /* false: still falling from the prior */
    int64_t run_floor_ns;       /* the shortest slice, for now */
    DirtyLimitWindow window;
} DirtyLimitCtl;

/*
 * Budget a slice may spend: quota x 5 ms.  A 1-second window can be off
 * by at most one slice, so this bounds the window error from slicing at
 * 0.5% wherever the slice is longer than DIRTYLIMIT_RUN_MIN_NS.
 */
#define DIRTYLIMIT_SLICE_BUDGET_NS 5000000LL
/*
 * Shortest slice.  Too short and the guest never retires a store: on
 * this host entering the guest and taking the write-protect fault costs
 * tens of us, and a timer firing during the fault sends the vCPU back
 * out with its store undone (measured: 10 us slices made no progress at
 * all, 30 us reached the quota).  50 us at 400 k pages/s (the earlier
 * host's tracked ceiling; ~60 k here) is at most 20 pages, 8% of a
 * second's budget at 1 MB/s.
 */
#define DIRTYLIMIT_RUN_MIN_NS 50000LL
/*
 * A slice that dirtied nothing doubles the shortest slice, up to 400 us,
 * in case a slower host needs more than 50 us to retire a store; a slice
 * that dirtied pages brings it back down.  An idle workload only sees
 * longer slices, which cost nothing.
 */
#define DIRTYLIMIT_RUN_FLOOR_MAX_NS 400000LL
/*
 * Longest slice: a vCPU with budget to spare (a quota above what it can
 * dirty) is interrupted only 50 times a second, ~0.2% of its time.
 */
#define DIRTYLIMIT_RUN_MAX_NS 20000000LL
/*
 * Unused budget kept: 50 ms of quota.  A vCPU thread the host deschedules
 * (CFS slices on a busy host are 3-24 ms) gets that time back instead of
 * losing it, and a workload that stops and restarts bursts by at most 5%
 * of a second's budget.  (10 ms lost ~10% at 500 MB/s at load 4 on 2
 * cores, on the earlier host: no vCPU here dirties 500 MB/s.)
 */
#define DIRTYLIMIT_CREDIT_MAX_NS 50000000LL
/*
 * Debt beyond 2 s of quota is forgiven.  It cannot build up in steady
 * state (every slice is bounded by its timer); this only keeps a counter
 * jump from sleeping a vCPU for minutes.
 */
#define DIRTYLIMIT_DEBT_MAX_NS 2000000000LL
/* Longest single sleep: the actuator's, see there. */
#define DIRTYLIMIT_SLEEP_MAX_NS VCPU_THROTTLE_SLEEP_MAX_NS
/*
 * Before the vCPU has been seen running, assume it dirties 10^6
 * pages/s, faster than any vCPU here (~6 x 10^4 with tracking on under
 * kvm_pvm, ~4 x 10^5 on hosts with cheaper write-protect faults), so the
 * first slice cannot overshoot.  The measured slices then replace the
 * prior within a few slices: decaying from it took seconds, and slices
 * sized for it cost a vCPU near its quota ~15% of its speed in exits
 * (200 MB/s held at 163-195 MB/s for the first 2.5 s, and below its
 * ceiling for longer: tests/unit/test-dirtylimit-controller.c,
 * slices-fit-the-vcpu-from-the-start).
 */
#define DIRTYLIMIT_RATE_PRIOR_PAGES_PER_S 1000000.0
/*
 * Until a slice measures at least the estimate, the estimate falls by at
 * most this factor per slice: 10^6 reaches 6 x 10^4 pages/s in 3 slices,
 * and a slice the host stalled (a rate ~500 times too low) shortens the
 * next slice's run only 4-fold (a-stalled-first-slice-is-no-measure).
 */
#define DIRTYLIMIT_RATE_PRIOR_FALL 4.0
/*
 * The running-rate estimate jumps up at once (peak hold) and decays
 * toward slower measurements with a 2 s time constant: a vCPU that
 * speeds up is caught in one slice, one that slows gets longer slices
 * within seconds.
 */
#define DIRTYLIMIT_RATE_DECAY_NS 2000000000LL
/* Slices shorter than this (EINTR before entering the guest) say
 * nothing about the rate. */
#define DIRTYLIMIT_RATE_SAMPLE_MIN_NS 5000LL

void dirtylimit_ctl_init(DirtyLimitCtl *c, uint64_t quota_pages_per_s,
                         int64_t now_ns, DirtyLimitCount count);
/* A new quota: the debt starts again from zero, the rate estimate stays. */
void dirtylimit_ctl_set_quota(DirtyLimitCtl *c, uint64_t quota_pages_per_s);
/*
 * Account the pages dirtied since the previous step (@count: the vCPU's
 * monotonic counters, freshly harvested; @active_ns its active clock,
 * see above) and decide.  Fresh pages are charged at once, carried ones
 * spread over their window (DIRTYLIMIT_CARRY_WINDOW_NS).  When the
 * decision has no sleep, the caller runs the slice: call
 * dirtylimit_ctl_run() when entering it.
 */
DirtyLimitDecision dirtylimit_ctl_step(DirtyLimitCtl *c, int64_t now_ns,
                                       DirtyLimitCount count,
                                       int64_t active_ns);
void dirtylimit_ctl_slept(DirtyLimitCtl *c, int64_t slept_ns);
void dirtylimit_ctl_run(DirtyLimitCtl *c, int64_t active_ns);

/* ---- The ring-full baseline (QEMU 7.1's published algorithm) ---- */

typedef struct DirtyLimitRingFullCtl {
    uint64_t quota_mbps;
    uint32_t ring_entries;
    int64_t throttle_us_per_full;   /* sleep at each ring-full exit */
    uint64_t max_rate_mbps;         /* fastest rate ever measured */
    int64_t period_start_ns;
    uint64_t period_start_pages;
    uint64_t last_dirty_pages;      /* counter at the previous step */
    uint64_t fill_start_pages;      /* counter when the ring was empty */
    int64_t owed_sleep_ns;          /* ring-full sleeps not yet taken */
    uint64_t last_rate_mbps;
    DirtyLimitWindow window;
} DirtyLimitRingFullCtl;

/* Its controller runs once a second, on the rate of that second. */
#define DIRTYLIMIT_RINGFULL_PERIOD_NS 1000000000LL
/* It stops adjusting when within 25 MB/s of the quota. */
#define DIRTYLIMIT_RINGFULL_TOLERANCE_MBPS 25
/* Above 50% off, it steps in proportion; below, by 1/10 ring-fill time. */
#define DIRTYLIMIT_RINGFULL_LINEAR_PCT 50
#define DIRTYLIMIT_RINGFULL_SMALL_STEP_DIVISOR 10
/* Its sleep is at most 99 ring-fill times. */
#define DIRTYLIMIT_RINGFULL_MAX_FILLS 99

/*
 * It looks at the vCPU every 10 ms to see whether its ring has filled
 * (one ring_entries pages since the last fill): at full speed a
 * 1024-entry ring fills in ~2.5 ms, so several fills may be due at once;
 * they are all slept, as QEMU would have at each.
 */
#define DIRTYLIMIT_RINGFULL_POLL_NS 10000000LL

void dirtylimit_ringfull_init(DirtyLimitRingFullCtl *c, uint64_t quota_mbps,
                              uint32_t ring_entries, int64_t now_ns,
                              uint64_t dirty_pages);
/* Its once-a-second adjustment, given that second's rate. */
void dirtylimit_ringfull_adjust(DirtyLimitRingFullCtl *c,
                                uint64_t current_mbps);
DirtyLimitDecision dirtylimit_ringfull_step(DirtyLimitRingFullCtl *c,
                                            int64_t now_ns,
                                            uint64_t dirty_pages);
void dirtylimit_ringfull_slept(DirtyLimitRingFullCtl *c, int64_t slept_ns);

/* ---- auto-converge's percentage throttle (softmmu/cpu-throttle.c) ---- */

/*
 * QEMU's time slice: a vCPU runs 10 ms, then sleeps pct/(100-pct) of it.
 * A step charges at most one slice of run time, so one step never owes
 * more than one slice's sleep (990 ms at 99%), as QEMU's timer adds one
 * slice's sleep per tick.  Run time beyond the slice (a KVM_RUN the host
 * preempted past its timer) is carried to the next slice, up to one
 * slice: a slice no timer ended, or a counter jump, costs two slices'
 * sleep at most, not minutes.
 */
#define CPU_THROTTLE_TIMESLICE_NS 10000000LL
#define CPU_THROTTLE_PCT_MIN 1
#define CPU_THROTTLE_PCT_MAX 99

typedef struct CpuThrottleVcpu {
    int64_t last_run_ns;    /* guest_run_ns at the previous step */
    int64_t ran_ns;         /* run time not yet paid for */
    int64_t owed_sleep_ns;  /* sleep decided, not yet taken */
} CpuThrottleVcpu;

/* The throttle starts acting on a vCPU at @guest_run_ns. */
void cpu_throttle_start(CpuThrottleVcpu *v, int64_t guest_run_ns);
DirtyLimitDecision cpu_throttle_step(CpuThrottleVcpu *v, int percentage,
                                     int64_t guest_run_ns);
void cpu_throttle_slept(CpuThrottleVcpu *v, int64_t slept_ns);

/* A helper shared by both policies and the tests. */
void dirtylimit_window_account(DirtyLimitWindow *w, int64_t now_ns,
                               uint64_t pages, int64_t slept_ns);

#endif /* SYSEMU_DIRTYLIMIT_CONTROLLER_H */
