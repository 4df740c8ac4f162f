/*
 * The recorder sees exactly what a program wrote, interval by interval,
 * in every process: this program writes a known pattern into a region of
 * its own (pages written, pages only read, a second thread, a fork whose
 * child writes its own copy), ends each interval itself through the
 * preloaded library's dirty_trace_flush(), and is recorded by
 * scripts/record-dirty-trace with addresses kept.  The checker then
 * compares the trace's pages inside the region with the pattern, page
 * for page.  Pages outside the region (stack, libc) are the program's
 * too, and are not checked.
 *
 * The recording interval is 60 s, so no timer tick splits a phase: the
 * test never depends on timing.  Exit 77 where the kernel lacks
 * userfaultfd async write-protect or PAGEMAP_SCAN.
 *
 * Also: a program that sigwait()s for a signal it blocks keeps working
 * under the recorder (the library's thread takes no signal), and a
 * daemon that closes every fd and reuses the numbers keeps its files
 * intact and is tracked again.
 *
 * First, on any kernel: where the mechanism is missing the recorder
 * says which part and exits 3.  A seccomp filter takes each part away
 * (userfaultfd, then the PAGEMAP_SCAN ioctl) as an older kernel would.
 */
#include "qemu/osdep.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "trace.h"
#include "uffd-wp.h"

#define T_REGION_PAGES  64
#define T_PAGE_BYTES    4096
#define T_MAX_PAGES     24
#define T_EXIT_UNSUPPORTED 3    /* dirty-trace-record's */

/* Bit i: page i of the region. */
typedef uint64_t PageMask;

typedef struct Phase {
    int writes[T_MAX_PAGES];    /* -1 ends the list */
    int reads[T_MAX_PAGES];
    int thread_writes[T_MAX_PAGES];
    int range_first;            /* and [range_first, range_end) written */
    int range_end;
} Phase;

#define END -1
/* Each phase ends with dirty_trace_flush(): one interval each. */
static const Phase parent_phases[] = {
    /* Written before the region is first seen: found by the sweep. */
    { .writes = { 0, 1, 2, 10, 63, END }, .reads = { 20, END },
      .thread_writes = { END } },
    { .writes = { 1, 3, 4, 5, 30, END }, .reads = { 0, 10, 20, END },
      .thread_writes = { 50, END } },
    { .writes = { END }, .reads = { 1, 2, 3, END }, .thread_writes = { END } },
    /* (the fork happens here) */
    { .writes = { 40, 41, END }, .reads = { END }, .thread_writes = { END },
      .range_first = 16, .range_end = 32 },
};
static const Phase child_phases[] = {
    { .writes = { 7, 8, 63, END }, .reads = { 9, END },
      .thread_writes = { END } },
    /* Written just before exit(): the library's final record. */
    { .writes = { 9, END }, .reads = { END }, .thread_writes = { END } },
};
#define T_FORK_AFTER 3          /* parent phases before the fork */
/*
 * Then, a race: a thread writes each page of a new region once (even
 * pages, then odd ones), while the main thread ends the interval (so the library finds
 * the region, protects it and sweeps it while it is being written), and
 * once more when the thread is done.  Every page must be reported.
 */
#define T_RACE_PAGES    32768   /* 128 MiB */
/* Work between two pages, so the writer is still inside the region when
 * the interval ends (whether it is does not decide the verdict). */
#define T_RACE_SPIN     400
#define T_RACE_INTERVALS 2

/* ---- The workload (run under the recorder) ---------------------------- */

static volatile uint8_t *region;

static void *write_pages(void *opaque)
{
    const int *pages = opaque;

    for (int i = 0; pages[i] != END; i++) {
        region[pages[i] * T_PAGE_BYTES + 17] = 0xa5;
    }
    return NULL;
}

static void phase_run(const Phase *ph)
{
    pthread_t thread;
    uint8_t sum = 0;

    for (int i = 0; ph->reads[i] != END; i++) {
        sum += region[ph->reads[i] * T_PAGE_BYTES + 5];
    }
    write_pages((void *)ph->writes);
    for (int p = ph->range_first; p < ph->range_end; p++) {
        region[p * T_PAGE_BYTES] = sum + 1;
    }
    if (ph->thread_writes[0] != END) {
        pthread_create(&thread, NULL, write_pages, (void *)ph->thread_writes);
        pthread_join(thread, NULL);
    }
}

typedef struct RaceWriter {
    volatile uint8_t *region;
    int pages_done;             /* atomic */
} RaceWriter;

