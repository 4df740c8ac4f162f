/*
 * The replay workload on real KVM, in-process:
 *  - a synthetic trace written with the trace library replays with exact
 *    ground truth (intervals, page stores, the pages themselves), and
 *    dirty-ring tracking over the replay logs every replayed page: the
 *    ring can log only pages the vCPU wrote, or the schedule pages the VMM
 *    wrote and the guest then read (KVM maps a page the host dirtied
 *    writable on the guest's first read, and logs it: docs/guest-abi.md),
 *    so a count equal to both together means every page was logged;
 *  - a shipped trace (traces/sqlite.dtrace) replays with the trace's own
 *    counts;
 *  - a bad file, a missing process and a region too small are refused
 *    with an error and the vCPU keeps its workload.
 */
#include "qemu/osdep.h"

#include "hw/machine.h"
#include "hw/replay.h"
#include "hw/workload.h"
#include "migration/dirtyrate.h"
#include "sysemu/physmem.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"
#include "tools/dirty-trace/trace.h"

#define TEST_RAM_BYTES (16 * MiB + 128 * MiB)
#define TEST_PID 4242
/* The synthetic trace: 6 intervals of 20 ms, 600 distinct pages. */
#define SYN_PAGES 600
#define SYN_INTERVALS 6
#define SYN_INTERVAL_US 20000
#define SYN_START_US 10000     /* the process starts 10 ms into the trace */
#define SYN_EMPTY_INTERVAL 3   /* this one writes nothing */
/* The replay takes ~120 ms; the window leaves a busy host plenty. */
#define SYN_WINDOW_MS 2000

typedef struct ReplayWindow {
    const char *trace_path;
    WorkloadSample at[2];
} ReplayWindow;

static void vm_create(uint32_t ring_entries, const WorkloadConfig *wl)
{
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, 1);

    opts->accel.dirty_ring_entries = ring_entries;
    opts->workload_given[0] = true;
    opts->workloads[0] = *wl;
    test_vm_create(opts);
}

/* Interval k writes page i when (i + k) % 3 != 0: every page, densely. */
static bool syn_writes(uint32_t k, uint32_t page)
{
    return k != SYN_EMPTY_INTERVAL && (page + k) % 3 != 0;
}

