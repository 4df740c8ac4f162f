/*
 * scale-bench: how each cost of the subsystem grows with vCPUs and RAM.
 * One table per axis, each figure the median of REPEATS runs with its
 * spread (max - min), and for the growing axes the fitted log-log slope
 * (1 = linear, < 1 better, > 1 worse).  Prints tables; never fails on time.
 *
 *   vCPUs 1, 16, 64, 256 (two paced writers, the rest idle):
 *     VMM CPU % of a core (every thread but the writers' vCPU threads),
 *     with no tracking, with tracking on (dirty ring + calculator), with
 *     the two writers limited; reaper and calculator CPU per period; RSS
 *     per vCPU.
 *   RAM 1, 8, 64 GiB (a writer over 1 GiB, half of RAM at most), dirty
 *   bitmap mode:
 *     sync cost per GiB dirty and per GiB clean; the migration zero-page
 *     scan over untouched RAM and over resident zero pages, GB/s;
 *     calc-dirty-rate CPU per mode.
 *   16 writers, quotas 1..200 MB/s: each one's error against the guest's
 *     own counter; the calculator's CPU.
 *
 * BENCH_QUICK=1: vCPUs 1 and 16, RAM 1 and 8 GiB, 4 writers, one repeat,
 * short windows: checks the tables print, not a measurement.
 */
#include "qemu/osdep.h"

#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "hw/core/cpu.h"
#include "hw/workload.h"
#include "migration/stream.h"
#include "qapi/qapi-commands.h"
#include "sysemu/cpus.h"
#include "sysemu/dirtyrate-stat.h"
#include "sysemu/memory.h"
#include "sysemu/physmem.h"
#include "test-vm.h"

#define BENCH_MAX_POINTS 4
#define BENCH_MAX_REPEATS 5
#define BENCH_WRITERS 2
/* The two writers of the vCPU axis: paced, so their own cost is fixed. */
#define BENCH_WRITER_MBPS 50
/* Their quota when limited: below what they ask for, so they sleep. */
#define BENCH_LIMIT_MBPS 25
#define BENCH_RING_ENTRIES 4096
#define BENCH_WRITER_REGION (64 * MiB)
#define BENCH_SYNC_REGION GiB
#define BENCH_QUOTA_MIN_MBPS 1.0
#define BENCH_QUOTA_MAX_MBPS 200.0
#define BENCH_QUOTA_WRITERS 16
/*
 * A quota writer's region: larger than its quota's worth of pages in one
 * 1-s window, so the distinct pages the limiter counts (docs/devel/
 * dirty-limit.md, "The window") and the page stores the guest counts are
 * the same pages.
 */
#define BENCH_QUOTA_REGION (256 * MiB)

typedef struct BenchConfig {
    bool quick;
    int repeats;
    int64_t window_us;           /* one CPU measurement */
    int64_t settle_us;           /* before it */
    int cpu_points[BENCH_MAX_POINTS];
    int n_cpu_points;
    uint64_t ram_gib_points[BENCH_MAX_POINTS];
    int n_ram_points;
    int quota_writers;
} BenchConfig;

/* Figures of one metric over the repeats of one point. */
typedef struct Samples {
    int n;
    double v[BENCH_MAX_REPEATS];
} Samples;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double samples_median(Samples *s)
{
    qsort(s->v, s->n, sizeof(double), cmp_double);
    return s->n % 2 ? s->v[s->n / 2]
                    : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

static double samples_spread(Samples *s)
{
    qsort(s->v, s->n, sizeof(double), cmp_double);
    return s->v[s->n - 1] - s->v[0];
}

/* Least-squares slope of log(y) over log(x); NAN without two points > 0. */
static double loglog_slope(const double *x, const double *y, int n)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;

    for (int i = 0; i < n; i++) {
        if (x[i] > 0 && y[i] > 0) {
            double lx = log(x[i]), ly = log(y[i]);

            sx += lx;
            sy += ly;
            sxx += lx * lx;
            sxy += lx * ly;
            m++;
        }
    }
    if (m < 2 || m * sxx - sx * sx == 0) {
        return NAN;
    }
    return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

static const char *slope_verdict(double slope)
{
    if (isnan(slope)) {
        return "n/a";
    }
    /* A tenth of slack: two-core shared host, short windows. */
    return slope <= 1.1 ? "linear or better" : "WORSE than linear";
}

/* ns on a CPU of thread @tid (schedstat's first field). */
static int64_t tid_cpu_ns(pid_t tid)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/schedstat",
                                            (int)tid);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    return g_ascii_strtoll(text, NULL, 10);
}

