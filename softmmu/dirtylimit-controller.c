/*
 * The dirty-limit controllers, pure: no locks, no KVM, no clock.
 * See include/sysemu/dirtylimit-controller.h for the contract and the
 * constants' reasons, docs/devel/dirty-limit.md for the picture.
 */
#include "qemu/osdep.h"

#include "sysemu/dirtylimit-controller.h"

static double ns_to_s(int64_t ns)
{
    return (double)ns / NANOSECONDS_PER_SECOND;
}

void dirtylimit_window_account(DirtyLimitWindow *w, int64_t now_ns,
                               uint64_t pages, int64_t slept_ns)
{
    int64_t span_ns;

    w->pages += pages;
    w->slept_ns += slept_ns;
    span_ns = now_ns - w->start_ns;
    if (span_ns < DIRTYLIMIT_REPORT_WINDOW_NS) {
        return;
    }
    w->last.rate_pages_per_s = (uint64_t)(w->pages / ns_to_s(span_ns));
    w->last.sleep_share = MIN(1.0, (double)w->slept_ns / span_ns);
    w->last.measured_ns = now_ns;
    w->start_ns = now_ns;
    w->pages = 0;
    w->slept_ns = 0;
}

static void dirtylimit_window_init(DirtyLimitWindow *w, int64_t now_ns)
{
    memset(w, 0, sizeof(*w));
    w->start_ns = now_ns;
}

/* ---- duty cycle ---- */

static int64_t dirtylimit_carry_window(int64_t now_ns)
{
    return MAX(now_ns, 0) / DIRTYLIMIT_CARRY_WINDOW_NS;
}

void dirtylimit_ctl_init(DirtyLimitCtl *c, uint64_t quota_pages_per_s,
                         int64_t now_ns, DirtyLimitCount count)
{
    memset(c, 0, sizeof(*c));
    c->quota_pages_per_s = quota_pages_per_s;
    c->last_ns = now_ns;
    c->last_dirty_pages = count.pages;
    c->last_carried_pages = count.carried;
    c->carry_window = dirtylimit_carry_window(now_ns);
    c->window_seen_from_ns = now_ns;
    /* The window before it was not seen at all. */
    c->prev_window_pages = -1;
    c->run_rate_pages_per_s = DIRTYLIMIT_RATE_PRIOR_PAGES_PER_S;
    c->run_floor_ns = DIRTYLIMIT_RUN_MIN_NS;
    dirtylimit_window_init(&c->window, now_ns);
}

void dirtylimit_ctl_set_quota(DirtyLimitCtl *c, uint64_t quota_pages_per_s)
{
    c->quota_pages_per_s = quota_pages_per_s;
    c->debt_pages = 0;
}

/* Learn the running rate from the slice that just ended. */
static void dirtylimit_ctl_learn(DirtyLimitCtl *c, int64_t active_ns,
                                 int64_t elapsed_ns, uint64_t pages)
{
    int64_t run_ns;
    double sample_pages_per_s, weight;

    if (!c->in_slice) {
        return;
    }
    /* Not wall time: a pause or a doorbell sleep dirties nothing and
     * must not read as a slow vCPU. */
    run_ns = active_ns - c->slice_start_active_ns;
    /*
     * A slice that dirtied nothing: the workload paused, or the slice
     * was too short to retire a store.  Keep the rate estimate for when
     * it restarts, and try longer slices.
     */
    if (pages == 0) {
        c->run_floor_ns = MIN(c->run_floor_ns * 2,
                              DIRTYLIMIT_RUN_FLOOR_MAX_NS);
        return;
    }
    c->run_floor_ns = DIRTYLIMIT_RUN_MIN_NS;
    if (run_ns < DIRTYLIMIT_RATE_SAMPLE_MIN_NS) {
        return;
    }
    sample_pages_per_s = pages / ns_to_s(run_ns);
    if (!c->run_rate_measured) {
        /*
         * The prior is no measurement: fall to the vCPU's own rate
         * within slices, not seconds, but by at most a factor per
         * slice, so that a first slice the host stalled cannot make
         * the next one long.
         */
        c->run_rate_pages_per_s = MAX(sample_pages_per_s,
                                      c->run_rate_pages_per_s /
                                      DIRTYLIMIT_RATE_PRIOR_FALL);
        c->run_rate_measured =
            c->run_rate_pages_per_s == sample_pages_per_s;
        return;
    }
    if (sample_pages_per_s >= c->run_rate_pages_per_s) {
        c->run_rate_pages_per_s = sample_pages_per_s;
        return;
    }
    weight = MIN(1.0, (double)elapsed_ns / DIRTYLIMIT_RATE_DECAY_NS);
    c->run_rate_pages_per_s -= (c->run_rate_pages_per_s -
                                sample_pages_per_s) * weight;
}

