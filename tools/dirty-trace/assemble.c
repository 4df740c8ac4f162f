/*
 * The recorder's back end: read each process's raw spool, merge the
 * records of each interval, number the process's distinct pages densely
 * in address order, and build the trace.
 */
#include "qemu/osdep.h"

#include "assemble.h"
#include "raw.h"

/* One interval as spooled: virtual page numbers, sorted and unique. */
typedef struct DtRawSpan {
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t rss_pages;
    GArray *vpns;               /* uint64_t */
} DtRawSpan;

static int dt_cmp_u64(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void dt_sort_unique(GArray *vpns)
{
    guint kept = 0;

    g_array_sort(vpns, dt_cmp_u64);
    for (guint i = 0; i < vpns->len; i++) {
        uint64_t v = g_array_index(vpns, uint64_t, i);

        if (kept == 0 || v != g_array_index(vpns, uint64_t, kept - 1)) {
            g_array_index(vpns, uint64_t, kept++) = v;
        }
    }
    g_array_set_size(vpns, kept);
}

static void dt_span_clear(gpointer data)
{
    DtRawSpan *span = data;

    g_array_unref(span->vpns);
}

/* Read the records after the header into spans; a cut-short tail (the
 * process died mid-write) is dropped. */
static void dt_read_spans(const uint8_t *at, size_t left, GArray *spans,
                          char *comm, const char *name)
{
    DtRawSpan *span = NULL;
    uint32_t seq = UINT32_MAX;

    while (left >= sizeof(DtRawInterval)) {
        DtRawInterval rec;
        size_t range_bytes;

        memcpy(&rec, at, sizeof(rec));
        range_bytes = (size_t)rec.range_count * sizeof(DtRawRange);
        if (rec.magic != DT_RAW_INTERVAL_MAGIC ||
            range_bytes > left - sizeof(rec)) {
            warn_report("%s: dropping a damaged or cut-short record", name);
            return;
        }
        at += sizeof(rec);
        left -= sizeof(rec);
        if (!span || rec.seq != seq) {
            g_array_set_size(spans, spans->len + 1);
            span = &g_array_index(spans, DtRawSpan, spans->len - 1);
            span->vpns = g_array_new(FALSE, FALSE, sizeof(uint64_t));
            span->start_ns = rec.start_ns;
            seq = rec.seq;
        }
        span->end_ns = rec.end_ns;
        span->rss_pages = rec.rss_pages;
        memcpy(comm, rec.comm, DT_RAW_COMM_BYTES);
        for (uint32_t r = 0; r < rec.range_count; r++) {
            DtRawRange range;

            memcpy(&range, at + r * sizeof(range), sizeof(range));
            for (uint64_t k = 0; k < range.page_count; k++) {
                uint64_t vpn = range.first_page + k;

                g_array_append_val(span->vpns, vpn);
            }
        }
        at += range_bytes;
        left -= range_bytes;
    }
    if (left) {
        warn_report("%s: dropping a cut-short record", name);
    }
}

static uint32_t dt_dense_index(GArray *distinct, uint64_t vpn)
{
    uint64_t *found = bsearch(&vpn, distinct->data, distinct->len,
                              sizeof(uint64_t), dt_cmp_u64);

    assert(found);
    return found - (uint64_t *)distinct->data;
}

static uint64_t dt_us_since(uint64_t ns, uint64_t t0_ns)
{
    return ns > t0_ns ? (ns - t0_ns) / 1000 : 0;
}

/* Number the pages densely and fill p's intervals from spans. */
static bool dt_build_process(DirtyTraceProcess *p, GArray *spans,
                             const DtAssembleOptions *opts, Error **errp)
{
    g_autoptr(GArray) distinct = g_array_new(FALSE, FALSE, sizeof(uint64_t));

    for (guint i = 0; i < spans->len; i++) {
        GArray *vpns = g_array_index(spans, DtRawSpan, i).vpns;

        dt_sort_unique(vpns);
        g_array_append_vals(distinct, vpns->data, vpns->len);
    }
    dt_sort_unique(distinct);
    if (distinct->len > DIRTY_TRACE_MAX_PAGES) {
        error_setg(errp, "process %d wrote %u distinct pages, more than a "
                   "trace holds (%u)", p->pid, distinct->len,
                   DIRTY_TRACE_MAX_PAGES);
        return false;
    }
    p->distinct_pages = distinct->len;
    p->interval_count = spans->len;
    p->intervals = g_new0(DirtyTraceInterval, spans->len);
    p->end_us = p->start_us;
    for (guint i = 0; i < spans->len; i++) {
        DtRawSpan *span = &g_array_index(spans, DtRawSpan, i);
        DirtyTraceInterval *iv = &p->intervals[i];
        uint64_t start_us = MAX(dt_us_since(span->start_ns, opts->t0_ns),
                                p->end_us);
        uint64_t end_us = MAX(dt_us_since(span->end_ns, opts->t0_ns),
                              start_us);

        iv->start_us = start_us;
        iv->duration_us = MIN(end_us - start_us, UINT32_MAX);
        iv->rss_pages = span->rss_pages;
        iv->page_count = span->vpns->len;
        iv->pages = g_new(uint32_t, iv->page_count);
        for (uint32_t k = 0; k < iv->page_count; k++) {
            iv->pages[k] = dt_dense_index(
                distinct, g_array_index(span->vpns, uint64_t, k));
        }
        p->end_us = iv->start_us + iv->duration_us;
    }
    if (opts->keep_addresses) {
        p->page_addresses = (uint64_t *)g_array_steal(distinct, NULL);
    }
    return true;
}

static bool dt_assemble_one(const char *path, const char *name,
                            const DtAssembleOptions *opts,
                            DirtyTraceProcess *p, Error **errp)
{
    g_autofree gchar *data = NULL;
    g_autoptr(GArray) spans = g_array_new(FALSE, TRUE, sizeof(DtRawSpan));
    g_autoptr(GError) gerr = NULL;
    DtRawHeader h;
    gsize len;

    g_array_set_clear_func(spans, dt_span_clear);
    if (!g_file_get_contents(path, &data, &len, &gerr)) {
        error_setg(errp, "cannot read spool %s: %s", path, gerr->message);
        return false;
    }
    if (len < sizeof(h) || memcmp(data, DT_RAW_MAGIC, 8) != 0) {
        error_setg(errp, "spool %s is not the recorder's", path);
        return false;
    }
    memcpy(&h, data, sizeof(h));
    if (h.version != DT_RAW_VERSION || h.page_bytes != 4096) {
        error_setg(errp, "spool %s: version %u, page size %u: not this "
                   "recorder's", path, h.version, h.page_bytes);
        return false;
    }
    if (h.status < 0) {
        h.message[DT_RAW_MESSAGE_BYTES - 1] = '\0';
        error_setg(errp, "process %d could not be tracked: %s", h.pid,
                   h.message);
        return false;
    }
    p->pid = h.pid;
    p->ppid = h.ppid;
    p->origin = h.origin == DT_RAW_ORIGIN_FORK ? DIRTY_TRACE_ORIGIN_FORK
                                               : DIRTY_TRACE_ORIGIN_EXEC;
    p->start_us = dt_us_since(h.start_ns, opts->t0_ns);
    dt_read_spans((const uint8_t *)data + sizeof(h), len - sizeof(h), spans,
                  p->comm, name);
    p->comm[DIRTY_TRACE_COMM_BYTES] = '\0';
    return dt_build_process(p, spans, opts, errp);
}

static void dt_process_clear(gpointer data)
{
    dirty_trace_process_clear(data);
}

static int dt_cmp_process(gconstpointer a, gconstpointer b)
{
    const DirtyTraceProcess *x = a, *y = b;

    if (x->start_us != y->start_us) {
        return x->start_us < y->start_us ? -1 : 1;
    }
    return (x->pid > y->pid) - (x->pid < y->pid);
}

DirtyTrace *dt_assemble(const char *dir, const DtAssembleOptions *opts,
                        Error **errp)
{
    g_autoptr(DirtyTrace) t = g_new0(DirtyTrace, 1);
    g_autoptr(GDir) d = NULL;
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GArray) procs = g_array_new(FALSE, TRUE,
                                          sizeof(DirtyTraceProcess));
    const char *name;

    g_array_set_clear_func(procs, dt_process_clear);
    d = g_dir_open(dir, 0, &gerr);
    if (!d) {
        error_setg(errp, "cannot read spool directory: %s", gerr->message);
        return NULL;
    }
    t->version = DIRTY_TRACE_VERSION;
    t->flags = opts->keep_addresses ? DIRTY_TRACE_F_ADDRESSES : 0;
    t->page_bytes = 4096;
    t->interval_ms = opts->interval_ms;
    t->program = g_strndup(opts->program, DIRTY_TRACE_MAX_PROGRAM_BYTES);
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        if (!g_str_has_suffix(name, DT_RAW_SUFFIX)) {
            continue;
        }
        g_array_set_size(procs, procs->len + 1);
        if (!dt_assemble_one(path, name, opts,
                             &g_array_index(procs, DirtyTraceProcess,
                                            procs->len - 1), errp)) {
            return NULL;
        }
    }
    g_array_sort(procs, dt_cmp_process);
    t->process_count = procs->len;
    t->processes = (DirtyTraceProcess *)g_array_free(g_steal_pointer(&procs),
                                                     FALSE);
    t->duration_us = dt_us_since(opts->end_ns, opts->t0_ns);
    for (uint32_t pi = 0; pi < t->process_count; pi++) {
        t->duration_us = MAX(t->duration_us, t->processes[pi].end_us);
    }
    if (!dirty_trace_check(t, errp)) {
        error_prepend(errp, "the recording is inconsistent: ");
        return NULL;
    }
    return g_steal_pointer(&t);
}
