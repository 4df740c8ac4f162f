/*
 * A dirty-page trace's figures (trace.h, DirtyTraceSummary): pure
 * functions of the trace, shown by dirty-trace-info and the traces/
 * README table.
 */
#include "qemu/osdep.h"

#include "trace.h"

#define DT_US_PER_SECOND 1000000.0

/* The window an interval counts in: the one holding its last
 * microsecond. */
static uint64_t dt_window_of(const DirtyTraceInterval *iv, uint64_t window_us)
{
    uint64_t end_us = iv->start_us + iv->duration_us;

    return end_us ? (end_us - 1) / window_us : 0;
}

/* Distinct pages per window, keyed by window number: as many entries as
 * windows with writes, however long the trace claims to be. */
static void dt_window_add(GHashTable *windows, uint64_t w)
{
    uint64_t *sum = g_hash_table_lookup(windows, &w);

    if (!sum) {
        sum = g_new0(uint64_t, 2);
        sum[0] = w;
        g_hash_table_insert(windows, sum, sum);
    }
    sum[1]++;
}

/*
 * One process's (page, window) pairs: each page counts once in each
 * window it was written in, into windows.  Returns the process's hot
 * set: pages written in more than half of the windows it lived through,
 * for a process that lived through two windows or more (what a
 * migration pass of about a window would send again and again).
 * Windows, not intervals: neither the interval nor the slowdown of the
 * recorded run should change what counts.
 */
static uint64_t dt_process_windows(const DirtyTraceProcess *p,
                                   uint64_t window_us, GHashTable *windows,
                                   uint64_t *pairs)
{
    g_autofree uint32_t *page_windows = g_new0(uint32_t, p->distinct_pages);
    g_autofree uint64_t *last_window = g_new(uint64_t, p->distinct_pages);
    uint64_t spanned, hot = 0;

    if (p->distinct_pages == 0) {
        /* No pages, no windows: g_new gave NULL, which memset refuses. */
        return 0;
    }
    memset(last_window, 0xff, p->distinct_pages * sizeof(uint64_t));
    for (uint32_t ii = 0; ii < p->interval_count; ii++) {
        const DirtyTraceInterval *iv = &p->intervals[ii];
        uint64_t w = dt_window_of(iv, window_us);

        for (uint32_t k = 0; k < iv->page_count; k++) {
            if (last_window[iv->pages[k]] != w) {
                last_window[iv->pages[k]] = w;
                page_windows[iv->pages[k]]++;
                dt_window_add(windows, w);
                (*pairs)++;
            }
        }
    }
    if (p->end_us <= p->start_us) {
        return 0;
    }
    spanned = (p->end_us - 1) / window_us - p->start_us / window_us + 1;
    for (uint32_t page = 0; spanned >= 2 && page < p->distinct_pages;
         page++) {
        if ((uint64_t)page_windows[page] * 2 > spanned) {
            hot++;
        }
    }
    return hot;
}

static double dt_mbps(uint64_t pages, uint32_t page_bytes, uint64_t us)
{
    return us ? (double)pages * page_bytes / MiB / (us / DT_US_PER_SECOND)
              : 0.0;
}

void dirty_trace_summarize(const DirtyTrace *t, uint64_t window_us,
                           DirtyTraceSummary *s)
{
    /* Only whole windows count towards the peak. */
    uint64_t full_windows = t->duration_us / window_us;
    g_autoptr(GHashTable) windows = g_hash_table_new_full(g_int64_hash,
                                                          g_int64_equal,
                                                          g_free, NULL);
    GHashTableIter it;
    uint64_t *sum, busiest = 0, pairs = 0;

    assert(window_us > 0);
    memset(s, 0, sizeof(*s));
    s->duration_us = t->duration_us;
    s->process_count = t->process_count;
    s->window_us = window_us;
    for (uint32_t pi = 0; pi < t->process_count; pi++) {
        const DirtyTraceProcess *p = &t->processes[pi];
        uint64_t peak_rss = 0;

        s->distinct_pages += p->distinct_pages;
        s->interval_count += p->interval_count;
        s->hot_pages += dt_process_windows(p, window_us, windows, &pairs);
        for (uint32_t ii = 0; ii < p->interval_count; ii++) {
            s->written_pages += p->intervals[ii].page_count;
            peak_rss = MAX(peak_rss, p->intervals[ii].rss_pages);
        }
        s->peak_rss_pages += peak_rss;
    }
    g_hash_table_iter_init(&it, windows);
    while (g_hash_table_iter_next(&it, (gpointer *)&sum, NULL)) {
        if (sum[0] < full_windows) {
            busiest = MAX(busiest, sum[1]);
        }
    }
    s->mean_mbps = dt_mbps(pairs, t->page_bytes, t->duration_us);
    s->peak_mbps = full_windows ? dt_mbps(busiest, t->page_bytes, window_us)
                                : s->mean_mbps;
}