/* ns on a CPU of every thread whose name starts with @prefix. */
static int64_t named_cpu_ns(const char *prefix)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/task", 0, NULL);
    const char *name;
    int64_t sum = 0;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *path = g_strdup_printf("/proc/self/task/%s/comm",
                                                name);
        g_autofree char *comm = NULL;

        if (g_file_get_contents(path, &comm, NULL, NULL) &&
            g_str_has_prefix(comm, prefix)) {
            sum += tid_cpu_ns(atoi(name));
        }
    }
    return sum;
}

static int64_t process_cpu_ns(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NANOSECONDS_PER_SECOND
           + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* CPU of the vCPU threads of [0, n) (those that exist), ns. */
static int64_t vcpus_cpu_ns(int n)
{
    int64_t sum = 0;

    for (int i = 0; i < MIN(n, cpus_count()); i++) {
        sum += tid_cpu_ns(cpu_thread_id(cpus_get(i)));
    }
    return sum;
}

/* A "Field:   N" line of /proc/@pid/status, 0 if absent. */
static uint64_t proc_status_field(pid_t pid, const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    g_autofree char *key = g_strdup_printf("\n%s:", field);
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !(p = strstr(text, key))) {
        return 0;
    }
    return g_ascii_strtoull(p + strlen(key), NULL, 10);
}

/*
 * Resident KiB of a fresh restraint process with @n vCPUs (-S: parked,
 * guest RAM untouched), once all its vCPU threads exist: the VMM's own
 * memory, apart from anything this process ran before.  0 without
 * $RESTRAINT.
 */
