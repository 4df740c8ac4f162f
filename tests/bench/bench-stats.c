/*
 * Median and spread of repeated benchmark runs.
 */
#include "qemu/osdep.h"

#include "bench-stats.h"

int bench_repeats(void)
{
    const char *quick = getenv("BENCH_QUICK");
    const char *asked = getenv("BENCH_REPEATS");

    if (asked && *asked) {
        return CLAMP(atoi(asked), 1, BENCH_MAX_REPEATS);
    }
    return quick && *quick && strcmp(quick, "0") != 0 ? 1
                                                      : BENCH_DEFAULT_REPEATS;
}

BenchStats bench_stats(const double *v, int n)
{
    BenchStats s = { .runs = n };

    g_assert(n > 0);
    s.min = s.max = v[0];
    for (int i = 0; i < n; i++) {
        int below = 0, equal = 0;

        s.min = MIN(s.min, v[i]);
        s.max = MAX(s.max, v[i]);
        for (int j = 0; j < n; j++) {
            below += v[j] < v[i];
            equal += v[j] == v[i];
        }
        /* v[i] is the median when half the runs lie strictly below it. */
        if (below <= n / 2 && below + equal > n / 2) {
            s.median_index = i;
        }
    }
    s.median = v[s.median_index];
    return s;
}

double bench_spread(const BenchStats *s)
{
    return s->max - s->min;
}
