/*
 * The pure dirty-rate estimator: page hash, stratified sampling, the
 * estimate and its 95% interval, units and the writer's ground truth.
 * The page-sampling estimator is run on simulated memory (sequential and
 * random dirty sets) to check its error and the interval's coverage.
 */
#include "qemu/osdep.h"

#include <math.h>

#include "migration/dirtyrate.h"
#include "test-cases.h"

#define PAGE_WORDS (RS_PAGE_SIZE / sizeof(uint64_t))
#define TEST_SEED 20261122
/* Simulated runs per coverage case: enough to see 90% vs 95% apart. */
#define COVERAGE_RUNS 400

static void test_hash_sees_any_one_word_change(void)
{
    g_autofree uint64_t *page = g_new0(uint64_t, PAGE_WORDS);
    uint64_t h0 = dirtyrate_page_hash(page);
    g_autofree uint64_t *again = g_new0(uint64_t, PAGE_WORDS);

    g_assert_cmpuint(dirtyrate_page_hash(again), ==, h0);
    for (size_t w = 0; w < PAGE_WORDS; w++) {
        static const uint64_t values[] = { 1, UINT64_C(1) << 63, 42,
                                           UINT64_MAX };

        for (size_t v = 0; v < G_N_ELEMENTS(values); v++) {
            page[w] = values[v];
            g_assert_cmpuint(dirtyrate_page_hash(page), !=, h0);
        }
        page[w] = 0;
    }
    g_assert_cmpuint(dirtyrate_page_hash(page), ==, h0);
}

static void test_hash_sees_swapped_words(void)
{
    g_autofree uint64_t *page = g_new0(uint64_t, PAGE_WORDS);
    uint64_t h;

    page[0] = 1;
    page[1] = 2;
    h = dirtyrate_page_hash(page);
    page[0] = 2;
    page[1] = 1;
    g_assert_cmpuint(dirtyrate_page_hash(page), !=, h);
}

typedef struct CountCase {
    uint64_t nr_pages;
    uint32_t per_gib;
    uint32_t samples;
} CountCase;

static const CountCase count_cases[] = {
    { 262144, 512, 512 },       /* 1 GiB */
    { 258048, 512, 504 },       /* 1008 MiB of workload memory */
    { 1048576, 128, 512 },      /* 4 GiB */
    { 100, 16384, 6 },          /* a small range: rounded */
    { 1, 128, 1 },              /* never fewer than one */
};

static void test_sample_count_is_per_gib(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(count_cases); i++) {
        const CountCase *c = &count_cases[i];

        g_assert_cmpuint(dirtyrate_sample_count(c->nr_pages, c->per_gib), ==,
                         c->samples);
    }
}

static void test_positions_are_one_per_stratum(void)
{
    const uint64_t first = 4096, nr_pages = 100003;
    const uint32_t n = 512;
    g_autofree uint64_t *a = g_new(uint64_t, n);
    g_autofree uint64_t *b = g_new(uint64_t, n);

    dirtyrate_sample_positions(first, nr_pages, n, TEST_SEED, a);
    dirtyrate_sample_positions(first, nr_pages, n, TEST_SEED, b);
    g_assert_cmpmem(a, n * sizeof(uint64_t), b, n * sizeof(uint64_t));
    for (uint32_t i = 0; i < n; i++) {
        uint64_t lo = first + (uint64_t)i * nr_pages / n;
        uint64_t hi = first + (uint64_t)(i + 1) * nr_pages / n;

        g_assert_cmpuint(a[i], >=, lo);
        g_assert_cmpuint(a[i], <, hi);
    }
    dirtyrate_sample_positions(first, nr_pages, n, TEST_SEED + 1, b);
    g_assert_true(memcmp(a, b, n * sizeof(uint64_t)) != 0);
}

/*
 * The Wilson score interval at 95%, computed by hand from its textbook
 * formula (center (p + z^2/2n) / (1 + z^2/n), half-width
 * z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)) and scaled to the pages:
 * 51 of 512 is [7.66%, 12.86%], the published table's figure.
 */