static void *race_write(void *opaque)
{
    RaceWriter *w = opaque;

    /* Even pages, then odd ones: each written page its own run. */
    for (int i = 0; i < T_RACE_PAGES; i++) {
        int p = i < T_RACE_PAGES / 2 ? 2 * i : 2 * (i - T_RACE_PAGES / 2) + 1;

        w->region[(size_t)p * T_PAGE_BYTES] = 1;
        g_atomic_int_set(&w->pages_done, i + 1);
        for (volatile int spin = 0; spin < T_RACE_SPIN; spin++) {
            /* pace */
        }
    }
    return NULL;
}

/* Two intervals: one ended while the writer runs, one after it. */
static void race_run(volatile uint8_t *race, void (*flush)(void))
{
    RaceWriter w = { .region = race };
    pthread_t thread;

    pthread_create(&thread, NULL, race_write, &w);
    /* Bounded wait for the writer to be well inside the region. */
    for (int i = 0; i < 100000 &&
         g_atomic_int_get(&w.pages_done) < T_RACE_PAGES / 16; i++) {
        g_usleep(100);
    }
    flush();
    pthread_join(thread, NULL);
    flush();
}

static int workload(const char *base_path)
{
    void (*flush)(void) = (void (*)(void))dlsym(RTLD_DEFAULT,
                                                "dirty_trace_flush");
    g_autofree char *base = NULL;
    volatile uint8_t *race;
    int status;
    pid_t child;

    if (!flush) {
        fprintf(stderr, "workload: not running under the recorder\n");
        return 1;
    }
    region = mmap(NULL, T_REGION_PAGES * T_PAGE_BYTES, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    race = mmap(NULL, (size_t)T_RACE_PAGES * T_PAGE_BYTES,
                PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || race == MAP_FAILED) {
        return 1;
    }
    base = g_strdup_printf("%" PRIxPTR " %" PRIxPTR "\n", (uintptr_t)region,
                           (uintptr_t)race);
    if (!g_file_set_contents(base_path, base, -1, NULL)) {
        return 1;
    }
    for (int i = 0; i < T_FORK_AFTER; i++) {
        phase_run(&parent_phases[i]);
        flush();
    }
    child = fork();
    if (child == 0) {
        phase_run(&child_phases[0]);
        flush();
        phase_run(&child_phases[1]);
        exit(0);
    }
    if (child < 0 || waitpid(child, &status, 0) != child || status != 0) {
        return 1;
    }
    for (size_t i = T_FORK_AFTER; i < G_N_ELEMENTS(parent_phases); i++) {
        phase_run(&parent_phases[i]);
        flush();
    }
    race_run(race, flush);
    return 0;
}

/*
 * A program that blocks a signal and sigwait()s for it: the library's
 * helper thread must never take it (it once did, and the default action
 * killed the program).  Recorded with 1 ms intervals.
 */
static int sigwait_workload(void)
{
    pid_t parent = getpid();
    int got = 0, sig;
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < 50; i++) {
        pid_t sender = fork();

        if (sender == 0) {
            kill(parent, SIGUSR1);
            _exit(0);
        }
        if (sigwait(&set, &sig) == 0 && sig == SIGUSR1) {
            got++;
        }
        waitpid(sender, NULL, 0);
    }
    return got == 50 ? 0 : 1;
}

/*
 * A daemon closes every fd it did not open, then opens its log (which
 * gets the number of the library's spool, or userfaultfd): the library
 * must never write into the log, and must take up tracking again.  The
 * interval in which it notices starts over with a new userfaultfd, so
 * the writes made while it was blind are lost (documented).
 */
#define T_DAEMON_PAGES 64
static const PageMask daemon_want[] = {
    1,                          /* page 0, before the fds are closed */
    0,                          /* even pages, written while blind */
    0xaaaaaaaaaaaaaaaaull,      /* odd pages, after recovery */
    0,                          /* exit */
};

static int daemon_workload(const char *dir)
{
    void (*flush)(void) = (void (*)(void))dlsym(RTLD_DEFAULT,
                                                "dirty_trace_flush");
    g_autofree char *log_path = g_build_filename(dir, "daemon.log", NULL);
    g_autofree char *base_path = g_build_filename(dir, "daemon-base", NULL);
    g_autofree char *base = NULL;
    volatile uint8_t *r;
    int log_fd;

    r = mmap(NULL, T_DAEMON_PAGES * T_PAGE_BYTES, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base = g_strdup_printf("%" PRIxPTR "\n", (uintptr_t)r);
    if (!flush || r == MAP_FAILED ||
        !g_file_set_contents(base_path, base, -1, NULL)) {
        return 1;
    }
    r[0] = 1;
    flush();
    for (int fd = 3; fd < 1024; fd++) {
        close(fd);
    }
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log_fd < 0 || write(log_fd, "hello\n", 6) != 6) {
        return 1;
    }
    for (int p = 0; p < T_DAEMON_PAGES; p += 2) {
        r[p * T_PAGE_BYTES] = 2;
    }
    flush();
    if (write(log_fd, "bye\n", 4) != 4) {
        return 1;
    }
    for (int p = 1; p < T_DAEMON_PAGES; p += 2) {
        r[p * T_PAGE_BYTES] = 3;
    }
    flush();
    return 0;
}