/*
 * The pages the window before @window counted, as if seen whole: a
 * window the controller saw only the end of (it started in it) is
 * scaled up to its full length; -1 when it saw too little of it to say.
 */
static double dirtylimit_ctl_window_seen(const DirtyLimitCtl *c,
                                         int64_t window)
{
    int64_t end_ns = (c->carry_window + 1) * DIRTYLIMIT_CARRY_WINDOW_NS;
    int64_t seen_ns = end_ns - c->window_seen_from_ns;

    if (window != c->carry_window + 1) {
        return 0;               /* a whole window went by without a step */
    }
    if (seen_ns < DIRTYLIMIT_CARRY_WINDOW_NS / 10) {
        return -1;
    }
    return c->window_pages * DIRTYLIMIT_CARRY_WINDOW_NS / seen_ns;
}

/*
 * Of @pages new since the previous step, @carried were carried: the
 * pages to charge now.  Fresh pages in full; carried ones by the share
 * of their window gone, the rest of a window once it has ended.  A
 * window's carried pages are all charged by its end, so a window is
 * charged all its pages, as before; only their timing changes: a hot
 * set re-counted at a window start is paid over the window instead of
 * in one burst beyond the credit.
 */
static double dirtylimit_ctl_charge(DirtyLimitCtl *c, int64_t now_ns,
                                    uint64_t pages, uint64_t carried)
{
    int64_t window = dirtylimit_carry_window(now_ns);
    double charge = (double)(pages - carried);
    double gone, due;

    if (window != c->carry_window) {
        charge += c->carry_pages - c->carry_charged;
        c->prev_window_pages = dirtylimit_ctl_window_seen(c, window);
        c->carry_window = window;
        c->carry_pages = 0;
        c->carry_charged = 0;
        c->window_pages = 0;
        c->window_seen_from_ns = window * DIRTYLIMIT_CARRY_WINDOW_NS;
    }
    c->window_pages += (double)pages;
    c->carry_pages += (double)carried;
    gone = (double)(MAX(now_ns, 0) - window * DIRTYLIMIT_CARRY_WINDOW_NS) /
           DIRTYLIMIT_CARRY_WINDOW_NS;
    /* Spread, but never slower than the window before's pages would be. */
    due = c->prev_window_pages < 0 ? c->carry_pages :
          MIN(c->carry_pages,
              MAX(c->carry_pages, c->prev_window_pages) * gone);
    if (due > c->carry_charged) {
        charge += due - c->carry_charged;
        c->carry_charged = due;
    }
    return charge;
}

