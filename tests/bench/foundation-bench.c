/*
 * Foundation figures, all measured in the same run:
 *   1. the `write` workload with tracking off vs the same loop (the same
 *      stores per page) on the host, windows alternating, medians compared;
 *   2. time from KVM init to the first guest iteration for -m 4G;
 *   3. kick-to-exit latency (cpu_kick() to KVM_RUN returning EINTR);
 *   4. resident memory of an idle `restraint -m 4G` process.
 * Prints tables; never fails on a time.
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "hw/machine.h"
#include "hw/workload.h"
#include "qemu/atomic.h"
#include "sysemu/cpus.h"
#include "sysemu/kvm.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"
#include "bench-stats.h"

#define REGION_BYTES (256 * MiB)
#define WINDOW_US (500 * 1000)
#define WINDOWS 7
#define KICKS 200

static int64_t now_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

static void vm_up(uint64_t ram_bytes, const WorkloadConfig *wl, int64_t *t0,
                  int64_t *t_init)
{
    g_autoptr(VLOptions) opts = test_vm_options(ram_bytes, 1);

    test_vm_set_workloads(opts, wl);
    *t0 = now_ns();
    test_vm_create(opts);
    *t_init = now_ns();
}

/*
 * One host window of the guest's `write` loop (guest/main.c,
 * guest_write_pages): per 4 KiB page, store the running count into the
 * page, publish it and the visit count in the control block, wrap at the
 * end of the region.
 */
static double host_window_pages_per_s(uint8_t *mem, struct rs_ctl *ctl)
{
    uint64_t pages = REGION_BYTES / 4096, n = 0, visits = 0, sweep_pages = 0;
    int64_t t0 = now_ns(), t1;

    do {
        for (int batch = 0; batch < 256; batch++) {
            *(volatile uint64_t *)(mem + sweep_pages * 4096) = ++n;
            ctl->pages_written = n;
            ctl->visits = ++visits;
            if (++sweep_pages == pages) {
                sweep_pages = 0;
                ctl->sweeps++;
            }
        }
        t1 = now_ns();
    } while (t1 - t0 < WINDOW_US * 1000LL);
    return n / ((t1 - t0) / 1e9);
}

/*
 * Guest and host windows alternate (the guest paused while the host loop
 * runs), so that whatever else the machine does falls on both; the
 * medians of WINDOWS windows are compared.
 */
static void guest_vs_host(BenchStats *guest, BenchStats *host)
{
    WorkloadConfig wl = { RS_WL_WRITE, RS_PAT_SEQ, REGION_BYTES, 0 };
    uint8_t *mem = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    double g[WINDOWS], h[WINDOWS];
    int64_t t0, t_init;
    static struct rs_ctl host_ctl;

    g_assert(mem != MAP_FAILED);
    /* The same backing as guest RAM (softmmu/physmem.c): a fair loop. */
    madvise(mem, REGION_BYTES, MADV_HUGEPAGE);
    memset(mem, 1, REGION_BYTES);   /* first touch outside the windows */
    vm_up(16 * MiB + REGION_BYTES, &wl, &t0, &t_init);
    /* one sweep done: first-touch faults are behind us */
    while (test_vm_sample(0).sweeps < 1) {
        g_usleep(1000);
    }
    for (int i = 0; i < WINDOWS; i++) {
        WorkloadSample a = test_vm_sample(0), b;
        Error *err = NULL;

        g_usleep(WINDOW_US);
        b = test_vm_sample(0);
        g[i] = (b.pages_written - a.pages_written) /
               ((b.host_ns - a.host_ns) / 1e9);
        test_vm_pause();
        h[i] = host_window_pages_per_s(mem, &host_ctl);
        vm_lock();
        if (!vm_start(&err)) {
            g_error("%s", error_get_pretty(err));
        }
        vm_unlock();
    }
    test_vm_destroy();
    munmap(mem, REGION_BYTES);
    *guest = bench_stats(g, WINDOWS);
    *host = bench_stats(h, WINDOWS);
}

