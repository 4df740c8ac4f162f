/*
 * The per-vCPU dirty limit on real KVM, in-process: vCPU 0 writes at full
 * speed, vCPU 1 reads.  Every rate is checked against the guest's own
 * counters (pages_written), not only against restraint's estimate.
 * The quota's accuracy is asserted at the figure we publish
 * (docs/comparison-with-qemu.md): mean error <= 5% for 10, 50 and 200
 * MB/s on rings of 1024 and 65536 entries, the median of 3 short runs.
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <math.h>

#include "hw/core/cpu.h"
#include "hw/machine.h"
#include "hw/workload.h"
#include "qapi/qapi-commands.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtylimit.h"
#include "sysemu/kvm.h"
#include "sysemu/memory.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

#define TEST_REGION_BYTES (64 * MiB)
#define TEST_RAM_BYTES (16 * MiB + 2 * 128 * MiB)
#define TEST_RING_ENTRIES 4096
/*
 * The query and cancel path, with a wide band around a 50 MB/s limit: one
 * run on a shared host; quota-holds-within-5pct asserts the figure.
 */
#define TEST_QUOTA_MBPS 50
#define TEST_BAND_LOW_MBPS 35.0
#define TEST_BAND_HIGH_MBPS 65.0
/* The published figure: |mean error| of a held quota, median of runs. */
#define HOLD_MAX_ERROR 0.05
#define HOLD_RUNS 3
#define HOLD_SETTLE_US (G_USEC_PER_SEC)
#define HOLD_MEASURE_US (G_USEC_PER_SEC)
/*
 * A hold that falls short while vCPU 0's thread waited on a host run
 * queue for more than this share of the window measured the host, not
 * the limiter (which only ever slows a vCPU down): it is run again, at
 * most HOLD_MAX_ATTEMPTS times in all per quota.
 */
#define HOLD_STARVED_SHARE 0.10
#define HOLD_MAX_ATTEMPTS (3 * HOLD_RUNS)
#define RATES_UNDER_TSAN "ThreadSanitizer slows the calculator and the " \
    "throttle timers: the rates a quota gives are not asserted in this build"
/* How long the limit runs before we measure, and the measurement. */
#define TEST_SETTLE_US (3 * G_USEC_PER_SEC)
#define TEST_MEASURE_US (2 * G_USEC_PER_SEC)
/*
 * Stop must not wait for a sleep owed: under the ring-full policy a
 * 65536 ring at 1 MB/s owes sleeps of ~16 s; a stop that took even 3 s
 * would prove the sleep was not interrupted.
 */
#define TEST_STOP_BOUND_US (3 * G_USEC_PER_SEC)
/* auto-converge's throttle: 80% asleep. */
#define CPU_THROTTLE_TEST_PCT 80

static void vm_create(uint32_t ring_entries)
{
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, 2);

    opts->accel.dirty_ring_entries = ring_entries;
    opts->workload_given[0] = opts->workload_given[1] = true;
    opts->workloads[0] = (WorkloadConfig) {
        .kind = RS_WL_WRITE, .pattern = RS_PAT_SEQ,
        .size_bytes = TEST_REGION_BYTES,
    };
    opts->workloads[1] = (WorkloadConfig) {
        .kind = RS_WL_READ, .pattern = RS_PAT_SEQ,
        .size_bytes = TEST_REGION_BYTES,
    };
    test_vm_create(opts);
}

/* The guest's own write rate over @us, MB/s. */
static double guest_write_mbps(int cpu, int64_t us)
{
    WorkloadSample a, b;

    g_assert_true(workload_sample(cpu, &a, NULL));
    g_usleep(us);
    g_assert_true(workload_sample(cpu, &b, NULL));
    return (double)(b.pages_written - a.pages_written) * RS_PAGE_SIZE / MiB /
           ((double)(b.host_ns - a.host_ns) / NANOSECONDS_PER_SECOND);
}

static void set_limit(int64_t cpu, uint64_t mbps)
{
    Error *err = NULL;

    vm_lock();
    qmp_set_vcpu_dirty_limit(cpu >= 0, cpu, mbps, &err);
    vm_unlock();
    g_assert_null(err);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);

    return (x > y) - (x < y);
}

/* Nanoseconds @cpu's thread has waited on a run queue (schedstat). */
static uint64_t vcpu_runqueue_wait_ns(int cpu)
{
    pid_t tid = __atomic_load_n(&cpus_get(cpu)->thread_id, __ATOMIC_ACQUIRE);
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/schedstat",
                                            (int)tid);
    g_autofree char *text = NULL;
    uint64_t run_ns, wait_ns;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        sscanf(text, "%" SCNu64 " %" SCNu64, &run_ns, &wait_ns) != 2) {
        return 0;
    }
    return wait_ns;
}

