/*
 * Issue 15's limiter target on real programs' traces: a quota below a
 * trace's mean rate holds within 5%, in distinct pages per aligned 1-s
 * window.  Each trace replays (loop=on) on its own vCPU of a small guest
 * (sqlite and xz together on 2 vCPUs; python alone on 1, only with
 * -m thorough and not asserted: see cases[]); the rate each
 * reaches without a limit is measured first, over UNLIMITED_WINDOWS
 * windows, and its quota set at QUOTA_SHARE of it.  After SETTLE_WINDOWS
 * the replay's exact distinct pages (replay_distinct_pages_between() at
 * the limiter's own window edges) are read for HOLD_WINDOWS windows; the
 * mean of those windows must be within HOLD_MAX_ERROR of the quota.
 *
 * A mean short by more than that while the vCPU's thread waited on a
 * host run queue for more than STARVED_SHARE of the windows measured the
 * host, not the limiter (which only ever slows a vCPU): it is measured
 * again, at most HOLD_MAX_ATTEMPTS times in all, then the case is
 * skipped by name, never passed.  docs/devel/convergence-league.md has
 * the figures; tests/bench/replay-accuracy (table 2) holds more windows.
 */
#include "qemu/osdep.h"

#include <math.h>

#include "hw/workload.h"
#include "qemu/clock.h"
#include "qemu/dirty-window.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

#define MAX_TRACES 2
/* python needs its pages and schedule: ~260 MiB (sqlite 74, xz 122). */
#define SLICE_BYTES (272 * MiB)
#define RING_ENTRIES 4096
#define WARMUP_US (G_USEC_PER_SEC)
#define UNLIMITED_WINDOWS 2
/* The quota: this share of the rate the replay reached without one. */
#define QUOTA_SHARE 0.6
#define SETTLE_WINDOWS 1
#define HOLD_WINDOWS 5
/* Issue 15's target: the mean of the held windows within 5%. */
#define HOLD_MAX_ERROR 0.05
#define STARVED_SHARE 0.10
#define HOLD_MAX_ATTEMPTS 3
#define RATES_UNDER_TSAN "ThreadSanitizer slows the vCPU threads and the " \
    "limiter's timers: the rates a quota gives are not asserted in this build"

typedef struct QuotaCase {
    const char *path;
    int ntraces;
    const char *traces[MAX_TRACES];
    bool asserted;
} QuotaCase;

/*
 * python is measured (with -m thorough) but not asserted: at the point of
 * its trace this test's schedule reaches (~5 s behind the recording) the
 * replayed program rewrites pages it already wrote in the same window, so
 * the vCPU, running unslept (in the guest 96-100% of the last 0.3 s, in
 * 100 ms steps), dirties 19% fewer distinct pages than the quota in that
 * window (22.7-23.3 MB/s whatever the quota, 27-29 MB/s): the program's
 * own rate at the vCPU's full speed, which a limiter (it only slows a
 * vCPU) cannot raise.  With one such window in five the mean was -2.1%
 * to -5.3% (beyond 5% in 2 of 12 runs), so it is not asserted.
 * docs/devel/convergence-league.md.
 */
static const QuotaCase cases[] = {
    { "/replay-quota/sqlite-xz-within-5pct", 2,
      { "sqlite.dtrace", "xz.dtrace" }, true },
    { "/replay-quota/python-measured", 1, { "python.dtrace" }, false },
};

/* The workloads' trace paths, alive until the VM is destroyed. */
static char *paths[MAX_TRACES];

static void vm_create(const QuotaCase *c)
{
    g_autoptr(VLOptions) opts = test_vm_options(16 * MiB +
                                                c->ntraces * SLICE_BYTES,
                                                c->ntraces);

    opts->accel.dirty_ring_entries = RING_ENTRIES;
    for (int i = 0; i < c->ntraces; i++) {
        paths[i] = g_build_filename(g_getenv("TRACES_DIR"), c->traces[i],
                                    NULL);
        test_vm_set_replay(opts, i, paths[i]);
    }
    test_vm_create(opts);
    g_usleep(WARMUP_US);
}