static void startup_4g(double *init_ms, double *first_iter_ms)
{
    WorkloadConfig wl = { RS_WL_WRITE, RS_PAT_SEQ, 64 * MiB, 0 };
    int64_t t0, t_init, t_run;

    vm_up(4 * GiB, &wl, &t0, &t_init);
    while (test_vm_sample(0).iterations == 0 && now_ns() - t0 < 10 * 1000000000LL) {
        /* spin: we want the moment, not a polling step */
    }
    t_run = now_ns();
    test_vm_destroy();
    *init_ms = (t_init - t0) / 1e6;
    *first_iter_ms = (t_run - t0) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void kick_latency(double *min_us, double *median_us, double *p90_us,
                         double *max_us, int *lost)
{
    WorkloadConfig wl = { RS_WL_WRITE, RS_PAT_SEQ, 64 * MiB, 0 };
    double lat[KICKS];
    int n = 0;
    int64_t t0, t_init;
    CPUState *cpu;

    vm_up(16 * MiB + 64 * MiB, &wl, &t0, &t_init);
    cpu = cpus_get(0);
    g_usleep(100 * 1000);
    *lost = 0;
    for (int k = 0; k < KICKS; k++) {
        uint64_t before = qatomic_load_acquire(&cpu->kick_ack_count);
        int64_t kicked = now_ns(), acked;

        cpu_kick(cpu);
        while (qatomic_load_acquire(&cpu->kick_ack_count) ==
               before && now_ns() - kicked < 1000000000LL) {
        }
        acked = qatomic_read(&cpu->kick_ack_ns);
        if (qatomic_load_acquire(&cpu->kick_ack_count) ==
            before) {
            (*lost)++;
        } else {
            lat[n++] = (acked - kicked) / 1e3;
        }
        g_usleep(2000);
    }
    test_vm_destroy();
    qsort(lat, n, sizeof(lat[0]), cmp_double);
    *min_us = n ? lat[0] : 0;
    *median_us = n ? lat[n / 2] : 0;
    *p90_us = n ? lat[n * 9 / 10] : 0;
    *max_us = n ? lat[n - 1] : 0;
}

static bool rss_of_idle_vm(const char *binary, long *rss_kb, long *anon_kb)
{
    char *argv[] = { (char *)binary, "-m", "4G", NULL };
    GPid pid;
    g_autofree char *path = NULL;
    g_autofree char *status = NULL;
    char *line;

    if (!g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD |
                       G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid, NULL)) {
        return false;
    }
    g_usleep(1500 * 1000);
    path = g_strdup_printf("/proc/%d/status", pid);
    g_file_get_contents(path, &status, NULL, NULL);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (!status) {
        return false;
    }
    line = strstr(status, "VmRSS:");
    *rss_kb = line ? strtol(line + 6, NULL, 10) : -1;
    line = strstr(status, "RssAnon:");
    *anon_kb = line ? strtol(line + 8, NULL, 10) : -1;
    return true;
}

int main(int argc, char **argv)
{
    const char *binary = getenv("RESTRAINT");
    double init_runs_ms[BENCH_MAX_REPEATS], run_runs_ms[BENCH_MAX_REPEATS];
    double kmin, kmed, kp90, kmax;
    BenchStats host, guest, init_ms, run_ms;
    long rss_kb = -1, anon_kb = -1;
    int lost;

    test_vm_require_kvm("the benchmark runs real VMs");
    guest_vs_host(&guest, &host);
    for (int k = 0; k < bench_repeats(); k++) {
        startup_4g(&init_runs_ms[k], &run_runs_ms[k]);
    }
    init_ms = bench_stats(init_runs_ms, bench_repeats());
    run_ms = bench_stats(run_runs_ms, bench_repeats());
    kick_latency(&kmin, &kmed, &kp90, &kmax, &lost);
    if (binary) {
        rss_of_idle_vm(binary, &rss_kb, &anon_kb);
    }

    printf("\nfoundation-bench (1 vCPU, sequential writes over 256 MiB, "
           "dirty tracking off)\n");
    printf("(medians of %d windows or %d runs; spread = max - min)\n",
           WINDOWS, bench_repeats());
    printf("%-44s %14s %10s %12s\n", "measure", "value", "target",
           "spread");
    printf("%-44s %11.1f M/s %10s %8.1f M/s\n",
           "host loop, pages written per second", host.median / 1e6, "",
           bench_spread(&host) / 1e6);
    printf("%-44s %11.1f M/s %10s %8.1f M/s\n",
           "guest `write`, pages written per second", guest.median / 1e6, "",
           bench_spread(&guest) / 1e6);
    printf("%-44s %13.1f%% %10s\n", "guest / host",
           100.0 * guest.median / host.median, ">= 90%");
    printf("%-44s %11.1f ms %10s %9.1f ms\n",
           "-m 4G: KVM init to vCPUs started", init_ms.median, "",
           bench_spread(&init_ms));
    printf("%-44s %11.1f ms %10s %9.1f ms\n",
           "-m 4G: KVM init to first guest iteration", run_ms.median,
           "< 100 ms", bench_spread(&run_ms));
    printf("%-44s %11.1f us %10s\n", "kick to KVM_RUN exit, median", kmed,
           "< 100 us");
    printf("%-44s %6.1f/%.1f/%.1f us %3s\n", "  min / p90 / max", kmin, kp90,
           kmax, "");
    printf("%-44s %14d %10s\n", "kicks lost (of 200)", lost, "0");
    if (rss_kb >= 0) {
        printf("%-44s %10.1f MiB %10s\n", "idle `restraint -m 4G`: VmRSS",
               rss_kb / 1024.0, "< 20 MiB");
        printf("%-44s %10.1f MiB %10s\n", "  of which anonymous (incl. guest RAM)",
               anon_kb / 1024.0, "");
    } else {
        printf("(set RESTRAINT=build/restraint to measure the resident size)\n");
    }
    return 0;
}
