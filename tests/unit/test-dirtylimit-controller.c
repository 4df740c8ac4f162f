/*
 * The dirty-limit controllers against a simulated vCPU and a fake clock:
 * no KVM, no sleeping.
 *
 * The simulated vCPU dirties pages at a given rate while it runs.  A
 * slice ends when the controller's timer fires plus a kick latency
 * (jittered, from a fixed seed), or when its dirty ring fills, whichever
 * is first.  Under the duty-cycle policy the vCPU harvests its ring
 * before each step, so the controller sees the exact count; the
 * ring-full baseline sees what a reaper harvested every 10 ms.  Pages are
 * binned into 1-second windows of the fake clock: the ground truth the
 * targets are checked against.
 */
#include "qemu/osdep.h"

#include <math.h>

#include "sysemu/dirtylimit-controller.h"

#define SIM_SEED 20261122u
/* Entries KVM keeps free before it exits with DIRTY_RING_FULL. */
#define SIM_RING_RESERVE 64
/* Kick latency measured here: 25-50 us. */
#define SIM_KICK_LATENCY_MIN_NS 25000
#define SIM_KICK_LATENCY_SPREAD_NS 25000
/* One vCPU writing at full speed with tracking on: ~400 k pages/s. */
#define SIM_FULL_SPEED_PAGES_PER_S 400000.0
#define SIM_MAX_WINDOWS 64
#define SIM_REAPER_PERIOD_NS 10000000LL

typedef struct SimVcpu {
    int64_t now_ns;
    double rate_pages_per_s;    /* while running */
    uint32_t ring_entries;
    double dirty_pages;         /* exact, fractional */
    double ring_pending_pages;  /* in the ring, not yet harvested */
    uint64_t ring_full_exits;
    uint32_t rng;
    double window_pages[SIM_MAX_WINDOWS];
    double window_slept_ns[SIM_MAX_WINDOWS];
    int64_t max_sleep_ns;
    int64_t min_run_ns, max_run_ns;
    uint64_t slices;
    /* The host descheduling the vCPU thread: every Nth slice, a stall. */
    uint64_t stall_every_slices;
    int64_t stall_ns;
} SimVcpu;

static void sim_init(SimVcpu *s, double rate_pages_per_s, uint32_t ring)
{
    memset(s, 0, sizeof(*s));
    s->rate_pages_per_s = rate_pages_per_s;
    s->ring_entries = ring;
    s->rng = SIM_SEED;
    s->min_run_ns = INT64_MAX;
}

static int64_t sim_latency_ns(SimVcpu *s)
{
    s->rng = s->rng * 1103515245u + 12345u;
    return SIM_KICK_LATENCY_MIN_NS +
           (s->rng >> 8) % SIM_KICK_LATENCY_SPREAD_NS;
}

/* Advance the clock by @ns, running (dirtying) or asleep. */
static void sim_advance(SimVcpu *s, int64_t ns, bool running)
{
    while (ns > 0) {
        int w = (int)(s->now_ns / NANOSECONDS_PER_SECOND);
        int64_t to_edge = (w + 1) * NANOSECONDS_PER_SECOND - s->now_ns;
        int64_t piece = MIN(ns, to_edge);

        g_assert_cmpint(w, <, SIM_MAX_WINDOWS);
        if (running) {
            double pages = s->rate_pages_per_s * piece /
                           NANOSECONDS_PER_SECOND;

            s->dirty_pages += pages;
            s->ring_pending_pages += pages;
            s->window_pages[w] += pages;
        } else {
            s->window_slept_ns[w] += piece;
        }
        s->now_ns += piece;
        ns -= piece;
    }
}

/* How long the vCPU can run before its ring fills. */
static int64_t sim_ring_fill_ns(const SimVcpu *s)
{
    double room = s->ring_entries - SIM_RING_RESERVE - s->ring_pending_pages;

    if (s->rate_pages_per_s <= 0) {
        return INT64_MAX;
    }
    return (int64_t)(MAX(room, 1.0) / s->rate_pages_per_s *
                     NANOSECONDS_PER_SECOND) + 1;
}

