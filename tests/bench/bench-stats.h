/*
 * Repeated benchmark figures: the median and the spread of a few runs, so
 * that a table says how much a figure moves from one run to the next.
 */
#ifndef TESTS_BENCH_STATS_H
#define TESTS_BENCH_STATS_H

/*
 * Runs of each figure: 3; BENCH_QUICK=1 keeps one; BENCH_REPEATS=N asks
 * for N (1 to BENCH_MAX_REPEATS, the size of the arrays of runs).
 */
#define BENCH_DEFAULT_REPEATS 3
#define BENCH_MAX_REPEATS 9

typedef struct BenchStats {
    double median;
    double min;
    double max;
    int median_index;           /* which run is the median */
    int runs;
} BenchStats;

/* How many runs to make (see above). */
int bench_repeats(void);
/* The median (the upper one of an even count), min and max of @v[@n]. */
BenchStats bench_stats(const double *v, int n);
/* Max - min: the spread printed beside a median, in @v's unit. */
double bench_spread(const BenchStats *s);

#endif /* TESTS_BENCH_STATS_H */
