/*
 * Dirty-page traces: the invariants and the writer (trace.h).  The
 * reader is trace-read.c; the layout both follow is in
 * docs/devel/dirty-trace.md.
 */
#include "qemu/osdep.h"

#include <zlib.h>

#include "trace.h"
#include "trace-codec.h"

static bool dirty_trace_check_interval(const DirtyTraceProcess *p,
                                       uint32_t pi, uint32_t ii,
                                       uint64_t prev_end_us, uint8_t *seen,
                                       Error **errp)
{
    const DirtyTraceInterval *iv = &p->intervals[ii];

    if (iv->start_us < prev_end_us || iv->start_us > p->end_us ||
        iv->duration_us > p->end_us - iv->start_us) {
        error_setg(errp, "process %u interval %u: %u us from %" PRIu64
                   " us is not inside the process's life [%" PRIu64 ", %"
                   PRIu64 ") us after the previous interval", pi, ii,
                   iv->duration_us, iv->start_us, prev_end_us, p->end_us);
        return false;
    }
    if (iv->page_count > p->distinct_pages) {
        error_setg(errp, "process %u interval %u: %u pages, more than the "
                   "process's %u distinct pages", pi, ii, iv->page_count,
                   p->distinct_pages);
        return false;
    }
    for (uint32_t k = 0; k < iv->page_count; k++) {
        uint32_t page = iv->pages[k];

        if (page >= p->distinct_pages) {
            error_setg(errp, "process %u interval %u: page index %u out of "
                       "range (distinct pages %u)", pi, ii, page,
                       p->distinct_pages);
            return false;
        }
        if (k > 0 && page <= iv->pages[k - 1]) {
            error_setg(errp, "process %u interval %u: page indices not "
                       "strictly ascending (%u after %u)", pi, ii, page,
                       iv->pages[k - 1]);
            return false;
        }
        seen[page / 8] |= 1u << (page % 8);
    }
    return true;
}

static bool dirty_trace_check_process(const DirtyTrace *t, uint32_t pi,
                                      Error **errp)
{
    const DirtyTraceProcess *p = &t->processes[pi];
    g_autofree uint8_t *seen = NULL;
    uint64_t prev_end_us = p->start_us;

    if (p->start_us > p->end_us || p->end_us > t->duration_us) {
        error_setg(errp, "process %u: life [%" PRIu64 ", %" PRIu64 ") us is "
                   "not inside the trace's %" PRIu64 " us", pi, p->start_us,
                   p->end_us, t->duration_us);
        return false;
    }
    if (p->distinct_pages > DIRTY_TRACE_MAX_PAGES) {
        error_setg(errp, "process %u: %u distinct pages, more than the limit "
                   "%u", pi, p->distinct_pages, DIRTY_TRACE_MAX_PAGES);
        return false;
    }
    if (memchr(p->comm, '\0', sizeof(p->comm)) == NULL ||
        p->origin > DIRTY_TRACE_ORIGIN_FORK) {
        error_setg(errp, "process %u: bad name or origin", pi);
        return false;
    }
    seen = g_malloc0(p->distinct_pages / 8 + 1);
    for (uint32_t ii = 0; ii < p->interval_count; ii++) {
        if (!dirty_trace_check_interval(p, pi, ii, prev_end_us, seen, errp)) {
            return false;
        }
        prev_end_us = p->intervals[ii].start_us +
                      p->intervals[ii].duration_us;
    }
    for (uint32_t page = 0; page < p->distinct_pages; page++) {
        if (!(seen[page / 8] & (1u << (page % 8)))) {
            error_setg(errp, "process %u: page index %u is never written "
                       "(indices must be dense)", pi, page);
            return false;
        }
        if (p->page_addresses && page > 0 &&
            p->page_addresses[page] <= p->page_addresses[page - 1]) {
            error_setg(errp, "process %u: page addresses not strictly "
                       "ascending at index %u", pi, page);
            return false;
        }
    }
    if (!p->page_addresses != !(t->flags & DIRTY_TRACE_F_ADDRESSES)) {
        error_setg(errp, "process %u: page addresses %s but the trace's "
                   "flags say otherwise", pi,
                   p->page_addresses ? "present" : "absent");
        return false;
    }
    return true;
}

bool dirty_trace_check(const DirtyTrace *t, Error **errp)
{
    if (t->version != DIRTY_TRACE_VERSION) {
        error_setg(errp, "unsupported trace version %u (this reader knows "
                   "%u)", t->version, DIRTY_TRACE_VERSION);
        return false;
    }
    if (t->flags & ~DIRTY_TRACE_F_ALL) {
        error_setg(errp, "unknown trace flags 0x%x", t->flags);
        return false;
    }
    if (t->page_bytes != 4096 || t->interval_ms == 0) {
        error_setg(errp, "page size %u or interval %u ms not supported (4096 "
                   "bytes, >= 1 ms)", t->page_bytes, t->interval_ms);
        return false;
    }
    if (!t->program || strlen(t->program) > DIRTY_TRACE_MAX_PROGRAM_BYTES ||
        t->process_count > DIRTY_TRACE_MAX_PROCESSES) {
        error_setg(errp, "program name longer than %u bytes or more than %u "
                   "processes", DIRTY_TRACE_MAX_PROGRAM_BYTES,
                   DIRTY_TRACE_MAX_PROCESSES);
        return false;
    }
    for (uint32_t pi = 0; pi < t->process_count; pi++) {
        if (pi > 0 &&
            t->processes[pi].start_us < t->processes[pi - 1].start_us) {
            error_setg(errp, "process %u starts before process %u", pi,
                       pi - 1);
            return false;
        }
        if (!dirty_trace_check_process(t, pi, errp)) {
            return false;
        }
    }
    return true;
}

