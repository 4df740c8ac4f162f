/*
 * The convergence policies' decisions, as pure functions: QEMU's
 * trigger and auto-converge steps, restraint's adaptive quotas, and
 * which capabilities may be on together.  No KVM.
 */
#include "qemu/osdep.h"

#include "migration/convergence.h"
#include "migration/migration.h"
#include "migration/options.h"

static const ConvergenceParams default_params = {
    .throttle_initial_pct = 20, .throttle_increment_pct = 10,
    .throttle_tailslow = false, .max_throttle_pct = 99,
    .trigger_threshold_pct = 50, .dirty_limit_period_ms = 1000,
    .vcpu_dirty_limit_mbps = 1,
};

static void test_trigger_fires_on_the_second_high_period(void)
{
    static const struct {
        uint64_t dirty_bytes, transferred_bytes;
        bool fires;
    } periods[] = {
        { 600, 1000, false },   /* above 50%: first time */
        { 600, 1000, true },    /* second time: fires, count reset */
        { 600, 1000, false },
        { 400, 1000, false },   /* quiet: count kept, as QEMU */
        { 600, 1000, true },
        { 500, 1000, false },   /* exactly 50% is not above */
    };
    unsigned int high = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(periods); i++) {
        ConvergenceSync sync = {
            .period_ms = 1000, .dirty_bytes = periods[i].dirty_bytes,
            .transferred_bytes = periods[i].transferred_bytes,
        };

        g_assert_cmpint(convergence_trigger(&high, &sync, 50), ==,
                        periods[i].fires);
    }
}

static void test_auto_converge_steps_like_qemu(void)
{
    static const struct {
        unsigned int now_pct;
        bool tailslow;
        uint64_t dirty_bytes, transferred_bytes;
        unsigned int next_pct;
    } steps[] = {
        { 0, false, 2000, 1000, 20 },       /* starts at initial */
        { 20, false, 2000, 1000, 30 },      /* + increment */
        { 95, false, 2000, 1000, 99 },      /* capped at max */
        { 99, false, 2000, 1000, 99 },
        /* tailslow: run 80% now; threshold 500 of 1000 dirty -> 40%
         * would do, 40 more needed: increment 10 is smaller. */
        { 20, true, 1000, 1000, 30 },
        /* tailslow: dirty 550, threshold 500: run 80 -> 72.7, +7 */
        { 20, true, 550, 1000, 27 },
        /* tailslow, nearly there: at least 1 */
        { 20, true, 501, 1000, 21 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(steps); i++) {
        ConvergenceParams p = default_params;
        ConvergenceSync sync = {
            .period_ms = 1000, .dirty_bytes = steps[i].dirty_bytes,
            .transferred_bytes = steps[i].transferred_bytes,
        };

        p.throttle_tailslow = steps[i].tailslow;
        g_assert_cmpuint(convergence_auto_next_pct(steps[i].now_pct, &p,
                                                   &sync), ==,
                         steps[i].next_pct);
    }
}

#define MAX_CPUS 4

static const struct {
    const char *name;
    uint64_t budget_mbps;
    int cpus;
    uint64_t rate_mbps[MAX_CPUS];
    uint64_t prev_quota_mbps[MAX_CPUS];
    uint64_t quota_mbps[MAX_CPUS];
} adaptive_cases[] = {
    { "everyone fits: nobody is held", 100, 2, { 60, 0 }, { 0, 0 },
      { 0, 0 } },
    { "a writer above the budget is held, the reader never", 100, 2,
      { 1500, 0 }, { 0, 0 }, { 100, 0 } },
    { "a held writer near its quota stays held", 100, 2, { 95, 0 },
      { 100, 0 }, { 100, 0 } },
    { "a held writer that stopped writing is let go", 100, 2, { 10, 0 },
      { 100, 0 }, { 0, 0 } },
    { "two writers share the budget fairly", 100, 2, { 800, 300 },
      { 0, 0 }, { 50, 50 } },
    { "a small writer keeps its rate, the big one gets the rest", 100, 3,
      { 800, 20, 0 }, { 0, 0, 0 }, { 80, 0, 0 } },
    { "a tiny budget still leaves 1 MB/s", 1, 2, { 800, 300 }, { 0, 0 },
      { 1, 1 } },
};

static void test_adaptive_holds_only_the_writers(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(adaptive_cases); i++) {
        uint64_t quota[MAX_CPUS];
        AdaptiveInput in = {
            .budget_mbps = adaptive_cases[i].budget_mbps,
            .cpus = adaptive_cases[i].cpus,
            .rate_mbps = adaptive_cases[i].rate_mbps,
            .prev_quota_mbps = adaptive_cases[i].prev_quota_mbps,
        };

        convergence_adaptive_quotas(&in, quota);
        for (int c = 0; c < in.cpus; c++) {
            if (quota[c] != adaptive_cases[i].quota_mbps[c]) {
                g_test_message("%s: cpu %d quota %" PRIu64 ", want %" PRIu64,
                               adaptive_cases[i].name, c, quota[c],
                               adaptive_cases[i].quota_mbps[c]);
                g_test_fail();
            }
        }
    }
}

