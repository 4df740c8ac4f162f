/*
 * The dirty-rate calculator's pure core (softmmu/dirtyrate-compute.c),
 * linked alone: rates over a period, rounding, counter wrap, and no rate
 * across vCPU lists or without time.
 */
#include "qemu/osdep.h"

#include "sysemu/dirtyrate-compute.h"

#define NS_PER_MS 1000000LL

static DirtyRateStatSnapshot snap_of(uint64_t gen, int64_t now_ns, int n,
                                     const uint64_t *pages)
{
    DirtyRateStatSnapshot s = { .generation = gen, .nr_cpus = n,
                                .now_ns = now_ns };

    memcpy(s.dirty_pages, pages, n * sizeof(uint64_t));
    return s;
}

typedef struct RateCase {
    const char *what;
    uint64_t before_pages;
    uint64_t after_pages;
    int64_t period_ns;
    uint64_t rate_pages_per_s;
} RateCase;

static const RateCase rate_cases[] = {
    { "idle", 100, 100, 100 * NS_PER_MS, 0 },
    { "100 MB/s over 100 ms", 0, 2560, 100 * NS_PER_MS, 25600 },
    { "one page over a second", 7, 8, 1000 * NS_PER_MS, 1 },
    { "rounds to nearest", 0, 1, 3 * 1000 * NS_PER_MS / 2, 1 },
    { "counter wraps", UINT64_MAX - 99, 156, 1000 * NS_PER_MS, 256 },
    { "huge delta, no overflow", 0, UINT64_C(1) << 50, 1000 * NS_PER_MS,
      UINT64_C(1) << 50 },
    { "1 ms period", 0, 26, NS_PER_MS, 26000 },
};

static void test_rate_is_pages_over_period(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(rate_cases); i++) {
        const RateCase *c = &rate_cases[i];
        DirtyRateStatSnapshot a = snap_of(2, 5 * NS_PER_MS, 1,
                                          &c->before_pages);
        DirtyRateStatSnapshot b = snap_of(2, 5 * NS_PER_MS + c->period_ns, 1,
                                          &c->after_pages);
        VcpuDirtyStat out[1];

        g_test_message("%s", c->what);
        g_assert_true(dirtyrate_stat_compute(&a, &b, out));
        g_assert_cmpuint(out[0].rate_pages_per_s, ==, c->rate_pages_per_s);
        g_assert_cmpuint(out[0].dirty_pages, ==, c->after_pages);
        g_assert_cmpuint(out[0].period_ns, ==, c->period_ns);
        g_assert_cmpint(out[0].measured_ns, ==, b.now_ns);
    }
}

static void test_no_rate_across_vcpu_lists_or_without_time(void)
{
    uint64_t pages[2] = { 10, 20 };
    DirtyRateStatSnapshot a = snap_of(2, NS_PER_MS, 2, pages);
    DirtyRateStatSnapshot b = a;
    VcpuDirtyStat out[2];

    g_assert_false(dirtyrate_stat_compute(&a, &b, out));   /* no time */
    b.now_ns += NS_PER_MS;
    b.generation = 4;
    g_assert_false(dirtyrate_stat_compute(&a, &b, out));   /* new list */
    b.generation = 2;
    b.nr_cpus = 1;
    g_assert_false(dirtyrate_stat_compute(&a, &b, out));   /* resized */
    b.nr_cpus = 2;
    g_assert_true(dirtyrate_stat_compute(&a, &b, out));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirtyrate-compute/rate-is-pages-over-period",
                    test_rate_is_pages_over_period);
    g_test_add_func("/dirtyrate-compute/no-rate-across-vcpu-lists-or-"
                    "without-time",
                    test_no_rate_across_vcpu_lists_or_without_time);
    return g_test_run();
}