static void dirty_trace_encode_process(const DirtyTrace *t,
                                       const DirtyTraceProcess *p,
                                       GByteArray *body)
{
    dt_put_u32(body, p->pid);
    dt_put_u32(body, p->ppid);
    dt_put_u32(body, p->origin);
    g_byte_array_append(body, (const guint8 *)p->comm,
                        DIRTY_TRACE_COMM_BYTES);
    dt_put_u64(body, p->start_us);
    dt_put_u64(body, p->end_us);
    dt_put_u32(body, p->distinct_pages);
    dt_put_u32(body, p->interval_count);
    for (uint32_t ii = 0; ii < p->interval_count; ii++) {
        const DirtyTraceInterval *iv = &p->intervals[ii];
        int64_t prev = -1;

        dt_put_u64(body, iv->start_us);
        dt_put_u32(body, iv->duration_us);
        dt_put_u64(body, iv->rss_pages);
        dt_put_u32(body, iv->page_count);
        for (uint32_t k = 0; k < iv->page_count; k++) {
            dt_put_varint(body, iv->pages[k] - prev - 1);
            prev = iv->pages[k];
        }
    }
    if (t->flags & DIRTY_TRACE_F_ADDRESSES) {
        uint64_t prev = 0;

        for (uint32_t page = 0; page < p->distinct_pages; page++) {
            dt_put_varint(body, p->page_addresses[page] - prev);
            prev = p->page_addresses[page];
        }
    }
}

bool dirty_trace_encode(const DirtyTrace *t, GByteArray *out, Error **errp)
{
    g_autoptr(GByteArray) body = g_byte_array_new();
    uint8_t header[DIRTY_TRACE_HEADER_BYTES] = { 0 };
    uLongf compressed_bytes;
    size_t program_bytes;
    guint at;
    int ret;

    if (!dirty_trace_check(t, errp)) {
        error_prepend(errp, "refusing to write an invalid trace: ");
        return false;
    }
    program_bytes = strlen(t->program);
    dt_put_u32(body, t->flags);
    dt_put_u32(body, t->page_bytes);
    dt_put_u32(body, t->interval_ms);
    dt_put_u64(body, t->duration_us);
    dt_put_u32(body, program_bytes);
    g_byte_array_append(body, (const guint8 *)t->program, program_bytes);
    dt_put_u32(body, t->process_count);
    for (uint32_t pi = 0; pi < t->process_count; pi++) {
        dirty_trace_encode_process(t, &t->processes[pi], body);
    }
    if (body->len > DIRTY_TRACE_MAX_BODY_BYTES) {
        error_setg(errp, "the trace's body is %u bytes, more than the %u "
                   "bytes a reader accepts", body->len,
                   DIRTY_TRACE_MAX_BODY_BYTES);
        return false;
    }
    at = out->len;
    compressed_bytes = compressBound(body->len);
    g_byte_array_set_size(out, at + DIRTY_TRACE_HEADER_BYTES +
                          compressed_bytes);
    ret = compress2(out->data + at + DIRTY_TRACE_HEADER_BYTES,
                    &compressed_bytes, body->data, body->len,
                    Z_BEST_COMPRESSION);
    if (ret != Z_OK) {
        g_byte_array_set_size(out, at);
        error_setg(errp, "zlib could not compress the trace (%d)", ret);
        return false;
    }
    g_byte_array_set_size(out, at + DIRTY_TRACE_HEADER_BYTES +
                          compressed_bytes);
    dt_header_build(header, body->len, compressed_bytes);
    memcpy(out->data + at, header, sizeof(header));
    return true;
}

bool dirty_trace_save(const DirtyTrace *t, const char *path, Error **errp)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) gerr = NULL;

    if (!dirty_trace_encode(t, out, errp)) {
        return false;
    }
    if (!g_file_set_contents(path, (const char *)out->data, out->len,
                             &gerr)) {
        error_setg(errp, "cannot write trace %s: %s", path, gerr->message);
        return false;
    }
    return true;
}

void dirty_trace_process_clear(DirtyTraceProcess *p)
{
    for (uint32_t ii = 0; ii < p->interval_count && p->intervals; ii++) {
        g_free(p->intervals[ii].pages);
    }
    g_free(p->intervals);
    g_free(p->page_addresses);
    memset(p, 0, sizeof(*p));
}

void dirty_trace_free(DirtyTrace *t)
{
    if (!t) {
        return;
    }
    for (uint32_t pi = 0; pi < t->process_count && t->processes; pi++) {
        dirty_trace_process_clear(&t->processes[pi]);
    }
    g_free(t->processes);
    g_free(t->program);
    g_free(t);
}