/* Run the duty-cycle controller until the fake clock reaches @until_ns. */
static void sim_run_duty(SimVcpu *s, DirtyLimitCtl *c, int64_t until_ns)
{
    while (s->now_ns < until_ns) {
        DirtyLimitDecision d;
        int64_t run_ns;

        /* The vCPU harvests its own ring: the count is exact. */
        s->ring_pending_pages = 0;
        d = dirtylimit_ctl_step(c, s->now_ns, (uint64_t)s->dirty_pages);
        g_assert_cmpint(d.sleep_ns, >=, 0);
        if (d.sleep_ns) {
            s->max_sleep_ns = MAX(s->max_sleep_ns, d.sleep_ns);
            sim_advance(s, d.sleep_ns, false);
            dirtylimit_ctl_slept(c, d.sleep_ns);
            continue;
        }
        s->min_run_ns = MIN(s->min_run_ns, d.run_ns);
        s->max_run_ns = MAX(s->max_run_ns, d.run_ns);
        s->slices++;
        dirtylimit_ctl_run(c, s->now_ns);
        run_ns = d.run_ns + sim_latency_ns(s);
        if (sim_ring_fill_ns(s) < run_ns) {
            run_ns = sim_ring_fill_ns(s);
            s->ring_full_exits++;
        }
        sim_advance(s, run_ns, true);
        if (s->stall_every_slices && s->slices % s->stall_every_slices == 0) {
            /* Descheduled: time passes, nothing is dirtied or slept. */
            s->now_ns += s->stall_ns;
        }
    }
}

static DirtyLimitCtl sim_start_duty(SimVcpu *s, uint64_t quota_mbps)
{
    DirtyLimitCtl c;

    dirtylimit_ctl_init(&c, quota_mbps * DIRTYLIMIT_PAGES_PER_MB, s->now_ns,
                        (uint64_t)s->dirty_pages);
    return c;
}

static double window_error(const SimVcpu *s, int w, uint64_t quota_mbps)
{
    double quota_pages = (double)quota_mbps * DIRTYLIMIT_PAGES_PER_MB;

    return fabs(s->window_pages[w] - quota_pages) / quota_pages;
}

static double mean_error(const SimVcpu *s, int from, int to,
                         uint64_t quota_mbps)
{
    double pages = 0;

    for (int w = from; w < to; w++) {
        pages += s->window_pages[w];
    }
    return fabs(pages / (to - from) - quota_mbps * DIRTYLIMIT_PAGES_PER_MB) /
           (quota_mbps * DIRTYLIMIT_PAGES_PER_MB);
}

/* ---- the table of targets: every quota on every ring ---- */

typedef struct HoldCase {
    uint64_t quota_mbps;
    uint32_t ring_entries;
} HoldCase;

static const uint64_t hold_quotas_mbps[] = { 1, 10, 50, 200, 500 };
static const uint32_t hold_rings[] = { 1024, 4096, 65536 };

static void test_holds_every_quota_on_every_ring(void)
{
    for (size_t q = 0; q < G_N_ELEMENTS(hold_quotas_mbps); q++) {
        for (size_t r = 0; r < G_N_ELEMENTS(hold_rings); r++) {
            uint64_t quota = hold_quotas_mbps[q];
            SimVcpu s;
            DirtyLimitCtl c;
            double worst = 0;

            sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, hold_rings[r]);
            c = sim_start_duty(&s, quota);
            sim_run_duty(&s, &c, 11 * NANOSECONDS_PER_SECOND);
            /* Settled within 10% in the first second ... */
            g_assert_cmpfloat(window_error(&s, 0, quota), <=, 0.10);
            /* ... then no 1-s window off by 15%, the mean within 5%. */
            for (int w = 1; w < 11; w++) {
                worst = MAX(worst, window_error(&s, w, quota));
            }
            g_test_message("quota %3" PRIu64 " MB/s ring %5u: first %.1f%%, "
                           "worst %.1f%%, mean %.2f%%, slices %" PRIu64,
                           quota, hold_rings[r],
                           100 * window_error(&s, 0, quota), 100 * worst,
                           100 * mean_error(&s, 1, 11, quota), s.slices);
            g_assert_cmpfloat(worst, <=, 0.15);
            g_assert_cmpfloat(mean_error(&s, 1, 11, quota), <=, 0.05);
        }
    }
}