/*
 * The signed mean error of one short hold of @quota_mbps on vCPU 0, and
 * the share of the window its thread spent waiting for a host CPU.
 */
static double hold_error(uint64_t quota_mbps, double *starved_share)
{
    uint64_t wait0_ns;
    double mbps;

    set_limit(0, quota_mbps);
    g_usleep(HOLD_SETTLE_US);
    wait0_ns = vcpu_runqueue_wait_ns(0);
    mbps = guest_write_mbps(0, HOLD_MEASURE_US);
    *starved_share = (double)(vcpu_runqueue_wait_ns(0) - wait0_ns) /
                     (HOLD_MEASURE_US * 1000.0);
    set_limit(0, 0);
    /* Let the vCPU run free before the next hold starts afresh. */
    g_usleep(G_USEC_PER_SEC / 5);
    return (mbps - quota_mbps) / quota_mbps;
}

static void test_quota_holds_within_published_error(gconstpointer data)
{
    static const uint64_t quotas_mbps[] = { 10, 50, 200 };
    uint32_t ring_entries = GPOINTER_TO_UINT(data);

    if (test_vm_timing_distorted()) {
        g_test_skip(RATES_UNDER_TSAN);
        return;
    }
    vm_create(ring_entries);
    for (size_t q = 0; q < G_N_ELEMENTS(quotas_mbps); q++) {
        double errors[HOLD_RUNS];
        int runs = 0;

        for (int attempt = 0; attempt < HOLD_MAX_ATTEMPTS && runs < HOLD_RUNS;
             attempt++) {
            double starved, e = hold_error(quotas_mbps[q], &starved);

            g_test_message("ring %u, quota %" PRIu64 " MB/s: mean error "
                           "%+.2f%%, vCPU 0 waited for a host CPU %.0f%% "
                           "of the window", ring_entries, quotas_mbps[q],
                           100 * e, 100 * starved);
            if (e < -HOLD_MAX_ERROR && starved > HOLD_STARVED_SHARE) {
                continue;       /* the host's shortfall: hold again */
            }
            errors[runs++] = e;
        }
        if (runs < HOLD_RUNS) {
            test_vm_destroy();
            g_test_skip("the host kept vCPU 0 from its CPU in most holds: "
                        "the quota's accuracy cannot be measured now");
            return;
        }
        qsort(errors, HOLD_RUNS, sizeof(errors[0]), compare_doubles);
        g_test_message("ring %u, quota %" PRIu64 " MB/s: median |mean "
                       "error| %.2f%%", ring_entries, quotas_mbps[q],
                       100 * fabs(errors[HOLD_RUNS / 2]));
        g_assert_cmpfloat(fabs(errors[HOLD_RUNS / 2]), <=, HOLD_MAX_ERROR);
    }
    test_vm_destroy();
}

static void test_limit_holds_and_cancel_restores(void)
{
    g_autoptr(DirtyLimitInfoList) list = NULL;
    g_autofree char *hmp = NULL;
    double unlimited_mbps, limited_mbps, restored_mbps;
    Error *err = NULL;

    vm_create(TEST_RING_ENTRIES);
    unlimited_mbps = guest_write_mbps(0, G_USEC_PER_SEC);
    set_limit(0, TEST_QUOTA_MBPS);
    g_usleep(TEST_SETTLE_US);
    limited_mbps = guest_write_mbps(0, TEST_MEASURE_US);

    vm_lock();
    list = qmp_query_vcpu_dirty_limit(&err);
    g_assert_null(err);
    hmp = qmp_human_monitor_command("info vcpu_dirty_limit", false, 0, &err);
    g_assert_null(err);
    vm_unlock();
    g_test_message("unlimited %.1f MB/s, limited %.1f MB/s; %s",
                   unlimited_mbps, limited_mbps, hmp);
    g_assert_nonnull(list);
    g_assert_null(list->next);
    g_assert_cmpint(list->value->cpu_index, ==, 0);
    g_assert_cmpuint(list->value->limit_rate, ==, TEST_QUOTA_MBPS);
    g_assert_cmpint(list->value->rate_age, >=, 0);
    g_assert_nonnull(strstr(hmp, "vcpu[0], limit rate 50 (MB/s), "
                                 "current rate "));
    if (test_vm_timing_distorted()) {
        /* The rest of the case runs; only the rates are not asserted. */
        g_test_skip(RATES_UNDER_TSAN);
    } else {
        g_assert_cmpuint(list->value->current_rate, >=, TEST_BAND_LOW_MBPS);
        g_assert_cmpuint(list->value->current_rate, <=, TEST_BAND_HIGH_MBPS);
        g_assert_cmpfloat(list->value->sleep_share, >, 0);
        g_assert_cmpfloat(limited_mbps, >=, TEST_BAND_LOW_MBPS);
        g_assert_cmpfloat(limited_mbps, <=, TEST_BAND_HIGH_MBPS);
    }
    g_assert_true(dirtylimit_in_service());
    g_assert_true(memory_global_dirty_tracking() & GLOBAL_DIRTY_LIMIT);

    vm_lock();
    qmp_cancel_vcpu_dirty_limit(true, 0, &err);
    vm_unlock();
    g_assert_null(err);
    g_usleep(G_USEC_PER_SEC / 2);
    restored_mbps = guest_write_mbps(0, G_USEC_PER_SEC);
    g_test_message("after cancel %.1f MB/s", restored_mbps);
    if (!test_vm_timing_distorted()) {
        g_assert_cmpfloat(restored_mbps, >=, 4 * TEST_QUOTA_MBPS);
    }
    g_assert_false(dirtylimit_in_service());
    g_assert_false(memory_global_dirty_tracking() & GLOBAL_DIRTY_LIMIT);
    test_vm_destroy();
}