DirtyLimitDecision dirtylimit_ctl_step(DirtyLimitCtl *c, int64_t now_ns,
                                       DirtyLimitCount count,
                                       int64_t active_ns)
{
    DirtyLimitDecision d = { 0, 0 };
    double quota = (double)c->quota_pages_per_s;
    int64_t elapsed_ns = MAX(now_ns - c->last_ns, 0);
    /* The counters may read a page low, then right: never negative. */
    uint64_t pages = count.pages > c->last_dirty_pages ?
                     count.pages - c->last_dirty_pages : 0;
    uint64_t carried = count.carried > c->last_carried_pages ?
                       count.carried - c->last_carried_pages : 0;
    double credit_max_pages = quota * ns_to_s(DIRTYLIMIT_CREDIT_MAX_NS);
    double debt_max_pages = quota * ns_to_s(DIRTYLIMIT_DEBT_MAX_NS);
    double run_pages, run_ns;

    /* Carried pages are some of the new ones, never more. */
    carried = MIN(carried, pages);
    dirtylimit_ctl_learn(c, active_ns, elapsed_ns, pages);
    c->in_slice = false;
    c->last_ns = now_ns;
    c->last_dirty_pages = MAX(c->last_dirty_pages, count.pages);
    c->last_carried_pages = MAX(c->last_carried_pages, count.carried);
    dirtylimit_window_account(&c->window, now_ns, pages, 0);

    /* The integral: pages charged minus the budget of the elapsed time. */
    c->debt_pages += dirtylimit_ctl_charge(c, now_ns, pages, carried) -
                     quota * ns_to_s(elapsed_ns);
    c->debt_pages = MAX(c->debt_pages, -credit_max_pages);
    c->debt_pages = MIN(c->debt_pages, debt_max_pages);
    if (quota <= 0) {
        return d;
    }

    if (c->debt_pages > 0) {
        /* Pay the debt: the time the budget takes to cover it. */
        double sleep_ns = c->debt_pages / quota * NANOSECONDS_PER_SECOND;

        d.sleep_ns = (int64_t)MIN(sleep_ns, (double)DIRTYLIMIT_SLEEP_MAX_NS);
        if (d.sleep_ns > 0) {
            return d;
        }
    }

    /*
     * Run: spend the credit, or one slice's budget, whichever is more,
     * at the fastest rate this vCPU has shown.
     */
    run_pages = MAX(-c->debt_pages,
                    quota * ns_to_s(DIRTYLIMIT_SLICE_BUDGET_NS));
    run_ns = run_pages / c->run_rate_pages_per_s * NANOSECONDS_PER_SECOND;
    run_ns = MAX(run_ns, (double)c->run_floor_ns);
    run_ns = MIN(run_ns, (double)DIRTYLIMIT_RUN_MAX_NS);
    d.run_ns = (int64_t)run_ns;
    return d;
}

void dirtylimit_ctl_slept(DirtyLimitCtl *c, int64_t slept_ns)
{
    c->window.slept_ns += MAX(slept_ns, 0);
}

void dirtylimit_ctl_run(DirtyLimitCtl *c, int64_t active_ns)
{
    c->in_slice = true;
    c->slice_start_active_ns = active_ns;
}

/* ---- ring-full: QEMU 7.1's algorithm ---- */

void dirtylimit_ringfull_init(DirtyLimitRingFullCtl *c, uint64_t quota_mbps,
                              uint32_t ring_entries, int64_t now_ns,
                              uint64_t dirty_pages)
{
    memset(c, 0, sizeof(*c));
    c->quota_mbps = quota_mbps;
    c->ring_entries = ring_entries;
    c->period_start_ns = now_ns;
    c->period_start_pages = dirty_pages;
    c->last_dirty_pages = dirty_pages;
    c->fill_start_pages = dirty_pages;
    dirtylimit_window_init(&c->window, now_ns);
}