static void test_converges_from_above(void)
{
    /* A vCPU at full speed, limited to 50 MB/s while it writes. */
    SimVcpu s;
    DirtyLimitCtl c;

    sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, 4096);
    sim_advance(&s, NANOSECONDS_PER_SECOND, true);
    g_assert_cmpfloat(window_error(&s, 0, 50), >, 10);
    c = sim_start_duty(&s, 50);
    sim_run_duty(&s, &c, 4 * NANOSECONDS_PER_SECOND);
    for (int w = 1; w < 4; w++) {
        g_assert_cmpfloat(window_error(&s, w, 50), <=, 0.10);
    }
}

static void test_converges_from_below(void)
{
    /* A vCPU slower than its quota is left alone, then speeds up. */
    SimVcpu s;
    DirtyLimitCtl c;

    sim_init(&s, 25 * DIRTYLIMIT_PAGES_PER_MB, 4096);
    c = sim_start_duty(&s, 50);
    sim_run_duty(&s, &c, 3 * NANOSECONDS_PER_SECOND);
    for (int w = 0; w < 3; w++) {
        g_assert_cmpfloat(s.window_slept_ns[w], ==, 0);
        g_assert_cmpfloat(window_error(&s, w, 25), <=, 0.01);
    }
    s.rate_pages_per_s = SIM_FULL_SPEED_PAGES_PER_S;
    sim_run_duty(&s, &c, 6 * NANOSECONDS_PER_SECOND);
    for (int w = 3; w < 6; w++) {
        g_assert_cmpfloat(window_error(&s, w, 50), <=, 0.10);
    }
}

static void test_never_exceeds_its_bounds(void)
{
    for (size_t q = 0; q < G_N_ELEMENTS(hold_quotas_mbps); q++) {
        SimVcpu s;
        DirtyLimitCtl c;

        sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, 65536);
        c = sim_start_duty(&s, hold_quotas_mbps[q]);
        sim_run_duty(&s, &c, 3 * NANOSECONDS_PER_SECOND);
        g_assert_cmpint(s.max_sleep_ns, <=, DIRTYLIMIT_SLEEP_MAX_NS);
        g_assert_cmpint(s.min_run_ns, >=, DIRTYLIMIT_RUN_MIN_NS);
        g_assert_cmpint(s.max_run_ns, <=, DIRTYLIMIT_RUN_MAX_NS);
    }
}

typedef struct ChangeCase {
    uint64_t from_mbps, to_mbps;
} ChangeCase;

static const ChangeCase change_cases[] = {
    { 500, 50 }, { 50, 500 }, { 1, 500 }, { 500, 1 },
};

static void test_follows_quota_changes(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(change_cases); i++) {
        const ChangeCase *cc = &change_cases[i];
        SimVcpu s;
        DirtyLimitCtl c;

        sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, 4096);
        c = sim_start_duty(&s, cc->from_mbps);
        sim_run_duty(&s, &c, 3 * NANOSECONDS_PER_SECOND);
        dirtylimit_ctl_set_quota(&c, cc->to_mbps * DIRTYLIMIT_PAGES_PER_MB);
        sim_run_duty(&s, &c, 6 * NANOSECONDS_PER_SECOND);
        /* The first whole second under the new quota is already right. */
        for (int w = 3; w < 6; w++) {
            g_assert_cmpfloat(window_error(&s, w, cc->to_mbps), <=, 0.10);
        }
    }
}

static void test_workload_stops_and_restarts(void)
{
    SimVcpu s;
    DirtyLimitCtl c;

    sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, 4096);
    c = sim_start_duty(&s, 10);
    sim_run_duty(&s, &c, 2 * NANOSECONDS_PER_SECOND);
    s.rate_pages_per_s = 0;
    sim_run_duty(&s, &c, 5 * NANOSECONDS_PER_SECOND);
    /* Idle: once the last slice is paid for, it never sleeps. */
    for (int w = 3; w < 5; w++) {
        g_assert_cmpfloat(s.window_pages[w], ==, 0);
        g_assert_cmpfloat(s.window_slept_ns[w], ==, 0);
    }
    s.rate_pages_per_s = SIM_FULL_SPEED_PAGES_PER_S;
    sim_run_duty(&s, &c, 9 * NANOSECONDS_PER_SECOND);
    /* The saved-up credit is small: the restart window stays in band. */
    for (int w = 5; w < 9; w++) {
        g_assert_cmpfloat(window_error(&s, w, 10), <=, 0.15);
    }
}