typedef struct ErrorCase {
    const char *what;
    bool has_cpu_index;
    int64_t cpu_index;
    uint64_t rate_mbps;
    const char *message;        /* a part of the error; NULL: success */
} ErrorCase;

static const ErrorCase error_cases[] = {
    { "cpu index past the last vCPU", true, 2, 10,
      "incorrect cpu index specified" },
    { "negative cpu index", true, -1, 10, "incorrect cpu index specified" },
    { "a rate that overflows pages per second", true, 0,
      DIRTYLIMIT_MAX_QUOTA_MBPS + 1, "out of range" },
    { "the largest rate", true, 0, DIRTYLIMIT_MAX_QUOTA_MBPS, NULL },
    { "rate 0 cancels", true, 0, 0, NULL },
    { "every vCPU", false, 0, 100, NULL },
};

static void test_error_paths(void)
{
    g_autoptr(DirtyLimitInfoList) list = NULL;
    g_autofree char *hmp = NULL;
    Error *err = NULL;

    vm_create(TEST_RING_ENTRIES);
    vm_lock();
    for (size_t i = 0; i < G_N_ELEMENTS(error_cases); i++) {
        const ErrorCase *ec = &error_cases[i];

        qmp_set_vcpu_dirty_limit(ec->has_cpu_index, ec->cpu_index,
                                 ec->rate_mbps, &err);
        g_test_message("%s: %s", ec->what,
                       err ? error_get_pretty(err) : "ok");
        if (ec->message) {
            g_assert_nonnull(err);
            g_assert_nonnull(strstr(error_get_pretty(err), ec->message));
            error_free(err);
            err = NULL;
        } else {
            g_assert_null(err);
        }
    }
    /* "every vCPU" limited both. */
    list = qmp_query_vcpu_dirty_limit(&err);
    g_assert_nonnull(list);
    g_assert_nonnull(list->next);
    g_assert_cmpuint(list->next->value->limit_rate, ==, 100);

    qmp_cancel_vcpu_dirty_limit(true, 7, &err);
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "incorrect cpu index specified");
    error_free(err);
    err = NULL;

    /* While a migration with the dirty-limit capability runs. */
    dirtylimit_set_migration_active(true);
    qmp_set_vcpu_dirty_limit(true, 0, 10, &err);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "migration"));
    error_free(err);
    err = NULL;
    qmp_cancel_vcpu_dirty_limit(false, 0, &err);
    g_assert_nonnull(err);
    error_free(err);
    err = NULL;
    dirtylimit_set_migration_active(false);

    qmp_cancel_vcpu_dirty_limit(false, 0, &err);
    g_assert_null(err);
    g_assert_null(qmp_query_vcpu_dirty_limit(&err));
    hmp = qmp_human_monitor_command("info vcpu_dirty_limit", false, 0, &err);
    g_assert_nonnull(strstr(hmp, "Dirty page limit not enabled!"));
    g_free(hmp);
    hmp = qmp_human_monitor_command("set_vcpu_dirty_limit 10 9", false, 0,
                                    &err);
    g_assert_nonnull(strstr(hmp, "incorrect cpu index specified"));
    g_free(hmp);
    hmp = qmp_human_monitor_command("set_vcpu_dirty_limit 10 1", false, 0,
                                    &err);
    g_assert_true(dirtylimit_vcpu_limited(1));
    g_assert_false(dirtylimit_vcpu_limited(0));
    g_free(hmp);
    hmp = qmp_human_monitor_command("cancel_vcpu_dirty_limit", false, 0,
                                    &err);
    g_assert_false(dirtylimit_in_service());
    vm_unlock();
    test_vm_destroy();
}

static void test_needs_the_dirty_ring(void)
{
    Error *err = NULL;

    vm_create(0);
    vm_lock();
    qmp_set_vcpu_dirty_limit(true, 0, 10, &err);
    vm_unlock();
    g_assert_nonnull(err);
    g_test_message("%s", error_get_pretty(err));
    g_assert_nonnull(strstr(error_get_pretty(err),
                            "-accel kvm,dirty-ring-size=N"));
    error_free(err);
    test_vm_destroy();
}