static void vm_destroy(void)
{
    test_vm_destroy();
    for (int i = 0; i < MAX_TRACES; i++) {
        g_clear_pointer(&paths[i], g_free);
    }
}

/* Sleep until the limiter's next window edge. */
static void sleep_to_window_edge(void)
{
    int64_t now_ns = clock_ns();
    int64_t edge_ns = (now_ns / DIRTY_WINDOW_DEFAULT_NS + 1) *
                      DIRTY_WINDOW_DEFAULT_NS;

    g_usleep((edge_ns - now_ns) / 1000 + 1);
}

static double mbps(uint64_t pages, int64_t ns)
{
    return ns > 0 ? (double)pages * RS_PAGE_SIZE / MiB / (ns / 1e9) : 0;
}

/*
 * @nwin aligned 1-s windows from the next edge: into @mean_mbps[] each
 * vCPU's mean distinct rate over them, into @worst_err[] its worst
 * window's error against @quota_mbps[] (when given), into @waited[] the
 * share of the time its thread waited on a host run queue (0 where the
 * kernel keeps no schedstat).  Each window is logged, with the limiter's
 * view as dirtylimit_vcpu_info() gives it at the edge (usually still the
 * window before: its age is printed).
 */
static void windows(const QuotaCase *c, int nwin, const double *quota_mbps,
                    double *mean_mbps, double *worst_err, double *waited)
{
    WorkloadSample prev[MAX_TRACES], cur[MAX_TRACES];
    uint64_t wait0_ns[MAX_TRACES], wait_ns, wait_at[MAX_TRACES];
    int64_t t0_ns[MAX_TRACES];
    double sum[MAX_TRACES] = { 0 };

    sleep_to_window_edge();
    for (int i = 0; i < c->ntraces; i++) {
        prev[i] = test_vm_sample(i);
        t0_ns[i] = prev[i].host_ns;
        wait0_ns[i] = 0;
        test_vm_runqueue_wait_ns(i, &wait0_ns[i]);
        wait_at[i] = wait0_ns[i];
        worst_err[i] = 0;
    }
    for (int w = 0; w < nwin; w++) {
        g_autoptr(GString) line = g_string_new(NULL);

        sleep_to_window_edge();
        g_string_append_printf(line, "window %d:", w);
        for (int i = 0; i < c->ntraces; i++) {
            DirtyLimitVcpuInfo info = { 0 };
            uint64_t w0_ns = wait_at[i], w_ns = w0_ns;
            double rate;

            cur[i] = test_vm_sample(i);
            test_vm_runqueue_wait_ns(i, &w_ns);
            wait_at[i] = w_ns;
            g_assert_cmpuint(cur[i].workload_status, ==, RS_WLS_OK);
            rate = mbps(test_vm_replay_truth(i, prev[i].visits,
                                             cur[i].visits),
                        cur[i].host_ns - prev[i].host_ns);
            sum[i] += rate;
            g_string_append_printf(line, "  vCPU %d %s %.1f MB/s", i,
                                   c->traces[i], rate);
            g_string_append_printf(line, " lag %.2f s, waited %.0f%%",
                                   cur[i].replay_lag_us / 1e6,
                                   100.0 * (w_ns - w0_ns) /
                                   (cur[i].host_ns - prev[i].host_ns));
            if (dirtylimit_vcpu_info(i, &info)) {
                g_string_append_printf(line, ", limiter counted %.1f MB/s"
                                       " asleep %.0f%% (%" PRId64
                                       " ms ago)",
                                       (double)info.current_pages_per_s *
                                       RS_PAGE_SIZE / MiB,
                                       100 * info.sleep_share,
                                       info.rate_age_ms);
            }
            if (quota_mbps) {
                double e = rate / quota_mbps[i] - 1;

                g_string_append_printf(line, " (%+.1f%%)", 100 * e);
                if (fabs(e) > fabs(worst_err[i])) {
                    worst_err[i] = e;
                }
            }
            prev[i] = cur[i];
        }
        g_test_message("%s", line->str);
    }
    for (int i = 0; i < c->ntraces; i++) {
        mean_mbps[i] = sum[i] / nwin;
        wait_ns = wait0_ns[i];
        test_vm_runqueue_wait_ns(i, &wait_ns);
        waited[i] = (double)(wait_ns - wait0_ns[i]) /
                    (cur[i].host_ns - t0_ns[i]);
    }
}