/* ---- The checker ------------------------------------------------------ */

static PageMask phase_mask(const Phase *ph)
{
    PageMask m = 0;

    for (int i = 0; ph->writes[i] != END; i++) {
        m |= 1ull << ph->writes[i];
    }
    for (int i = 0; ph->thread_writes[i] != END; i++) {
        m |= 1ull << ph->thread_writes[i];
    }
    for (int p = ph->range_first; p < ph->range_end; p++) {
        m |= 1ull << p;
    }
    return m;
}

static PageMask interval_mask(const DirtyTraceProcess *p,
                              const DirtyTraceInterval *iv, uint64_t base_vpn)
{
    PageMask m = 0;

    for (uint32_t k = 0; k < iv->page_count; k++) {
        uint64_t vpn = p->page_addresses[iv->pages[k]];

        if (vpn >= base_vpn && vpn < base_vpn + T_REGION_PAGES) {
            m |= 1ull << (vpn - base_vpn);
        }
    }
    return m;
}

static bool expect_intervals(const DirtyTraceProcess *p, uint64_t base_vpn,
                             const PageMask *want, uint32_t count,
                             const char *who)
{
    bool ok = true;

    if (p->interval_count != count) {
        fprintf(stderr, "%s: %u intervals, want %u\n", who, p->interval_count,
                count);
        return false;
    }
    for (uint32_t ii = 0; ii < count; ii++) {
        PageMask got = interval_mask(p, &p->intervals[ii], base_vpn);

        if (got != want[ii]) {
            fprintf(stderr, "%s interval %u: region pages %016" PRIx64
                    ", want %016" PRIx64 " (missing %016" PRIx64 ", extra %016"
                    PRIx64 ")\n", who, ii, got, want[ii], want[ii] & ~got,
                    got & ~want[ii]);
            ok = false;
        }
        if (p->intervals[ii].rss_pages == 0) {
            fprintf(stderr, "%s interval %u: no RSS\n", who, ii);
            ok = false;
        }
    }
    return ok;
}

/* Every page of the race region reported, in some interval. */
static bool check_race(const DirtyTraceProcess *p, uint64_t race_vpn)
{
    g_autofree uint8_t *seen = g_new0(uint8_t, T_RACE_PAGES);
    int missing = 0, first_missing = -1;

    for (uint32_t ii = 0; ii < p->interval_count; ii++) {
        const DirtyTraceInterval *iv = &p->intervals[ii];

        for (uint32_t k = 0; k < iv->page_count; k++) {
            uint64_t vpn = p->page_addresses[iv->pages[k]];

            if (vpn >= race_vpn && vpn < race_vpn + T_RACE_PAGES) {
                seen[vpn - race_vpn] = 1;
            }
        }
    }
    for (int page = 0; page < T_RACE_PAGES; page++) {
        if (!seen[page]) {
            first_missing = first_missing < 0 ? page : first_missing;
            missing++;
        }
    }
    if (missing) {
        fprintf(stderr, "race region: %d of %d written pages never reported "
                "(the first: page %d)\n", missing, T_RACE_PAGES,
                first_missing);
    }
    return missing == 0;
}

