/*
 * The measurement targets of issue 15 at the claimed figures, on real
 * programs' traces replayed in a real KVM guest (vCPU 0 traces/sqlite,
 * vCPU 1 traces/xz, loop=on): against the replays' exact distinct pages
 * over the same window (replay_distinct_pages_between() at the window's
 * edges),
 *  - dirty-ring: within 3% per vCPU and for the VM, window after window;
 *  - dirty-bitmap: within 3% for the VM;
 *  - page-sampling (default sample-pages) within 10% at calc-time 3 s (at
 *    1 s the 10% is about two standard deviations of its error on these
 *    replays: tests/bench/replay-accuracy measured up to 10.4%, and a test
 *    there would fail now and then; docs/devel/convergence-league.md).
 * tests/bench/replay-accuracy prints the same over more windows and
 * traces.
 */
#include "qemu/osdep.h"

#include <math.h>

#include "hw/workload.h"
#include "migration/dirtyrate.h"
#include "test-vm.h"

#define CPUS 2
/* sqlite needs 74 MiB (pages and schedule), xz 122 MiB. */
#define SLICE_BYTES (128 * MiB)
#define RAM_BYTES (16 * MiB + CPUS * SLICE_BYTES)
#define WARMUP_US (2 * G_USEC_PER_SEC)
#define WINDOWS 3
/* Windows with fewer pages than this are not judged by a percentage. */
#define SMALL_PAGES 256

static const char *const traces[CPUS] = { "sqlite.dtrace", "xz.dtrace" };
static char *paths[CPUS];

static void vm_create(void)
{
    g_autoptr(VLOptions) opts = test_vm_options(RAM_BYTES, CPUS);

    opts->accel.dirty_ring_entries = 4096;
    for (int i = 0; i < CPUS; i++) {
        test_vm_set_replay(opts, i, paths[i]);
    }
    test_vm_create(opts);
    g_usleep(WARMUP_US);
}

/* One window of @mode: the result and each vCPU's truth. */
static void measure(DirtyRateMeasureMode mode, int64_t calc_ms,
                    DirtyRateResult *r, uint64_t truth[CPUS])
{
    DirtyRateConfig cfg = {
        .mode = mode, .calc_time_ms = calc_ms,
        .sample_pages_per_gib = DIRTYRATE_DEFAULT_SAMPLE_PAGES,
    };
    TestVMTruth t = { .cpus = CPUS };
    Error *err = NULL;

    if (!dirtyrate_measure(&cfg, test_vm_truth_hook, &t, r, &err)) {
        g_error("measure: %s", error_get_pretty(err));
    }
    for (int i = 0; i < CPUS; i++) {
        g_assert_cmpuint(t.at[1][i].workload_status, ==, RS_WLS_OK);
        truth[i] = test_vm_replay_truth(i, t.at[0][i].visits,
                                        t.at[1][i].visits);
    }
}

static void assert_within(const char *what, uint64_t measured,
                          uint64_t truth, double pct)
{
    double err = truth ? 100.0 * ((double)measured - truth) / truth : 0;

    g_test_message("%s: measured %" PRIu64 " pages, truth %" PRIu64
                   " (%+.2f%%)", what, measured, truth, err);
    if (truth >= SMALL_PAGES) {
        g_assert_cmpfloat(fabs(err), <=, pct);
    }
}

static void test_dirty_ring_per_vcpu(void)
{
    vm_create();
    for (int w = 0; w < WINDOWS; w++) {
        uint64_t truth[CPUS];
        DirtyRateResult r;

        measure(DIRTY_RATE_MEASURE_MODE_DIRTY_RING, 1000, &r, truth);
        for (int i = 0; i < CPUS; i++) {
            g_autofree char *what = g_strdup_printf("window %d vCPU %d "
                                                    "(%s)", w, i,
                                                    traces[i]);

            assert_within(what, r.vcpus[i].dirty_pages, truth[i], 3.0);
        }
        assert_within("VM", r.dirty_pages, truth[0] + truth[1], 3.0);
    }
    test_vm_destroy();
}

static void test_dirty_bitmap_and_sampling(void)
{
    vm_create();
    for (int w = 0; w < WINDOWS; w++) {
        uint64_t truth[CPUS];
        DirtyRateResult r;

        measure(DIRTY_RATE_MEASURE_MODE_DIRTY_BITMAP, 1000, &r, truth);
        assert_within("dirty-bitmap VM", r.dirty_pages,
                      truth[0] + truth[1], 3.0);
    }
    {
        uint64_t truth[CPUS];
        DirtyRateResult r;

        measure(DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING, 3000, &r, truth);
        assert_within("page-sampling VM, calc-time 3 s", r.dirty_pages,
                      truth[0] + truth[1], 10.0);
    }
    test_vm_destroy();
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the replays run in a real KVM guest");
    if (!g_getenv("TRACES_DIR")) {
        printf("SKIP: set TRACES_DIR to the shipped traces/ directory\n");
        return 77;
    }
    for (int i = 0; i < CPUS; i++) {
        paths[i] = g_build_filename(g_getenv("TRACES_DIR"), traces[i], NULL);
    }
    g_test_add_func("/replay-accuracy/dirty-ring-per-vcpu-within-3pct",
                    test_dirty_ring_per_vcpu);
    g_test_add_func("/replay-accuracy/bitmap-3pct-sampling-3s-10pct",
                    test_dirty_bitmap_and_sampling);
    ret = g_test_run();
    for (int i = 0; i < CPUS; i++) {
        g_free(paths[i]);
    }
    return ret;
}