/* REPLAY_QUOTA_WINDOWS measures longer (by hand, not in make check). */
static int hold_windows(void)
{
    const char *env = g_getenv("REPLAY_QUOTA_WINDOWS");

    return env ? MAX(1, atoi(env)) : HOLD_WINDOWS;
}

static double quota_share(void)
{
    const char *env = g_getenv("REPLAY_QUOTA_SHARE");

    return env ? g_ascii_strtod(env, NULL) : QUOTA_SHARE;
}

static void test_quota_holds(gconstpointer data)
{
    const QuotaCase *c = data;
    double unlimited[MAX_TRACES], quota[MAX_TRACES], worst[MAX_TRACES];
    double waited[MAX_TRACES], mean[MAX_TRACES];
    bool done[MAX_TRACES] = { false };
    int left = c->ntraces;

    if (test_vm_timing_distorted()) {
        g_test_skip(RATES_UNDER_TSAN);
        return;
    }
    vm_create(c);
    windows(c, UNLIMITED_WINDOWS, NULL, unlimited, worst, waited);
    for (int i = 0; i < c->ntraces; i++) {
        Error *err = NULL;

        quota[i] = MAX(1, round(quota_share() * unlimited[i]));
        g_test_message("vCPU %d %s: %.1f MB/s without a limit (waited for "
                       "a host CPU %.0f%%): quota %.0f MB/s", i,
                       c->traces[i], unlimited[i], 100 * waited[i],
                       quota[i]);
        vm_lock();
        if (!dirtylimit_set_vcpu(i, (uint64_t)quota[i], &err)) {
            g_error("limit: %s", error_get_pretty(err));
        }
        vm_unlock();
    }
    windows(c, SETTLE_WINDOWS, quota, mean, worst, waited);
    for (int attempt = 0; attempt < HOLD_MAX_ATTEMPTS && left; attempt++) {
        windows(c, hold_windows(), quota, mean, worst, waited);
        for (int i = 0; i < c->ntraces; i++) {
            DirtyLimitVcpuInfo info = { 0 };
            double e = mean[i] / quota[i] - 1;

            if (done[i]) {
                continue;
            }
            g_assert_true(dirtylimit_vcpu_info(i, &info));
            g_test_message("vCPU %d %s, quota %.0f MB/s, attempt %d: mean "
                           "%.2f MB/s (%+.2f%%), worst window %+.1f%%, "
                           "waited for a host CPU %.0f%%, last window "
                           "asleep %.0f%%", i, c->traces[i], quota[i],
                           attempt, mean[i], 100 * e, 100 * worst[i],
                           100 * waited[i], 100 * info.sleep_share);
            if (!c->asserted) {
                done[i] = true;
                left--;
                continue;
            }
            if (e < -HOLD_MAX_ERROR && waited[i] > STARVED_SHARE) {
                continue;       /* the host's shortfall: measure again */
            }
            g_assert_cmpfloat(fabs(e), <=, HOLD_MAX_ERROR);
            done[i] = true;
            left--;
        }
    }
    for (int i = 0; i < c->ntraces; i++) {
        vm_lock();
        dirtylimit_cancel_vcpu(i);
        vm_unlock();
    }
    vm_destroy();
    if (left) {
        g_test_skip("the host kept a replaying vCPU from its CPU in every "
                    "measurement: the quota's accuracy cannot be judged "
                    "now");
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the replays run in a real KVM guest");
    if (!g_getenv("TRACES_DIR")) {
        printf("SKIP: set TRACES_DIR to the shipped traces/ directory\n");
        return 77;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        if (cases[i].asserted || g_test_thorough()) {
            g_test_add_data_func(cases[i].path, &cases[i], test_quota_holds);
        }
    }
    return g_test_run();
}