static void test_adaptive_budget_is_a_share_of_the_stream(void)
{
    /* 128 MiB/s of stream, half of it, less the 8-byte tags. */
    g_assert_cmpuint(convergence_adaptive_budget_mbps(128 * MiB, 2), ==, 63);
    g_assert_cmpuint(convergence_adaptive_budget_mbps(128 * MiB, 64), ==, 1);
    g_assert_cmpuint(convergence_adaptive_budget_mbps(1000, 2), ==, 1);
}

static void test_adaptive_tightens_when_a_pass_does_not_shrink(void)
{
    g_assert_cmpuint(convergence_adaptive_next_share(2, 1000, 500), ==, 2);
    g_assert_cmpuint(convergence_adaptive_next_share(2, 1000, 750), ==, 2);
    g_assert_cmpuint(convergence_adaptive_next_share(2, 1000, 751), ==, 4);
    g_assert_cmpuint(convergence_adaptive_next_share(64, 1000, 1000), ==, 64);
    g_assert_cmpuint(convergence_adaptive_next_share(2, 0, 1000), ==, 2);
}

/* The system area of a booted guest, as mig_ram_wire_bytes() sees it:
 * a few hundred pages of tables, code and stacks, the rest zero. */
#define SYSTEM_WIRE_BYTES (400 * (MIG_PAGE_BYTES + 8) + 3696 * 8)

static const struct {
    const char *name;
    uint64_t dirty_pages, stopped_bytes, bandwidth_bytes_per_s;
    int64_t expected_ms;
} downtime_cases[] = {
    { "nothing measured yet: never fits", 0, 0, 0, INT64_MAX },
    { "dirty pages go as tag and page", 25600, 0, 100 * MiB, 1001 },
    { "the system area counts when nothing is dirty", 0,
      SYSTEM_WIRE_BYTES, 1 * MiB, 1593 },
    { "a whole non-zero system area", 0, 4096 * (MIG_PAGE_BYTES + 8),
      160 * MiB, 100 },
    { "dirty pages and the system area add up", 2560, SYSTEM_WIRE_BYTES,
      10 * MiB, 1161 },
};

static void test_downtime_counts_what_only_the_switchover_sends(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(downtime_cases); i++) {
        int64_t got_ms = migration_expected_downtime_ms(
            downtime_cases[i].dirty_pages, downtime_cases[i].stopped_bytes,
            downtime_cases[i].bandwidth_bytes_per_s);

        if (got_ms != downtime_cases[i].expected_ms) {
            g_test_message("%s: %" PRId64 " ms, want %" PRId64 " ms",
                           downtime_cases[i].name, got_ms,
                           downtime_cases[i].expected_ms);
            g_test_fail();
        }
    }
}