static int check(const DirtyTrace *t, uint64_t base_vpn, uint64_t race_vpn)
{
    /* The phases, the race's intervals, the exit: none of the last
     * touch the pattern region. */
    PageMask parent_want[G_N_ELEMENTS(parent_phases) + T_RACE_INTERVALS + 1] =
        { 0 };
    PageMask child_want[G_N_ELEMENTS(child_phases)];
    const DirtyTraceProcess *parent = &t->processes[0], *child;
    bool ok;

    if (t->process_count != 2 || !parent->page_addresses) {
        fprintf(stderr, "%u processes, want 2 with addresses\n",
                t->process_count);
        return 1;
    }
    child = &t->processes[1];
    if (parent->origin != DIRTY_TRACE_ORIGIN_EXEC ||
        child->origin != DIRTY_TRACE_ORIGIN_FORK ||
        child->ppid != parent->pid || child->start_us < parent->start_us ||
        !g_str_has_prefix("test-dirty-trace-record", parent->comm)) {
        fprintf(stderr, "process tree: pid %d (%s) ppid %d, pid %d ppid %d\n",
                parent->pid, parent->comm, parent->ppid, child->pid,
                child->ppid);
        return 1;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(parent_phases); i++) {
        parent_want[i] = phase_mask(&parent_phases[i]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(child_phases); i++) {
        child_want[i] = phase_mask(&child_phases[i]);
    }
    ok = expect_intervals(parent, base_vpn, parent_want,
                          G_N_ELEMENTS(parent_want), "parent");
    ok &= expect_intervals(child, base_vpn, child_want,
                           G_N_ELEMENTS(child_want), "child");
    ok &= check_race(parent, race_vpn);
    return ok ? 0 : 1;
}

/* ---- Where the kernel lacks the mechanism ----------------------------- */

typedef enum Deny {
    DENY_USERFAULTFD,           /* as a kernel without userfaultfd: ENOSYS */
    DENY_PAGEMAP_SCAN,          /* as a kernel before 6.7: ENOTTY */
} Deny;

static const struct {
    const char *name;
    Deny deny;
    const char *error;
} lacks_cases[] = {
    { "no-userfaultfd", DENY_USERFAULTFD, "the kernel has no userfaultfd" },
    { "no-pagemap-scan", DENY_PAGEMAP_SCAN,
      "the kernel has no PAGEMAP_SCAN ioctl (Linux >= 6.7)" },
};

/* g_spawn child setup: refuse one system call (or one ioctl). */
static void deny_setup(gpointer opaque)
{
    Deny deny = GPOINTER_TO_INT(opaque);
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                 deny == DENY_USERFAULTFD ? __NR_userfaultfd : __NR_ioctl,
                 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)PAGEMAP_SCAN,
                 0, deny == DENY_USERFAULTFD ? 0 : 2),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO |
                 (deny == DENY_USERFAULTFD ? ENOSYS : ENOTTY)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = G_N_ELEMENTS(code), .filter = code };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        _exit(126);
    }
}

static bool check_kernel_lacks(const char *script)
{
    bool ok = true;

    for (size_t i = 0; i < G_N_ELEMENTS(lacks_cases); i++) {
        const char *argv[] = { script, "--", "/bin/true", NULL };
        g_autofree char *err_out = NULL;
        g_autoptr(GError) gerr = NULL;
        int status;

        if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT,
                          deny_setup, GINT_TO_POINTER(lacks_cases[i].deny),
                          NULL, &err_out, &status, &gerr)) {
            fprintf(stderr, "%s: %s\n", lacks_cases[i].name, gerr->message);
            return false;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != T_EXIT_UNSUPPORTED ||
            !strstr(err_out, lacks_cases[i].error)) {
            fprintf(stderr, "%s: status %d, stderr '%s', want %d and '%s'\n",
                    lacks_cases[i].name, status, err_out, T_EXIT_UNSUPPORTED,
                    lacks_cases[i].error);
            ok = false;
        }
    }
    return ok;
}

static bool check_daemon(const char *script, const char *self,
                         const char *dir)
{
    g_autofree char *trace_path = g_build_filename(dir, "d.dtrace", NULL);
    g_autofree char *log_path = g_build_filename(dir, "daemon.log", NULL);
    g_autofree char *base_path = g_build_filename(dir, "daemon-base", NULL);
    const char *argv[] = { script, "-i", "60000", "--addresses", "-o",
                           trace_path, "--", self, "--daemon", dir, NULL };
    g_autofree char *log = NULL, *base = NULL;
    g_autoptr(DirtyTrace) t = NULL;
    g_autoptr(GError) gerr = NULL;
    Error *err = NULL;
    gsize log_bytes = 0;
    bool ok;
    int status;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                      NULL, NULL, &status, &gerr) ||
        !g_spawn_check_wait_status(status, &gerr)) {
        fprintf(stderr, "the daemon failed under the recorder: %s\n",
                gerr->message);
        return false;
    }
    g_file_get_contents(log_path, &log, &log_bytes, NULL);
    g_file_get_contents(base_path, &base, NULL, NULL);
    t = dirty_trace_load(trace_path, &err);
    unlink(trace_path);
    unlink(log_path);
    unlink(base_path);
    if (log_bytes != 10 || memcmp(log, "hello\nbye\n", 10) != 0) {
        fprintf(stderr, "the daemon's log holds %zu bytes, not its own 10: "
                "the library wrote into it\n", (size_t)log_bytes);
        return false;
    }
    if (!t || !base || t->process_count != 1) {
        fprintf(stderr, "daemon: %s\n", err ? error_get_pretty(err)
                                              : "no trace");
        error_free(err);
        return false;
    }
    ok = expect_intervals(&t->processes[0],
                          g_ascii_strtoull(base, NULL, 16) / T_PAGE_BYTES,
                          daemon_want, G_N_ELEMENTS(daemon_want), "daemon");
    return ok;
}

