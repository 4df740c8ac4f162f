/*
 * dirty-trace-record: run a program with libdirty-trace-preload.so in
 * every process, wait for the whole process tree, and assemble the pages
 * each process wrote, interval by interval, into a trace.
 *
 *   dirty-trace-record [-i MS] [-o FILE] [--addresses] -- COMMAND ARGS...
 *   dirty-trace-record --probe
 *
 * Exit: the command's status; 1 when recording failed; 3 when this
 * kernel cannot watch a process's writes (DT_EXIT_UNSUPPORTED).
 */
#include "qemu/osdep.h"

#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "assemble.h"
#include "uffd-wp.h"
#include "raw.h"

#define DT_EXIT_UNSUPPORTED     3
#define DT_PRELOAD_NAME         "libdirty-trace-preload.so"
#define DT_INTERVAL_MS_MIN      1
#define DT_INTERVAL_MS_MAX      60000
#define DT_INTERVAL_MS_DEFAULT  50

static pid_t dt_child = -1;

static uint64_t dt_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

/* ^C and kill reach the traced program, which then exits cleanly. */
static void dt_forward_signal(int sig)
{
    if (dt_child > 0) {
        kill(dt_child, sig);
    }
}

static char *dt_preload_path(void)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = NULL;
    const char *env = getenv("DIRTY_TRACE_PRELOAD");

    if (env && *env) {
        return g_strdup(env);
    }
    dir = g_path_get_dirname(exe ? exe : ".");
    return g_build_filename(dir, DT_PRELOAD_NAME, NULL);
}

static G_NORETURN void dt_exec_child(char **argv, const char *spool,
                                     const char *preload, int interval_ms)
{
    const char *old = getenv("LD_PRELOAD");
    g_autofree char *ld = old && *old ? g_strdup_printf("%s:%s", preload, old)
                                      : g_strdup(preload);
    char interval[16];

    snprintf(interval, sizeof(interval), "%d", interval_ms);
    setenv(DT_ENV_DIR, spool, 1);
    setenv(DT_ENV_INTERVAL_MS, interval, 1);
    setenv("LD_PRELOAD", ld, 1);
    execvp(argv[0], argv);
    fprintf(stderr, "dirty-trace-record: cannot run %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
}

/* Run the command; reap the whole tree (we are its subreaper). */
static int dt_run(char **argv, const char *spool, const char *preload,
                  int interval_ms)
{
    int status = 0, child_status = 0;
    pid_t pid;

    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    dt_child = fork();
    if (dt_child < 0) {
        error_report("fork: %s", strerror(errno));
        return -1;
    }
    if (dt_child == 0) {
        dt_exec_child(argv, spool, preload, interval_ms);
    }
    signal(SIGINT, dt_forward_signal);
    signal(SIGTERM, dt_forward_signal);
    while ((pid = waitpid(-1, &status, 0)) != -1 || errno == EINTR) {
        if (pid == dt_child) {
            child_status = status;
        }
    }
    if (WIFSIGNALED(child_status)) {
        return 128 + WTERMSIG(child_status);
    }
    return WEXITSTATUS(child_status);
}

static void dt_remove_spool(const char *spool)
{
    g_autoptr(GDir) d = g_dir_open(spool, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(spool, name, NULL);

        unlink(path);
    }
    rmdir(spool);
}

static void dt_usage(FILE *out)
{
    fprintf(out, "usage: dirty-trace-record [-i MS] [-o FILE] [--addresses] "
            "-- COMMAND ARGS...\n"
            "       dirty-trace-record --probe\n"
            "  -i MS        interval, %d..%d ms (default %d)\n"
            "  -o FILE      the trace (default COMMAND.dtrace)\n"
            "  --addresses  keep each page's virtual address in the trace\n"
            "  --probe      check that this kernel can record, and exit\n",
            DT_INTERVAL_MS_MIN, DT_INTERVAL_MS_MAX, DT_INTERVAL_MS_DEFAULT);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "addresses", no_argument, NULL, 'a' },
        { "probe", no_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    DtAssembleOptions opts = { .interval_ms = DT_INTERVAL_MS_DEFAULT };
    g_autofree char *out = NULL, *preload = NULL, *spool = NULL;
    g_autoptr(DirtyTrace) trace = NULL;
    g_autofree char *program = NULL;
    DirtyTraceSummary sum;
    const char *why = "";
    Error *err = NULL;
    bool probe_only = false;
    int opt, status;

    while ((opt = getopt_long(argc, argv, "+i:o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i': {
            char *end;
            long ms = strtol(optarg, &end, 10);

            if (*end || ms < DT_INTERVAL_MS_MIN || ms > DT_INTERVAL_MS_MAX) {
                error_report("interval '%s' is out of range [%d, %d] ms",
                             optarg, DT_INTERVAL_MS_MIN, DT_INTERVAL_MS_MAX);
                return 1;
            }
            opts.interval_ms = ms;
            break;
        }
        case 'o':
            out = g_strdup(optarg);
            break;
        case 'a':
            opts.keep_addresses = true;
            break;
        case 'p':
            probe_only = true;
            break;
        case 'h':
            dt_usage(stdout);
            return 0;
        default:
            dt_usage(stderr);
            return 1;
        }
    }
    if (uffd_wp_probe(&why) < 0) {
        error_report("cannot record dirty pages on this kernel: %s", why);
        return DT_EXIT_UNSUPPORTED;
    }
    if (probe_only) {
        printf("dirty-trace-record: userfaultfd async write-protect and "
               "PAGEMAP_SCAN work here\n");
        return 0;
    }
    if (optind >= argc) {
        dt_usage(stderr);
        return 1;
    }
    if (!out) {
        g_autofree char *base = g_path_get_basename(argv[optind]);

        out = g_strdup_printf("%s.dtrace", base);
    }
    preload = dt_preload_path();
    if (access(preload, R_OK) != 0) {
        error_report("cannot find the preload library %s (set "
                     "DIRTY_TRACE_PRELOAD)", preload);
        return 1;
    }
    spool = g_dir_make_tmp("dirty-trace-XXXXXX", NULL);
    if (!spool) {
        error_report("cannot create a spool directory in %s",
                     g_get_tmp_dir());
        return 1;
    }
    program = g_strjoinv(" ", argv + optind);
    opts.program = program;
    opts.t0_ns = dt_monotonic_ns();
    status = dt_run(argv + optind, spool, preload, opts.interval_ms);
    opts.end_ns = dt_monotonic_ns();
    trace = status < 0 ? NULL : dt_assemble(spool, &opts, &err);
    if (trace && trace->process_count == 0) {
        error_setg(&err, "no process was recorded: %s did not start, or "
                   "ignores LD_PRELOAD (static or setuid)", argv[optind]);
        g_clear_pointer(&trace, dirty_trace_free);
    }
    if (trace && !dirty_trace_save(trace, out, &err)) {
        g_clear_pointer(&trace, dirty_trace_free);
    }
    dt_remove_spool(spool);
    if (!trace) {
        if (err) {
            error_report_err(err);
        }
        return 1;
    }
    dirty_trace_summarize(trace, G_USEC_PER_SEC, &sum);
    fprintf(stderr, "dirty-trace-record: %s: %u processes, %" PRIu64
            " distinct pages, %" PRIu64 " page writes in %.3f s\n", out,
            sum.process_count, sum.distinct_pages, sum.written_pages,
            sum.duration_us / 1e6);
    if (status != 0) {
        fprintf(stderr, "dirty-trace-record: the command exited with status "
                "%d\n", status);
    }
    return status;
}