static void test_system_area_wire_size_counts_zero_pages_as_tags(void)
{
    enum { PAGES = 8 };
    g_autofree uint8_t *ram = g_malloc0(PAGES * MIG_PAGE_BYTES);

    g_assert_cmpuint(mig_ram_wire_bytes(ram, PAGES * MIG_PAGE_BYTES), ==,
                     PAGES * 8);
    ram[0] = 1;                                 /* first byte of page 0 */
    ram[5 * MIG_PAGE_BYTES - 1] = 1;            /* last byte of page 4 */
    g_assert_cmpuint(mig_ram_wire_bytes(ram, PAGES * MIG_PAGE_BYTES), ==,
                     PAGES * 8 + 2 * MIG_PAGE_BYTES);
}

static const struct {
    const char *name;
    bool events, autoconv, dirty_limit, adaptive;
    bool ring;
    const char *error;          /* NULL: allowed */
} caps_cases[] = {
    { "nothing", false, false, false, false, false, NULL },
    { "events alone", true, false, false, false, false, NULL },
    { "auto-converge without the ring", false, true, false, false, false,
      NULL },
    { "dirty-limit with the ring", false, false, true, false, true, NULL },
    { "dirty-limit without the ring", false, false, true, false, false,
      "needs the dirty ring" },
    { "adaptive without the ring", false, false, false, true, false,
      "needs the dirty ring" },
    { "auto-converge and dirty-limit", false, true, true, false, true,
      "cannot be on together" },
    { "auto-converge and adaptive", false, true, false, true, true,
      "cannot be on together" },
    { "dirty-limit and adaptive", false, false, true, true, true,
      "cannot be on together" },
};

static void test_convergence_capabilities_exclude_each_other(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(caps_cases); i++) {
        bool caps[MIGRATION_CAPABILITY__MAX] = { false };
        Error *err = NULL;
        bool ok;

        caps[MIGRATION_CAPABILITY_EVENTS] = caps_cases[i].events;
        caps[MIGRATION_CAPABILITY_AUTO_CONVERGE] = caps_cases[i].autoconv;
        caps[MIGRATION_CAPABILITY_DIRTY_LIMIT] = caps_cases[i].dirty_limit;
        caps[MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE] =
            caps_cases[i].adaptive;
        ok = migration_caps_check(caps, caps_cases[i].ring, &err);
        if (caps_cases[i].error) {
            g_assert_false(ok);
            g_assert_nonnull(strstr(error_get_pretty(err),
                                    caps_cases[i].error));
            error_free(err);
        } else {
            g_assert_true(ok);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/convergence/trigger-fires-on-the-second-"
                    "high-period",
                    test_trigger_fires_on_the_second_high_period);
    g_test_add_func("/migration/convergence/auto-converge-steps-like-qemu",
                    test_auto_converge_steps_like_qemu);
    g_test_add_func("/migration/convergence/adaptive-holds-only-the-writers",
                    test_adaptive_holds_only_the_writers);
    g_test_add_func("/migration/convergence/adaptive-budget-is-a-share-of-"
                    "the-stream",
                    test_adaptive_budget_is_a_share_of_the_stream);
    g_test_add_func("/migration/convergence/adaptive-tightens-when-a-pass-"
                    "does-not-shrink",
                    test_adaptive_tightens_when_a_pass_does_not_shrink);
    g_test_add_func("/migration/switchover/expected-downtime-includes-what-"
                    "only-the-switchover-sends",
                    test_downtime_counts_what_only_the_switchover_sends);
    g_test_add_func("/migration/switchover/system-area-wire-size-counts-"
                    "zero-pages-as-tags",
                    test_system_area_wire_size_counts_zero_pages_as_tags);
    g_test_add_func("/migration/capabilities/convergence-capabilities-"
                    "exclude-each-other",
                    test_convergence_capabilities_exclude_each_other);
    return g_test_run();
}
