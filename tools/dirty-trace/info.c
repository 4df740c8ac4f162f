/*
 * dirty-trace-info: what a trace holds, in figures.
 *
 *   dirty-trace-info [--processes] [--row NAME] FILE
 *
 * --row prints one Markdown table row (traces/README.md's columns).
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "trace.h"

/* Peak rates are taken over windows of this length. */
#define DT_INFO_WINDOW_US G_USEC_PER_SEC

static double dt_mib(uint64_t pages, uint32_t page_bytes)
{
    return (double)pages * page_bytes / MiB;
}

static void dt_print_processes(const DirtyTrace *t)
{
    printf("  %7s %7s %-6s %-16s %9s %9s %9s\n", "pid", "ppid", "origin",
           "comm", "intervals", "distinct", "peak-rss");
    for (uint32_t pi = 0; pi < t->process_count; pi++) {
        const DirtyTraceProcess *p = &t->processes[pi];
        uint64_t rss = 0;

        for (uint32_t ii = 0; ii < p->interval_count; ii++) {
            rss = MAX(rss, p->intervals[ii].rss_pages);
        }
        printf("  %7d %7d %-6s %-16s %9u %9u %9" PRIu64 "\n", p->pid,
               p->ppid, p->origin == DIRTY_TRACE_ORIGIN_FORK ? "fork" : "exec",
               p->comm, p->interval_count, p->distinct_pages, rss);
    }
}

static void dt_print_row(const char *name, const DirtyTrace *t,
                         const DirtyTraceSummary *s)
{
    printf("| %s | %.1f s | %u | %" PRIu64 " (%.1f MiB) | %.1f | %.1f | "
           "%" PRIu64 " (%.1f MiB) |\n", name, s->duration_us / 1e6,
           s->process_count, s->distinct_pages,
           dt_mib(s->distinct_pages, t->page_bytes), s->peak_mbps,
           s->mean_mbps, s->hot_pages, dt_mib(s->hot_pages, t->page_bytes));
}

static void dt_print_summary(const char *path, const DirtyTrace *t,
                             const DirtyTraceSummary *s)
{
    printf("trace:          %s (version %u, interval %u ms)\n", path,
           t->version, t->interval_ms);
    printf("program:        %s\n", t->program);
    printf("duration:       %.3f s\n", s->duration_us / 1e6);
    printf("processes:      %u (%" PRIu64 " intervals)\n", s->process_count,
           s->interval_count);
    printf("distinct pages: %" PRIu64 " (%.1f MiB)\n", s->distinct_pages,
           dt_mib(s->distinct_pages, t->page_bytes));
    printf("page writes:    %" PRIu64 " (%.1f MiB, a page once per "
           "interval)\n", s->written_pages,
           dt_mib(s->written_pages, t->page_bytes));
    printf("dirty rate:     peak %.1f MB/s, mean %.1f MB/s (distinct pages "
           "per %.1f s window, MB = 2^20 bytes)\n", s->peak_mbps,
           s->mean_mbps, s->window_us / 1e6);
    printf("hot set:        %" PRIu64 " pages (%.1f MiB) written in > half "
           "the %.1f s windows of their process's life\n", s->hot_pages,
           dt_mib(s->hot_pages, t->page_bytes), s->window_us / 1e6);
    printf("peak rss:       %.1f MiB (summed over processes)\n",
           dt_mib(s->peak_rss_pages, t->page_bytes));
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "processes", no_argument, NULL, 'p' },
        { "row", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(DirtyTrace) t = NULL;
    DirtyTraceSummary s;
    const char *row = NULL;
    bool processes = false;
    Error *err = NULL;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            processes = true;
            break;
        case 'r':
            row = optarg;
            break;
        default:
            fprintf(opt == 'h' ? stdout : stderr, "usage: dirty-trace-info "
                    "[--processes] [--row NAME] FILE\n");
            return opt == 'h' ? 0 : 1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: dirty-trace-info [--processes] [--row NAME] "
                "FILE\n");
        return 1;
    }
    t = dirty_trace_load(argv[optind], &err);
    if (!t) {
        error_report_err(err);
        return 1;
    }
    dirty_trace_summarize(t, DT_INFO_WINDOW_US, &s);
    if (row) {
        dt_print_row(row, t, &s);
        return 0;
    }
    dt_print_summary(argv[optind], t, &s);
    if (processes) {
        dt_print_processes(t);
    }
    return 0;
}