static int run_recorder(const char *self, const char *dir, char **out_trace)
{
    g_autofree char *base_path = g_build_filename(dir, "base", NULL);
    g_autofree char *probe_out = NULL;
    const char *script = g_getenv("RECORD_DIRTY_TRACE");
    const char *probe[] = { script, "--probe", NULL };
    const char *record[] = { script, "-i", "60000", "--addresses", "-o",
                             NULL, "--", self, "--workload", base_path,
                             NULL };
    g_autofree char *sigwait_trace = g_build_filename(dir, "s.dtrace", NULL);
    const char *record_sigwait[] = { script, "-i", "1", "-o", sigwait_trace,
                                     "--", self, "--sigwait", NULL };
    g_autoptr(GError) gerr = NULL;
    int status;

    *out_trace = g_build_filename(dir, "t.dtrace", NULL);
    record[5] = *out_trace;
    if (!script) {
        fprintf(stderr, "RECORD_DIRTY_TRACE is not set\n");
        return 1;
    }
    if (!check_kernel_lacks(script)) {
        return 1;
    }
    if (!g_spawn_sync(NULL, (char **)probe, NULL, G_SPAWN_DEFAULT, NULL,
                      NULL, &probe_out, NULL, &status, &gerr)) {
        fprintf(stderr, "cannot run %s: %s\n", script, gerr->message);
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == T_EXIT_UNSUPPORTED) {
        printf("SKIP: this kernel cannot record dirty pages\n");
        return 77;
    }
    if (!g_spawn_sync(NULL, (char **)record_sigwait, NULL, G_SPAWN_DEFAULT,
                      NULL, NULL, NULL, NULL, &status, &gerr) ||
        !g_spawn_check_wait_status(status, &gerr)) {
        fprintf(stderr, "a program that sigwait()s failed under the "
                "recorder: %s\n", gerr->message);
        return 1;
    }
    unlink(sigwait_trace);
    if (!check_daemon(script, self, dir)) {
        return 1;
    }
    if (!g_spawn_sync(NULL, (char **)record, NULL, G_SPAWN_CHILD_INHERITS_STDIN,
                      NULL, NULL, NULL, NULL, &status, &gerr) ||
        !g_spawn_check_wait_status(status, &gerr)) {
        fprintf(stderr, "recording failed: %s\n", gerr->message);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_autofree char *dir = NULL, *trace_path = NULL, *base_path = NULL;
    g_autofree char *base = NULL;
    g_autoptr(DirtyTrace) t = NULL;
    Error *err = NULL;
    int ret;

    if (argc == 3 && strcmp(argv[1], "--workload") == 0) {
        return workload(argv[2]);
    }
    if (argc == 2 && strcmp(argv[1], "--sigwait") == 0) {
        return sigwait_workload();
    }
    if (argc == 3 && strcmp(argv[1], "--daemon") == 0) {
        return daemon_workload(argv[2]);
    }
    dir = g_dir_make_tmp("test-dirty-trace-record-XXXXXX", NULL);
    ret = run_recorder(argv[0], dir, &trace_path);
    if (ret == 0) {
        base_path = g_build_filename(dir, "base", NULL);
        t = dirty_trace_load(trace_path, &err);
        if (!t || !g_file_get_contents(base_path, &base, NULL, NULL)) {
            fprintf(stderr, "%s\n", err ? error_get_pretty(err) : "no base");
            ret = 1;
        } else {
            char *race_at;
            uint64_t base_vpn = g_ascii_strtoull(base, &race_at, 16) /
                                T_PAGE_BYTES;

            ret = check(t, base_vpn,
                        g_ascii_strtoull(race_at, NULL, 16) / T_PAGE_BYTES);
        }
        unlink(trace_path);
        unlink(base_path);
    }
    rmdir(dir);
    printf("%s\n", ret == 0 ? "PASS: the recorded pages match the written "
           "pattern" : ret == 77 ? "SKIP" : "FAIL (see above)");
    return ret;
}