static void test_quota_above_capacity_costs_nothing(void)
{
    SimVcpu s;
    DirtyLimitCtl c;

    sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, 4096);
    c = sim_start_duty(&s, 4000);   /* 1 M pages/s: more than it can */
    sim_run_duty(&s, &c, 5 * NANOSECONDS_PER_SECOND);
    for (int w = 0; w < 5; w++) {
        g_assert_cmpfloat(s.window_slept_ns[w], ==, 0);
    }
    /* Once it knows its rate, it is interrupted rarely: 1 in ~10 ms. */
    g_assert_cmpuint(s.slices, <=, 5 * 200 + s.ring_full_exits);
}

static void test_gets_back_time_the_host_took(void)
{
    /* A busy host: every 4th slice the thread waits 20 ms for a CPU. */
    SimVcpu s;
    DirtyLimitCtl c;

    sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, 4096);
    s.stall_every_slices = 4;
    s.stall_ns = 20000000;
    c = sim_start_duty(&s, 500);
    sim_run_duty(&s, &c, 6 * NANOSECONDS_PER_SECOND);
    g_test_message("mean error %.2f%%", 100 * mean_error(&s, 1, 5, 500));
    g_assert_cmpfloat(mean_error(&s, 1, 5, 500), <=, 0.05);
}

static void test_reports_rate_and_sleep_share(void)
{
    SimVcpu s;
    DirtyLimitCtl c;
    double expected_sleep_share;

    sim_init(&s, SIM_FULL_SPEED_PAGES_PER_S, 4096);
    c = sim_start_duty(&s, 100);
    sim_run_duty(&s, &c, 3 * NANOSECONDS_PER_SECOND);
    g_assert_cmpint(c.window.last.measured_ns, >, 0);
    g_assert_cmpfloat(fabs((double)c.window.last.rate_pages_per_s /
                           (100 * DIRTYLIMIT_PAGES_PER_MB) - 1), <=, 0.05);
    expected_sleep_share = 1 - 100.0 * DIRTYLIMIT_PAGES_PER_MB /
                               SIM_FULL_SPEED_PAGES_PER_S;
    g_assert_cmpfloat(fabs(c.window.last.sleep_share -
                           expected_sleep_share), <=, 0.05);
}

/* ---- the ring-full baseline (QEMU 7.1's algorithm) ---- */

typedef struct AdjustCase {
    const char *what;
    uint64_t quota_mbps, current_mbps;
    int64_t throttle_before_us, throttle_after_us;
} AdjustCase;

/*
 * A 4096-entry ring is 16 MB; with the fastest rate seen 1600 MB/s it
 * fills in 10000 us.
 */
static const AdjustCase adjust_cases[] = {
    { "within tolerance: unchanged", 1000, 1020, 500, 500 },
    { "far above: in proportion", 400, 1600, 0, 30000 },
    { "near above: a tenth of a fill", 1000, 1600, 0, 1000 },
    { "near below: a tenth of a fill down", 1600, 1000, 5000, 4000 },
    { "far below: in proportion down", 1600, 400, 40000, 10000 },
    { "never below zero", 1600, 400, 100, 0 },
    { "never above 99 fills", 1, 1600, 980000, 990000 },
    { "idle: no sleep", 100, 0, 5000, 0 },
};

static void test_ringfull_adjusts_as_qemu(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(adjust_cases); i++) {
        const AdjustCase *ac = &adjust_cases[i];
        DirtyLimitRingFullCtl c;

        dirtylimit_ringfull_init(&c, ac->quota_mbps, 4096, 0, 0);
        c.max_rate_mbps = 1600;
        c.throttle_us_per_full = ac->throttle_before_us;
        dirtylimit_ringfull_adjust(&c, ac->current_mbps);
        g_test_message("%s: %" PRId64 " us", ac->what,
                       c.throttle_us_per_full);
        g_assert_cmpint(c.throttle_us_per_full, ==, ac->throttle_after_us);
    }
}