static uint64_t restraint_rss_kib(int n)
{
    const char *bin = g_getenv("RESTRAINT");
    g_autofree char *smp = g_strdup_printf("%d", n);
    g_autofree char *ram = g_strdup_printf("%" PRIu64 "M",
                                           (RS_SYS_SIZE + (uint64_t)n *
                                            BENCH_WRITER_REGION) / MiB);
    g_autofree char *accel = g_strdup_printf("kvm,dirty-ring-size=%d",
                                             BENCH_RING_ENTRIES);
    char *argv[] = { (char *)bin, "-S", "-smp", smp, "-m", ram,
                     "-accel", accel, "-x-live", "off", NULL };
    uint64_t rss = 0;
    GPid pid;

    if (!bin || !g_spawn_async(NULL, argv, NULL,
                               G_SPAWN_DO_NOT_REAP_CHILD |
                               G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid,
                               NULL)) {
        return 0;
    }
    for (int i = 0; i < TEST_POLL_MAX_STEPS; i++) {
        /* main + the vCPUs (+ helpers): all created means set up. */
        if (proc_status_field(pid, "Threads") > (uint64_t)n) {
            g_usleep(TEST_POLL_STEP_US * 20);
            rss = proc_status_field(pid, "VmRSS");
            break;
        }
        g_usleep(TEST_POLL_STEP_US);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
    return rss;
}

static void set_workload(int cpu, enum rs_workload_kind kind,
                         uint64_t size_bytes, uint64_t rate_mbps)
{
    WorkloadConfig wl = { .kind = kind, .pattern = RS_PAT_SEQ,
                          .size_bytes = size_bytes, .rate_mbps = rate_mbps };

    g_assert(workload_set(cpu, &wl, NULL));
}

/* ---- the vCPU axis ---- */

enum { CPU_NONE, CPU_TRACKING, CPU_LIMITED, CPU_MODES };
static const char *const cpu_mode_names[CPU_MODES] = {
    "no tracking", "tracking on", "2 limited",
};

typedef struct CpuPoint {
    Samples vmm_pct[CPU_MODES];      /* % of one core */
    Samples reaper_us_per_run;
    Samples calc_us_per_period;
    Samples rss_kib_per_vcpu;
} CpuPoint;

/* VMM CPU (% of a core) over one window: everything but the writers. */
static double vmm_cpu_pct(const BenchConfig *cfg)
{
    int64_t p0 = process_cpu_ns(), w0 = vcpus_cpu_ns(BENCH_WRITERS);
    int64_t t0 = g_get_monotonic_time();
    int64_t p1, w1, t1;

    g_usleep(cfg->window_us);
    p1 = process_cpu_ns();
    w1 = vcpus_cpu_ns(BENCH_WRITERS);
    t1 = g_get_monotonic_time();
    return 100.0 * ((p1 - p0) - (w1 - w0)) / ((t1 - t0) * 1000.0);
}

static void bench_cpu_point(const BenchConfig *cfg, int n, CpuPoint *pt)
{
    g_autoptr(VLOptions) opts = test_vm_options(RS_SYS_SIZE +
                                                (uint64_t)MAX(n, 4) *
                                                BENCH_WRITER_REGION, n);
    uint64_t runs0, runs1;
    DirtyTrackingStats st;
    int64_t reaper0, calc0, reaper1, calc1, t0, t1;
    Error *err = NULL;
    Samples *s;

    s = &pt->rss_kib_per_vcpu;
    s->v[s->n++] = (double)restraint_rss_kib(n) / n;
    opts->accel.dirty_ring_entries = BENCH_RING_ENTRIES;
    test_vm_create(opts);
    for (int i = 0; i < MIN(n, BENCH_WRITERS); i++) {
        set_workload(i, RS_WL_WRITE, BENCH_WRITER_REGION, BENCH_WRITER_MBPS);
    }
    g_usleep(cfg->settle_us);
    s = &pt->vmm_pct[CPU_NONE];
    s->v[s->n++] = vmm_cpu_pct(cfg);

    g_assert(memory_global_dirty_log_start(GLOBAL_DIRTY_CHECK, &err));
    g_assert(dirtyrate_stat_start(&err));
    g_usleep(cfg->settle_us);
    memory_dirty_tracking_stats(&st);
    runs0 = st.reaper_runs;
    reaper0 = named_cpu_ns("kvm-reaper");
    calc0 = named_cpu_ns("dirtyrate-stat");
    t0 = g_get_monotonic_time();
    s = &pt->vmm_pct[CPU_TRACKING];
    s->v[s->n++] = vmm_cpu_pct(cfg);
    t1 = g_get_monotonic_time();
    memory_dirty_tracking_stats(&st);
    runs1 = st.reaper_runs;
    reaper1 = named_cpu_ns("kvm-reaper");
    calc1 = named_cpu_ns("dirtyrate-stat");
    s = &pt->reaper_us_per_run;
    s->v[s->n++] = (reaper1 - reaper0) / 1000.0 / MAX(runs1 - runs0, 1);
    s = &pt->calc_us_per_period;
    s->v[s->n++] = (calc1 - calc0) / 1000.0 /
                   MAX((t1 - t0) / 1000 / DIRTYRATE_STAT_DEFAULT_PERIOD_MS, 1);

    for (int i = 0; i < MIN(n, BENCH_WRITERS); i++) {
        qmp_set_vcpu_dirty_limit(true, i, BENCH_LIMIT_MBPS, &err);
        g_assert(!err);
    }
    g_usleep(cfg->settle_us);
    s = &pt->vmm_pct[CPU_LIMITED];
    s->v[s->n++] = vmm_cpu_pct(cfg);
    qmp_cancel_vcpu_dirty_limit(false, 0, NULL);
    dirtyrate_stat_stop();
    memory_global_dirty_log_stop(GLOBAL_DIRTY_CHECK);
    test_vm_destroy();
}

static void print_row(const char *label, Samples *s, const char *fmt_unit)
{
    printf("  %-28s", label);
    for (int p = 0; s[p].n; p++) {
        printf(" %9.3f ±%-7.3f", samples_median(&s[p]),
               samples_spread(&s[p]));
    }
    printf("  %s\n", fmt_unit);
}

static void print_slope(const char *label, const double *x, Samples *s,
                        int n)
{
    double y[BENCH_MAX_POINTS];
    double slope;

    for (int p = 0; p < n; p++) {
        y[p] = samples_median(&s[p]);
    }
    slope = loglog_slope(x, y, n);
    printf("  %-28s slope %.2f: %s\n", label, slope, slope_verdict(slope));
}

static void bench_cpu_axis(const BenchConfig *cfg)
{
    CpuPoint pts[BENCH_MAX_POINTS + 1] = { 0 };
    Samples row[BENCH_MAX_POINTS + 1];
    double x[BENCH_MAX_POINTS];

    for (int p = 0; p < cfg->n_cpu_points; p++) {
        x[p] = cfg->cpu_points[p];
        for (int r = 0; r < cfg->repeats; r++) {
            bench_cpu_point(cfg, cfg->cpu_points[p], &pts[p]);
        }
    }
    printf("\n== vCPUs (2 writers at %d MB/s, the rest idle; ring %d) ==\n",
           BENCH_WRITER_MBPS, BENCH_RING_ENTRIES);
    printf("  %-28s", "vCPUs");
    for (int p = 0; p < cfg->n_cpu_points; p++) {
        printf(" %9d %-8s", cfg->cpu_points[p], "(spread)");
    }
    printf("\n");
    for (int m = 0; m < CPU_MODES; m++) {
        g_autofree char *label = g_strdup_printf("VMM CPU, %s",
                                                 cpu_mode_names[m]);

        for (int p = 0; p <= cfg->n_cpu_points; p++) {
            row[p] = pts[p].vmm_pct[m];
        }
        print_row(label, row, "% of a core");
    }
#define BENCH_CPU_ROW(field, label, unit)                                 \
    do {                                                                  \
        for (int p = 0; p <= cfg->n_cpu_points; p++) {                    \
            row[p] = pts[p].field;                                        \
        }                                                                 \
        print_row(label, row, unit);                                      \
    } while (0)
    BENCH_CPU_ROW(reaper_us_per_run, "reaper CPU per run", "us");
    BENCH_CPU_ROW(calc_us_per_period, "calculator CPU per period", "us");
    BENCH_CPU_ROW(rss_kib_per_vcpu, "RSS per vCPU", "KiB");
    if (cfg->n_cpu_points > 1) {
        int last = cfg->n_cpu_points - 1;
        double span = cfg->cpu_points[last] - cfg->cpu_points[0];
        double rss_first = samples_median(&pts[0].rss_kib_per_vcpu) *
                           cfg->cpu_points[0];
        double rss_last = samples_median(&pts[last].rss_kib_per_vcpu) *
                          cfg->cpu_points[last];

        /* The machine's fixed RSS cancels: what one more vCPU costs. */
        printf("  %-28s %9.1f KiB\n", "RSS per added vCPU",
               (rss_last - rss_first) / span);
    }
    for (int m = 0; m < CPU_MODES; m++) {
        for (int p = 0; p < cfg->n_cpu_points; p++) {
            row[p] = pts[p].vmm_pct[m];
        }
        print_slope(cpu_mode_names[m], x, row, cfg->n_cpu_points);
    }
    for (int p = 0; p < cfg->n_cpu_points; p++) {
        row[p] = pts[p].reaper_us_per_run;
    }
    print_slope("reaper per run", x, row, cfg->n_cpu_points);
    for (int p = 0; p < cfg->n_cpu_points; p++) {
        row[p] = pts[p].calc_us_per_period;
    }
    print_slope("calculator per period", x, row, cfg->n_cpu_points);
#undef BENCH_CPU_ROW
}

/* ---- the RAM axis ---- */

enum { RAM_SYNC_DIRTY, RAM_SYNC_CLEAN, RAM_ZERO_UNTOUCHED, RAM_ZERO_RESIDENT,
       RAM_CALC_SAMPLING, RAM_CALC_RING, RAM_CALC_BITMAP, RAM_METRICS };
static const char *const ram_metric_names[RAM_METRICS] = {
    "sync, ms per GiB dirty", "sync, ms per GiB clean",
    "zero scan untouched, GB/s", "zero scan resident, GB/s",
    "calc page-sampling CPU ms", "calc dirty-ring CPU ms",
    "calc dirty-bitmap CPU ms",
};

static double ms_since(int64_t t0_us)
{
    return (g_get_monotonic_time() - t0_us) / 1000.0;
}

static double zero_scan_gbps(const uint8_t *buf, uint64_t bytes)
{
    int64_t t0 = g_get_monotonic_time();
    uint64_t zero = 0;

    for (uint64_t off = 0; off < bytes; off += MIG_PAGE_BYTES) {
        zero += mig_buffer_is_zero(buf + off, MIG_PAGE_BYTES);
    }
    g_assert_cmpuint(zero, ==, bytes / MIG_PAGE_BYTES);
    return bytes / 1e9 / (ms_since(t0) / 1000.0);
}

/* CPU of everything but the vCPU threads over one calc-dirty-rate, ms. */
static double calc_cpu_ms(int cpus, DirtyRateMeasureMode mode)
{
    int64_t p0 = process_cpu_ns(), v0 = vcpus_cpu_ns(cpus);
    Error *err = NULL;

    qmp_calc_dirty_rate(1, false, 0, false, 0, true, mode, &err);
    g_assert(!err);
    for (int i = 0; i < TEST_POLL_MAX_STEPS; i++) {
        g_autoptr(DirtyRateInfo) info = qmp_query_dirty_rate(false, 0, NULL);

        if (info->status == DIRTY_RATE_STATUS_MEASURED) {
            break;
        }
        g_usleep(TEST_POLL_STEP_US);
    }
    return ((process_cpu_ns() - p0) - (vcpus_cpu_ns(cpus) - v0)) / 1e6;
}

static void bench_ram_point(const BenchConfig *cfg, uint64_t gib,
                            Samples *out)
{
    uint64_t ram = gib * GiB + RS_SYS_SIZE;
    /* At most half of RAM: the other half is the untouched zero scan's. */
    uint64_t region = MIN(BENCH_SYNC_REGION, gib * GiB / 2) /
                      (cfg->quick ? 4 : 1);
    g_autoptr(VLOptions) opts = test_vm_options(ram, 1);
    uint64_t resident = cfg->quick ? 256 * MiB : GiB;
    g_autofree uint8_t *zeros = g_malloc0(resident);
    double t_dirty, t_clean;
    int64_t t0;
    Error *err = NULL;

    /* Bitmap mode: the sync is what costs. */
    opts->accel.dirty_ring_entries = 0;
    test_vm_create(opts);
    g_assert(memory_global_dirty_log_start(GLOBAL_DIRTY_CHECK, &err));
    set_workload(0, RS_WL_WRITE, region, 0);
    for (int i = 0; i < TEST_POLL_MAX_STEPS &&
         test_vm_sample(0).sweeps < 1; i++) {
        g_usleep(TEST_POLL_STEP_US);
    }
    test_vm_pause();
    t0 = g_get_monotonic_time();
    memory_global_dirty_log_sync();
    t_dirty = ms_since(t0);
    t0 = g_get_monotonic_time();
    memory_global_dirty_log_sync();
    t_clean = ms_since(t0);
    out[RAM_SYNC_DIRTY].v[out[RAM_SYNC_DIRTY].n++] =
        MAX(t_dirty - t_clean, 0) / ((double)region / GiB);
    out[RAM_SYNC_CLEAN].v[out[RAM_SYNC_CLEAN].n++] = t_clean / gib;
    memory_global_dirty_log_stop(GLOBAL_DIRTY_CHECK);

    /* Untouched guest RAM past the writer's region, then resident zeros. */
    out[RAM_ZERO_UNTOUCHED].v[out[RAM_ZERO_UNTOUCHED].n++] =
        zero_scan_gbps(ram_host_base() + RS_WORK_BASE + region,
                       MIN(resident, ram - RS_WORK_BASE - region));
    memset(zeros, 0, resident);
    out[RAM_ZERO_RESIDENT].v[out[RAM_ZERO_RESIDENT].n++] =
        zero_scan_gbps(zeros, resident);
    test_vm_destroy();

    /* calc-dirty-rate wants the dirty ring for its dirty-ring mode. */
    opts->accel.dirty_ring_entries = BENCH_RING_ENTRIES;
    test_vm_create(opts);
    set_workload(0, RS_WL_WRITE, region, BENCH_WRITER_MBPS);
    out[RAM_CALC_SAMPLING].v[out[RAM_CALC_SAMPLING].n++] =
        calc_cpu_ms(1, DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING);
    out[RAM_CALC_RING].v[out[RAM_CALC_RING].n++] =
        calc_cpu_ms(1, DIRTY_RATE_MEASURE_MODE_DIRTY_RING);
    out[RAM_CALC_BITMAP].v[out[RAM_CALC_BITMAP].n++] =
        calc_cpu_ms(1, DIRTY_RATE_MEASURE_MODE_DIRTY_BITMAP);
    test_vm_destroy();
}

static void bench_ram_axis(const BenchConfig *cfg)
{
    Samples m[BENCH_MAX_POINTS + 1][RAM_METRICS] = { 0 };
    Samples row[BENCH_MAX_POINTS + 1];
    double x[BENCH_MAX_POINTS];

    for (int p = 0; p < cfg->n_ram_points; p++) {
        x[p] = cfg->ram_gib_points[p];
        for (int r = 0; r < cfg->repeats; r++) {
            bench_ram_point(cfg, cfg->ram_gib_points[p], m[p]);
        }
    }
    printf("\n== guest RAM (a writer over min(1 GiB, RAM/2)%s; bitmap mode "
           "for sync) ==\n", cfg->quick ? " / 4" : "");
    printf("  %-28s", "GiB");
    for (int p = 0; p < cfg->n_ram_points; p++) {
        printf(" %9" PRIu64 " %-8s", cfg->ram_gib_points[p], "(spread)");
    }
    printf("\n");
    for (int k = 0; k < RAM_METRICS; k++) {
        for (int p = 0; p <= cfg->n_ram_points; p++) {
            row[p] = m[p][k];
        }
        print_row(ram_metric_names[k], row, "");
    }
    for (int k = RAM_CALC_SAMPLING; k < RAM_METRICS; k++) {
        for (int p = 0; p < cfg->n_ram_points; p++) {
            row[p] = m[p][k];
        }
        print_slope(ram_metric_names[k], x, row, cfg->n_ram_points);
    }
}

/* ---- many limited writers ---- */

static void bench_quota_writers(const BenchConfig *cfg)
{
    int n = cfg->quota_writers;
    g_autoptr(VLOptions) opts = test_vm_options(RS_SYS_SIZE +
                                                n * BENCH_QUOTA_REGION, n);
    g_autofree double *quota = g_new(double, n);
    g_autofree WorkloadSample *a = g_new(WorkloadSample, n);
    g_autofree WorkloadSample *b = g_new(WorkloadSample, n);
    int64_t calc0, calc1;
    double worst = 0;
    Error *err = NULL;

    opts->accel.dirty_ring_entries = BENCH_RING_ENTRIES;
    test_vm_create(opts);
    for (int i = 0; i < n; i++) {
        /* Geometric from 1 to 200 MB/s. */
        quota[i] = round(BENCH_QUOTA_MIN_MBPS *
                         pow(BENCH_QUOTA_MAX_MBPS / BENCH_QUOTA_MIN_MBPS,
                             n > 1 ? (double)i / (n - 1) : 0));
        set_workload(i, RS_WL_WRITE, BENCH_QUOTA_REGION, 0);
        qmp_set_vcpu_dirty_limit(true, i, (uint64_t)quota[i], &err);
        g_assert(!err);
    }
    g_usleep(cfg->settle_us * 2);
    calc0 = named_cpu_ns("dirtyrate-stat");
    for (int i = 0; i < n; i++) {
        a[i] = test_vm_sample(i);
    }
    g_usleep(cfg->window_us * 3);
    for (int i = 0; i < n; i++) {
        b[i] = test_vm_sample(i);
    }
    calc1 = named_cpu_ns("dirtyrate-stat");
    printf("\n== %d writers, each with its own quota (guest ground truth) "
           "==\n  vCPU  quota MB/s  guest MB/s   error %%\n", n);
    for (int i = 0; i < n; i++) {
        double s = (b[i].host_ns - a[i].host_ns) / 1e9;
        double mbps = (b[i].pages_written - a[i].pages_written) *
                      (double)RS_PAGE_SIZE / MiB / s;
        double err_pct = 100.0 * (mbps - quota[i]) / quota[i];

        worst = MAX(worst, fabs(err_pct));
        printf("  %4d  %10.0f  %10.2f  %8.2f\n", i, quota[i], mbps, err_pct);
    }
    printf("  worst |error| %.2f %% (target 5 %%; a writer below its quota "
           "may lack CPU, not be held back)\n  calculator thread CPU %.3f %% "
           "of a core (the duty-cycle controllers run on the limited vCPUs' "
           "own threads)\n", worst,
           100.0 * (calc1 - calc0) / (b[0].host_ns - a[0].host_ns));
    qmp_cancel_vcpu_dirty_limit(false, 0, NULL);
    test_vm_destroy();
}

int main(int argc, char **argv)
{
    BenchConfig cfg = {
        .repeats = 3,
        .window_us = 2 * G_USEC_PER_SEC,
        .settle_us = G_USEC_PER_SEC,
        .cpu_points = { 1, 16, 64, 256 },
        .n_cpu_points = 4,
        .ram_gib_points = { 1, 8, 64 },
        .n_ram_points = 3,
        .quota_writers = BENCH_QUOTA_WRITERS,
    };

    test_vm_require_kvm("scale-bench needs KVM");
    if (g_getenv("BENCH_QUICK")) {
        cfg.quick = true;
        cfg.repeats = 1;
        cfg.window_us = G_USEC_PER_SEC / 4;
        cfg.settle_us = G_USEC_PER_SEC / 4;
        cfg.n_cpu_points = 2;
        cfg.n_ram_points = 2;
        cfg.quota_writers = 4;
    }
    printf("scale-bench%s: median ±spread over %d repeat(s)\n",
           cfg.quick ? " (BENCH_QUICK: a smoke run, not figures)" : "",
           cfg.repeats);
    bench_cpu_axis(&cfg);
    bench_ram_axis(&cfg);
    bench_quota_writers(&cfg);
    return 0;
}