static char *syn_trace_save(uint64_t *page_writes)
{
    DirtyTraceInterval iv[SYN_INTERVALS] = { 0 };
    DirtyTraceProcess p = {
        .pid = TEST_PID, .ppid = 1, .origin = DIRTY_TRACE_ORIGIN_EXEC,
        .comm = "synthetic", .start_us = SYN_START_US,
        .end_us = SYN_START_US + SYN_INTERVALS * SYN_INTERVAL_US,
        .distinct_pages = SYN_PAGES, .interval_count = SYN_INTERVALS,
        .intervals = iv,
    };
    DirtyTrace t = {
        .version = DIRTY_TRACE_VERSION, .page_bytes = RS_PAGE_SIZE,
        .interval_ms = SYN_INTERVAL_US / 1000, .duration_us = p.end_us,
        .program = (char *)"synthetic", .process_count = 1,
        .processes = &p,
    };
    char *path = NULL;
    Error *err = NULL;
    int fd = g_file_open_tmp("replay-XXXXXX.dtrace", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    close(fd);
    *page_writes = 0;
    for (uint32_t k = 0; k < SYN_INTERVALS; k++) {
        iv[k].start_us = SYN_START_US + k * SYN_INTERVAL_US;
        iv[k].duration_us = SYN_INTERVAL_US;
        iv[k].pages = g_new(uint32_t, SYN_PAGES);
        for (uint32_t i = 0; i < SYN_PAGES; i++) {
            if (syn_writes(k, i)) {
                iv[k].pages[iv[k].page_count++] = i;
            }
        }
        *page_writes += iv[k].page_count;
    }
    if (!dirty_trace_save(&t, path, &err)) {
        g_error("save: %s", error_get_pretty(err));
    }
    for (uint32_t k = 0; k < SYN_INTERVALS; k++) {
        g_free(iv[k].pages);
    }
    return path;
}

/* The window's start edge starts the replay: all of it lies inside. */
static void replay_window_hook(void *opaque, bool window_end)
{
    ReplayWindow *w = opaque;
    const WorkloadConfig replay = {
        .kind = RS_WL_REPLAY, .size_bytes = 64 * MiB,
        .trace_path = w->trace_path, .replay_pid = -1,
    };
    Error *err = NULL;

    if (!window_end) {
        vm_lock();
        if (!workload_set(0, &replay, &err)) {
            g_error("replay: %s", error_get_pretty(err));
        }
        vm_unlock();
    }
    w->at[window_end] = test_vm_sample(0);
}

/* The distinct pages the VMM's ground truth finds in [from, to) stores. */
static void assert_truth_between(uint64_t from, uint64_t to, uint64_t want)
{
    g_assert_cmpuint(test_vm_replay_truth(0, from, to), ==, want);
}

/* Pages of the region whose first word the guest wrote (RAM starts 0). */
static uint64_t written_pages(uint64_t region_gpa, uint64_t pages)
{
    uint64_t n = 0;

    for (uint64_t i = 0; i < pages; i++) {
        n += *(uint64_t *)ram_host_ptr(region_gpa + i * RS_PAGE_SIZE, 8) != 0;
    }
    return n;
}

static void test_synthetic_replay_is_exact_and_fully_logged(void)
{
    const WorkloadConfig idle = { .kind = RS_WL_IDLE };
    DirtyRateConfig cfg = {
        .mode = DIRTY_RATE_MEASURE_MODE_DIRTY_RING,
        .calc_time_ms = SYN_WINDOW_MS,
        .sample_pages_per_gib = DIRTYRATE_DEFAULT_SAMPLE_PAGES,
    };
    uint64_t page_writes;
    g_autofree char *path = syn_trace_save(&page_writes);
    ReplayWindow w = { .trace_path = path };
    const ReplayInfo *info;
    uint64_t schedule_pages;
    DirtyRateResult r;
    Error *err = NULL;

    vm_create(4096, &idle);
    if (!dirtyrate_measure(&cfg, replay_window_hook, &w, &r, &err)) {
        g_error("measure: %s", error_get_pretty(err));
    }
    g_test_message("replay: %" PRIu64 " stores, %" PRIu64 " intervals, "
                   "ring logged %" PRIu64 " pages",
                   w.at[1].pages_written - w.at[0].pages_written,
                   w.at[1].replay_intervals, r.vcpus[0].dirty_pages);
    /* The whole replay ran inside the window ... */
    g_assert_cmpuint(w.at[1].workload_status, ==, RS_WLS_OK);
    g_assert_cmpuint(w.at[1].replay_loops, ==, 1);
    /* ... with the trace's own counts ... */
    g_assert_cmpuint(w.at[1].replay_intervals, ==, SYN_INTERVALS);
    g_assert_cmpuint(w.at[1].pages_written - w.at[0].pages_written, ==,
                     page_writes);
    info = replay_info(0);
    g_assert_nonnull(info);
    g_assert_cmpuint(info->distinct_pages, ==, SYN_PAGES);
    g_assert_cmpuint(info->page_writes, ==, page_writes);
    g_assert_cmpuint(info->pid, ==, TEST_PID);
    /* ... on exactly the region's first SYN_PAGES pages ... */
    g_assert_cmpuint(written_pages(w.at[1].region_gpa, SYN_PAGES), ==,
                     SYN_PAGES);
    g_assert_cmpuint(*(uint32_t *)ram_host_ptr(w.at[1].region_gpa +
                                               SYN_PAGES * RS_PAGE_SIZE, 4),
                     ==, RS_REPLAY_MAGIC);
    /* ... and the VMM's exact truth from the schedule agrees. */
    /* Intervals 0 and 1 write 2/3 of the pages each, all of them together. */
    assert_truth_between(0, SYN_PAGES * 2 / 3, SYN_PAGES * 2 / 3);
    assert_truth_between(SYN_PAGES * 2 / 3, SYN_PAGES * 4 / 3,
                         SYN_PAGES * 2 / 3);
    assert_truth_between(0, SYN_PAGES * 4 / 3, SYN_PAGES);
    assert_truth_between(w.at[0].visits, w.at[1].visits, SYN_PAGES);
    /* ... and the ring logged every one of them (and the schedule). */
    schedule_pages = DIV_ROUND_UP(rs_replay_schedule_bytes(SYN_INTERVALS,
                                                           page_writes),
                                  RS_PAGE_SIZE);
    g_assert_cmpuint(r.vcpus[0].dirty_pages, ==, SYN_PAGES + schedule_pages);
    g_assert_cmpuint(r.dirty_pages, ==, SYN_PAGES + schedule_pages);
    test_vm_destroy();
    unlink(path);
}

static void test_shipped_trace_replays_with_its_own_counts(void)
{
    g_autofree char *path = g_build_filename(g_getenv("TRACES_DIR"),
                                             "sqlite.dtrace", NULL);
    const WorkloadConfig replay = {
        .kind = RS_WL_REPLAY, .trace_path = path, .replay_pid = -1,
        .replay_speed_milli = RS_REPLAY_MAX_SPEED_MILLI,
    };
    g_autoptr(DirtyTrace) t = NULL;
    DirtyTraceSummary sum;
    Error *err = NULL;
    WorkloadSample s;

    t = dirty_trace_load(path, &err);
    if (!t) {
        g_error("%s", error_get_pretty(err));
    }
    g_assert_cmpuint(t->process_count, ==, 1);
    dirty_trace_summarize(t, G_USEC_PER_SEC, &sum);
    vm_create(0, &replay);
    for (int i = 0; i < TEST_POLL_MAX_STEPS &&
                    test_vm_sample(0).replay_loops == 0; i++) {
        g_usleep(TEST_POLL_STEP_US);
    }
    s = test_vm_sample(0);
    g_test_message("sqlite: %" PRIu64 " stores in %" PRIu64 " intervals, "
                   "trace %" PRIu64 " in %" PRIu64, s.pages_written,
                   s.replay_intervals, sum.written_pages, sum.interval_count);
    g_assert_cmpuint(s.workload_status, ==, RS_WLS_OK);
    g_assert_cmpuint(s.replay_loops, ==, 1);
    g_assert_cmpuint(s.replay_intervals, ==, sum.interval_count);
    g_assert_cmpuint(s.pages_written, ==, sum.written_pages);
    g_assert_cmpuint(s.visits, ==, sum.written_pages);
    assert_truth_between(0, s.visits, sum.distinct_pages);
    assert_truth_between(0, t->processes[0].intervals[0].page_count,
                         t->processes[0].intervals[0].page_count);
    /* Every page of the trace written (the schedule follows them). */
    g_assert_cmpuint(written_pages(s.region_gpa, sum.distinct_pages), ==,
                     sum.distinct_pages);
    test_vm_destroy();
}

typedef struct RefusalCase {
    const char *name;
    const char *file;           /* in TRACES_DIR, or a path */
    uint64_t size_bytes;
    int64_t pid;
    const char *error;
} RefusalCase;

static const RefusalCase refusal_cases[] = {
    { "missing-file", "/nonexistent.dtrace", 0, -1, "nonexistent" },
    { "not-a-trace", "README.md", 0, -1, "replay: " },
    { "no-such-process", "sqlite.dtrace", 0, 7, "has no process 7" },
    { "pages-exceed-region", "sqlite.dtrace", 16 * MiB, -1,
      "give size= at least 71 MiB" },
    { "schedule-exceeds-region", "sqlite.dtrace", 72 * MiB, -1,
      "not its schedule" },
};

static void test_refused_and_nothing_changes(gconstpointer data)
{
    const RefusalCase *c = data;
    const WorkloadConfig write = {
        .kind = RS_WL_WRITE, .size_bytes = 8 * MiB, .rate_mbps = 10,
    };
    g_autofree char *path = c->file[0] == '/' ? g_strdup(c->file) :
        g_build_filename(g_getenv("TRACES_DIR"), c->file, NULL);
    const WorkloadConfig replay = {
        .kind = RS_WL_REPLAY, .trace_path = path, .replay_pid = c->pid,
        .size_bytes = c->size_bytes,
    };
    Error *err = NULL;
    bool ok;

    vm_create(0, &write);
    test_vm_wait_workload(1);
    vm_lock();
    ok = workload_set(0, &replay, &err);
    vm_unlock();
    g_assert_false(ok);
    g_test_message("%s: %s", c->name, error_get_pretty(err));
    g_assert_nonnull(strstr(error_get_pretty(err), c->error));
    error_free(err);
    err = NULL;
    g_assert_cmpint(test_vm_sample(0).kind, ==, RS_WL_WRITE);
    g_assert_null(replay_info(0));
    {
        uint64_t pages;

        g_assert_false(replay_distinct_pages_between(0, 0, 1, &pages, &err));
        g_assert_nonnull(strstr(error_get_pretty(err), "does not replay"));
        error_free(err);
    }
    test_vm_destroy();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the replay runs in a real KVM guest");
    if (!g_getenv("TRACES_DIR")) {
        printf("SKIP: set TRACES_DIR to the shipped traces/ directory\n");
        return 77;
    }
    g_test_add_func("/replay/synthetic-trace-is-exact-and-fully-logged",
                    test_synthetic_replay_is_exact_and_fully_logged);
    g_test_add_func("/replay/shipped-trace-replays-with-its-own-counts",
                    test_shipped_trace_replays_with_its_own_counts);
    for (size_t i = 0; i < G_N_ELEMENTS(refusal_cases); i++) {
        g_autofree char *name = g_strdup_printf("/replay/refused/%s",
                                                refusal_cases[i].name);

        g_test_add_data_func(name, &refusal_cases[i],
                             test_refused_and_nothing_changes);
    }
    return g_test_run();
}