static void test_ringfull_sleeps_only_at_ring_full(void)
{
    DirtyLimitRingFullCtl c;
    DirtyLimitDecision d;

    dirtylimit_ringfull_init(&c, 50, 4096, 0, 0);
    c.throttle_us_per_full = 2000;
    /* Not yet a ring's worth: it runs on, and looks again in 10 ms. */
    d = dirtylimit_ringfull_step(&c, 1000, 4095);
    g_assert_cmpint(d.sleep_ns, ==, 0);
    g_assert_cmpint(d.run_ns, ==, DIRTYLIMIT_RINGFULL_POLL_NS);
    /* The ring filled: one sleep, paid in parts. */
    d = dirtylimit_ringfull_step(&c, 2000, 4100);
    g_assert_cmpint(d.sleep_ns, ==, 2000 * 1000);
    dirtylimit_ringfull_slept(&c, 1500 * 1000);
    d = dirtylimit_ringfull_step(&c, 3000, 4100);
    g_assert_cmpint(d.sleep_ns, ==, 500 * 1000);
    dirtylimit_ringfull_slept(&c, 500 * 1000);
    /* Two more fills at once: two sleeps. */
    d = dirtylimit_ringfull_step(&c, 4000, 3 * 4096);
    g_assert_cmpint(d.sleep_ns, ==, 2 * 2000 * 1000);
}

/* ---- cpu-throttle ---- */

static void test_cpu_throttle_sleeps_its_percentage(void)
{
    static const int percentages[] = { 1, 20, 50, 80, 99 };

    for (size_t i = 0; i < G_N_ELEMENTS(percentages); i++) {
        CpuThrottleVcpu v = { 0 };
        int64_t now_ns = 1, slept_ns = 0;

        while (now_ns < 20 * NANOSECONDS_PER_SECOND) {
            DirtyLimitDecision d = cpu_throttle_step(&v, percentages[i],
                                                     now_ns);

            if (d.sleep_ns) {
                now_ns += d.sleep_ns;
                slept_ns += d.sleep_ns;
                cpu_throttle_slept(&v, d.sleep_ns);
                continue;
            }
            g_assert_cmpint(d.run_ns, >, 0);
            g_assert_cmpint(d.run_ns, <=, CPU_THROTTLE_TIMESLICE_NS);
            cpu_throttle_run(&v, now_ns);
            now_ns += d.run_ns;
        }
        g_assert_cmpfloat(fabs((double)slept_ns / now_ns -
                               percentages[i] / 100.0), <=, 0.01);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirtylimit/holds-every-quota-on-every-ring",
                    test_holds_every_quota_on_every_ring);
    g_test_add_func("/dirtylimit/converges-from-above",
                    test_converges_from_above);
    g_test_add_func("/dirtylimit/converges-from-below",
                    test_converges_from_below);
    g_test_add_func("/dirtylimit/never-exceeds-its-sleep-and-slice-bounds",
                    test_never_exceeds_its_bounds);
    g_test_add_func("/dirtylimit/follows-quota-changes-within-a-second",
                    test_follows_quota_changes);
    g_test_add_func("/dirtylimit/workload-stops-and-restarts",
                    test_workload_stops_and_restarts);
    g_test_add_func("/dirtylimit/quota-above-capacity-costs-nothing",
                    test_quota_above_capacity_costs_nothing);
    g_test_add_func("/dirtylimit/gets-back-time-the-host-took",
                    test_gets_back_time_the_host_took);
    g_test_add_func("/dirtylimit/reports-rate-and-sleep-share",
                    test_reports_rate_and_sleep_share);
    g_test_add_func("/dirtylimit/ring-full/adjusts-as-qemu-7.1",
                    test_ringfull_adjusts_as_qemu);
    g_test_add_func("/dirtylimit/ring-full/sleeps-only-at-ring-full",
                    test_ringfull_sleeps_only_at_ring_full);
    g_test_add_func("/cpu-throttle/sleeps-its-percentage",
                    test_cpu_throttle_sleeps_its_percentage);
    return g_test_run();
}