typedef struct EstimateCase {
    uint32_t changed;
    uint32_t sampled;
    uint64_t nr_pages;
    uint64_t dirty_pages;
    uint64_t low_pages;
    uint64_t high_pages;
} EstimateCase;

/* Rounding of the scaled bounds: a page either way. */
#define ESTIMATE_ROUNDING_PAGES 1

static const EstimateCase estimate_cases[] = {
    { 0, 512, 262144, 0, 0, 1953 },
    { 512, 512, 262144, 262144, 260191, 262144 },
    { 51, 512, 262144, 26112, 20073, 33714 },
    { 1, 2, 1000, 500, 94, 906 },
};

static void test_estimate_is_the_wilson_interval(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(estimate_cases); i++) {
        const EstimateCase *c = &estimate_cases[i];
        DirtyRateEstimate e = dirtyrate_estimate(c->changed, c->sampled,
                                                 c->nr_pages);

        g_test_message("%u of %u: %" PRIu64 " in [%" PRIu64 ", %" PRIu64
                       "]", c->changed, c->sampled, e.dirty_pages,
                       e.low_pages, e.high_pages);
        g_assert_cmpuint(e.dirty_pages, ==, c->dirty_pages);
        g_assert_cmpuint(e.low_pages + ESTIMATE_ROUNDING_PAGES, >=,
                         c->low_pages);
        g_assert_cmpuint(e.low_pages, <=,
                         c->low_pages + ESTIMATE_ROUNDING_PAGES);
        g_assert_cmpuint(e.high_pages + ESTIMATE_ROUNDING_PAGES, >=,
                         c->high_pages);
        g_assert_cmpuint(e.high_pages, <=,
                         c->high_pages + ESTIMATE_ROUNDING_PAGES);
    }
    /* Nothing sampled: anything is possible. */
    g_assert_cmpuint(dirtyrate_estimate(0, 0, 77).high_pages, ==, 77);
}

static void test_units_are_mib_per_second(void)
{
    g_assert_cmpfloat(dirtyrate_pages_to_mbps(256, NANOSECONDS_PER_SECOND),
                      ==, 1.0);
    g_assert_cmpfloat(dirtyrate_pages_to_mbps(2560, NANOSECONDS_PER_SECOND /
                                              10), ==, 100.0);
    g_assert_cmpfloat(dirtyrate_pages_to_mbps(5, 0), ==, 0.0);
    g_assert_cmpint(dirtyrate_mbps_round(99.5), ==, 100);
    g_assert_cmpint(dirtyrate_mbps_round(99.49), ==, 99);
}

static void test_ground_truth_of_a_writer(void)
{
    /* Sequential: every store is a new page until the region is full. */
    g_assert_cmpfloat(dirtyrate_expected_distinct_pages(1000, 300, false),
                      ==, 300);
    g_assert_cmpfloat(dirtyrate_expected_distinct_pages(1000, 5000, false),
                      ==, 1000);
    g_assert_cmpfloat(dirtyrate_expected_distinct_pages(0, 5, true), ==, 0);
    g_assert_cmpfloat(dirtyrate_expected_distinct_pages(1, 5, true), ==, 1);
    /* Random: N(1 - (1 - 1/N)^k); N = 2, k = 2 -> 1.5. */
    g_assert_cmpfloat(fabs(dirtyrate_expected_distinct_pages(2, 2, true) -
                           1.5), <, 1e-9);
    /* k = N: 1 - 1/e of the region. */
    g_assert_cmpfloat(fabs(dirtyrate_expected_distinct_pages(1 << 20,
                                                             1 << 20, true) /
                           (1 << 20) - (1 - exp(-1))), <, 1e-6);
}