static uint64_t abs_diff_u64(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

void dirtylimit_ringfull_adjust(DirtyLimitRingFullCtl *c,
                                uint64_t current_mbps)
{
    uint64_t quota = c->quota_mbps;
    uint64_t ring_mb = (uint64_t)c->ring_entries * DIRTYLIMIT_PAGE_BYTES /
                       MiB;
    uint64_t larger = MAX(quota, current_mbps);
    int64_t fill_us, step_us;

    /* Close enough: leave the sleep alone. */
    if (abs_diff_u64(quota, current_mbps) <=
        DIRTYLIMIT_RINGFULL_TOLERANCE_MBPS) {
        return;
    }
    /* Nothing dirtied this second: no sleep at all. */
    if (current_mbps == 0) {
        c->throttle_us_per_full = 0;
        return;
    }
    c->max_rate_mbps = MAX(c->max_rate_mbps, current_mbps);
    /* How long the fastest vCPU seen takes to fill the ring. */
    fill_us = (int64_t)(ring_mb * 1000000 / c->max_rate_mbps);

    if (abs_diff_u64(quota, current_mbps) * 100 / larger >
        DIRTYLIMIT_RINGFULL_LINEAR_PCT) {
        /* Far off: a step in proportion to the share of time to sleep. */
        uint64_t pct = abs_diff_u64(quota, current_mbps) * 100 / larger;

        step_us = (int64_t)((double)fill_us * pct / (100 - pct));
    } else {
        step_us = fill_us / DIRTYLIMIT_RINGFULL_SMALL_STEP_DIVISOR;
    }
    c->throttle_us_per_full += quota < current_mbps ? step_us : -step_us;
    c->throttle_us_per_full = MIN(c->throttle_us_per_full,
                                  fill_us * DIRTYLIMIT_RINGFULL_MAX_FILLS);
    c->throttle_us_per_full = MAX(c->throttle_us_per_full, 0);
}

DirtyLimitDecision dirtylimit_ringfull_step(DirtyLimitRingFullCtl *c,
                                            int64_t now_ns,
                                            uint64_t dirty_pages)
{
    DirtyLimitDecision d = { 0, 0 };
    int64_t period_ns = now_ns - c->period_start_ns;
    uint64_t fills;

    dirty_pages = MAX(dirty_pages, c->last_dirty_pages);
    dirtylimit_window_account(&c->window, now_ns,
                              dirty_pages - c->last_dirty_pages, 0);
    c->last_dirty_pages = dirty_pages;
    if (period_ns >= DIRTYLIMIT_RINGFULL_PERIOD_NS) {
        uint64_t pages = dirty_pages - c->period_start_pages;

        c->last_rate_mbps = (uint64_t)(pages * DIRTYLIMIT_PAGE_BYTES /
                                       (double)MiB / ns_to_s(period_ns));
        dirtylimit_ringfull_adjust(c, c->last_rate_mbps);
        c->period_start_ns = now_ns;
        c->period_start_pages = dirty_pages;
    }
    /*
     * It sleeps only when the ring fills: once per ring_entries pages
     * dirtied.  (restraint's reaper empties rings every 10 ms, so real
     * ring-full exits are rare; QEMU harvests once a second.  Counting
     * fills from the pages keeps QEMU's behaviour whatever our reaper
     * does.)
     */
    fills = (dirty_pages - c->fill_start_pages) / c->ring_entries;
    if (fills) {
        c->owed_sleep_ns += (int64_t)fills * c->throttle_us_per_full * 1000;
        c->fill_start_pages += fills * c->ring_entries;
    }
    d.sleep_ns = c->owed_sleep_ns;
    if (!d.sleep_ns) {
        d.run_ns = DIRTYLIMIT_RINGFULL_POLL_NS;
    }
    return d;
}

void dirtylimit_ringfull_slept(DirtyLimitRingFullCtl *c, int64_t slept_ns)
{
    c->owed_sleep_ns = MAX(c->owed_sleep_ns - MAX(slept_ns, 0), 0);
    c->window.slept_ns += MAX(slept_ns, 0);
}

/* ---- auto-converge: QEMU's time-slice percentage throttle ---- */

void cpu_throttle_start(CpuThrottleVcpu *v, int64_t guest_run_ns)
{
    memset(v, 0, sizeof(*v));
    v->last_run_ns = guest_run_ns;
}

DirtyLimitDecision cpu_throttle_step(CpuThrottleVcpu *v, int percentage,
                                     int64_t guest_run_ns)
{
    DirtyLimitDecision d = { 0, 0 };

    v->ran_ns += MAX(guest_run_ns - v->last_run_ns, 0);
    v->last_run_ns = MAX(v->last_run_ns, guest_run_ns);
    if (percentage <= 0) {
        v->ran_ns = 0;
        v->owed_sleep_ns = 0;
        return d;
    }
    percentage = MIN(percentage, CPU_THROTTLE_PCT_MAX);
    if (v->ran_ns >= CPU_THROTTLE_TIMESLICE_NS) {
        /* One slice's sleep at most: see CPU_THROTTLE_TIMESLICE_NS. */
        v->owed_sleep_ns += CPU_THROTTLE_TIMESLICE_NS * percentage /
                            (100 - percentage);
        v->ran_ns = MIN(v->ran_ns - CPU_THROTTLE_TIMESLICE_NS,
                        CPU_THROTTLE_TIMESLICE_NS);
    }
    d.sleep_ns = v->owed_sleep_ns;
    if (!d.sleep_ns) {
        d.run_ns = CPU_THROTTLE_TIMESLICE_NS - v->ran_ns;
    }
    return d;
}

void cpu_throttle_slept(CpuThrottleVcpu *v, int64_t slept_ns)
{
    v->owed_sleep_ns = MAX(v->owed_sleep_ns - MAX(slept_ns, 0), 0);
}