static void test_stop_and_quit_interrupt_a_sleep(void)
{
    int64_t start_us, stop_us, quit_us;

    vm_create(65536);
    vm_lock();
    qmp_x_set_dirty_limit_policy(DIRTY_LIMIT_POLICY_RING_FULL, NULL);
    vm_unlock();
    set_limit(0, 1);
    /*
     * Long enough for the first once-a-second adjustment and the next
     * ring fill, which earns a sleep of seconds: vCPU 0 is asleep now.
     */
    g_usleep(4 * G_USEC_PER_SEC);
    {
        DirtyLimitVcpuInfo info;

        g_assert_true(dirtylimit_vcpu_info(0, &info));
        g_test_message("vCPU 0 slept %.0f%% of the last second",
                       100 * info.sleep_share);
        g_assert_cmpfloat(info.sleep_share, >, 0.5);
    }

    start_us = g_get_monotonic_time();
    vm_lock();
    vm_stop(RUN_STATE_PAUSED);
    vm_unlock();
    stop_us = g_get_monotonic_time() - start_us;
    vm_lock();
    g_assert_true(vm_start(NULL));
    vm_unlock();
    g_usleep(G_USEC_PER_SEC / 2);

    start_us = g_get_monotonic_time();
    vm_lock();
    qmp_x_set_dirty_limit_policy(DIRTY_LIMIT_POLICY_DUTY_CYCLE, NULL);
    vm_stop(RUN_STATE_SHUTDOWN);
    vm_unlock();
    quit_us = g_get_monotonic_time() - start_us;
    g_test_message("stop took %" PRId64 " us, quit took %" PRId64 " us",
                   stop_us, quit_us);
    g_assert_cmpint(stop_us, <, TEST_STOP_BOUND_US);
    g_assert_cmpint(quit_us, <, TEST_STOP_BOUND_US);
    test_vm_destroy();
}

static void test_cpu_throttle_slows_every_vcpu(void)
{
    /* QEMU's auto-converge throttle through the same actuator. */
    double free_mbps, throttled_mbps, again_mbps;

    vm_create(TEST_RING_ENTRIES);
    free_mbps = guest_write_mbps(0, G_USEC_PER_SEC);
    vm_lock();
    cpu_throttle_set(CPU_THROTTLE_TEST_PCT);
    vm_unlock();
    g_assert_true(cpu_throttle_active());
    g_assert_cmpint(cpu_throttle_get_percentage(), ==, CPU_THROTTLE_TEST_PCT);
    g_usleep(G_USEC_PER_SEC / 5);
    throttled_mbps = guest_write_mbps(0, G_USEC_PER_SEC);
    vm_lock();
    cpu_throttle_stop();
    vm_unlock();
    g_assert_false(cpu_throttle_active());
    g_usleep(G_USEC_PER_SEC / 5);
    again_mbps = guest_write_mbps(0, G_USEC_PER_SEC);
    g_test_message("free %.0f MB/s, throttled %d%%: %.0f MB/s, again %.0f",
                   free_mbps, CPU_THROTTLE_TEST_PCT, throttled_mbps,
                   again_mbps);
    /* 80% asleep: a fifth of the speed; wide bands for a shared host. */
    g_assert_cmpfloat(throttled_mbps, <, 0.5 * MAX(free_mbps, again_mbps));
    g_assert_cmpfloat(throttled_mbps, >, 0.02 * MAX(free_mbps, again_mbps));
    test_vm_destroy();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the dirty limit needs real KVM");
    g_test_add_func("/dirtylimit/kvm/limit-50-holds-and-cancel-restores",
                    test_limit_holds_and_cancel_restores);
    g_test_add_data_func("/dirtylimit/kvm/quota-holds-within-5pct/ring-1024",
                         GUINT_TO_POINTER(1024),
                         test_quota_holds_within_published_error);
    g_test_add_data_func("/dirtylimit/kvm/quota-holds-within-5pct/"
                         "ring-65536", GUINT_TO_POINTER(65536),
                         test_quota_holds_within_published_error);
    g_test_add_func("/dirtylimit/kvm/refuses-what-it-should",
                    test_error_paths);
    g_test_add_func("/dirtylimit/kvm/needs-the-dirty-ring",
                    test_needs_the_dirty_ring);
    g_test_add_func("/dirtylimit/kvm/stop-and-quit-interrupt-a-sleep",
                    test_stop_and_quit_interrupt_a_sleep);
    g_test_add_func("/cpu-throttle/kvm/slows-every-vcpu",
                    test_cpu_throttle_slows_every_vcpu);
    return g_test_run();
}