/* Simulated memory: a dirty set, sampled the way the real mode does. */
typedef struct SimCase {
    const char *what;
    uint64_t nr_pages;
    double dirty_fraction;
    bool random;                /* else one contiguous run */
    uint32_t per_gib;
    double max_mean_error;      /* |estimate - truth| / truth, on average */
} SimCase;

static const SimCase sim_cases[] = {
    { "sequential 10%, 512/GiB", 258048, 0.10, false, 512, 0.02 },
    { "sequential 50%, 512/GiB", 258048, 0.50, false, 512, 0.01 },
    { "sequential 2%, 512/GiB", 258048, 0.02, false, 512, 0.10 },
    { "random 10%, 512/GiB", 258048, 0.10, true, 512, 0.20 },
    { "random 10%, 4096/GiB", 258048, 0.10, true, 4096, 0.08 },
    { "random 60%, 512/GiB", 258048, 0.60, true, 512, 0.06 },
};

static void test_sampling_error_and_coverage(void)
{
    GRand *rng = g_rand_new_with_seed(TEST_SEED);

    for (size_t i = 0; i < G_N_ELEMENTS(sim_cases); i++) {
        const SimCase *c = &sim_cases[i];
        g_autofree uint8_t *dirty = g_new0(uint8_t, c->nr_pages);
        uint32_t n = dirtyrate_sample_count(c->nr_pages, c->per_gib);
        g_autofree uint64_t *pos = g_new(uint64_t, n);
        uint64_t covered = 0;
        double sum_error = 0;

        for (int run = 0; run < COVERAGE_RUNS; run++) {
            uint64_t truth = 0, changed = 0;
            DirtyRateEstimate e;

            memset(dirty, 0, c->nr_pages);
            if (c->random) {
                for (uint64_t p = 0; p < c->nr_pages; p++) {
                    dirty[p] = g_rand_double(rng) < c->dirty_fraction;
                    truth += dirty[p];
                }
            } else {
                /* A sequential writer: one run, possibly wrapping. */
                uint64_t len = (uint64_t)(c->dirty_fraction * c->nr_pages);
                uint64_t start = g_rand_int_range(rng, 0, c->nr_pages);

                for (uint64_t k = 0; k < len; k++) {
                    dirty[(start + k) % c->nr_pages] = 1;
                }
                truth = len;
            }
            dirtyrate_sample_positions(0, c->nr_pages, n,
                                       g_rand_int(rng), pos);
            for (uint32_t s = 0; s < n; s++) {
                changed += dirty[pos[s]];
            }
            e = dirtyrate_estimate(changed, n, c->nr_pages);
            sum_error += fabs((double)e.dirty_pages - truth) / truth;
            covered += e.low_pages <= truth && truth <= e.high_pages;
        }
        g_test_message("%s: %u samples, mean error %.2f%%, interval "
                       "covers %.1f%%", c->what, n,
                       100 * sum_error / COVERAGE_RUNS,
                       100.0 * covered / COVERAGE_RUNS);
        g_assert_cmpfloat(sum_error / COVERAGE_RUNS, <, c->max_mean_error);
        g_assert_cmpfloat((double)covered / COVERAGE_RUNS, >=, 0.90);
    }
    g_rand_free(rng);
}

static const TestCase cases[] = {
    { "hash/sees-any-one-word-change", test_hash_sees_any_one_word_change },
    { "hash/sees-swapped-words", test_hash_sees_swapped_words },
    { "sampling/count-is-per-gib", test_sample_count_is_per_gib },
    { "sampling/positions-are-one-per-stratum",
      test_positions_are_one_per_stratum },
    { "estimate/is-the-wilson-interval", test_estimate_is_the_wilson_interval },
    { "estimate/units-are-mib-per-second", test_units_are_mib_per_second },
    { "estimate/ground-truth-of-a-writer", test_ground_truth_of_a_writer },
    { "estimate/sampling-error-and-coverage",
      test_sampling_error_and_coverage },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return test_run_cases(&argc, &argv, "/dirtyrate/", cases);
}
