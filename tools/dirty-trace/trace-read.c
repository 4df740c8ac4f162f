/*
 * Dirty-page traces: the reader.  Every size and count is bounded by
 * what is left of the input before anything is allocated; the body is
 * inflated in growing steps, never past its declared size.
 */
#include "qemu/osdep.h"

#include "trace.h"
#include "trace-codec.h"

/* First inflate step; the buffer doubles up to the declared size. */
#define DT_INFLATE_FIRST_BYTES  (64u << 10)
/* Bytes an encoded interval takes before its pages. */
#define DT_INTERVAL_FIXED_BYTES 24
/* Bytes an encoded process takes before its intervals. */
#define DT_PROCESS_FIXED_BYTES  (12 + DIRTY_TRACE_COMM_BYTES + 24)

typedef struct DtCursor {
    const uint8_t *p;
    size_t left;
} DtCursor;

static bool dt_need(DtCursor *c, size_t n, const char *what, Error **errp)
{
    if (c->left < n) {
        error_setg(errp, "the trace's body is truncated in %s", what);
        return false;
    }
    return true;
}

static bool dt_get_u32(DtCursor *c, uint32_t *v, const char *what,
                       Error **errp)
{
    if (!dt_need(c, 4, what, errp)) {
        return false;
    }
    *v = dt_le32_load(c->p);
    c->p += 4;
    c->left -= 4;
    return true;
}

static bool dt_get_u64(DtCursor *c, uint64_t *v, const char *what,
                       Error **errp)
{
    if (!dt_need(c, 8, what, errp)) {
        return false;
    }
    *v = dt_le64_load(c->p);
    c->p += 8;
    c->left -= 8;
    return true;
}

static bool dt_get_varint(DtCursor *c, uint64_t *v, const char *what,
                          Error **errp)
{
    uint64_t value = 0;

    for (int i = 0; i < DT_VARINT_MAX_BYTES; i++) {
        uint8_t byte;

        if (!dt_need(c, 1, what, errp)) {
            return false;
        }
        byte = *c->p++;
        c->left--;
        if (i == DT_VARINT_MAX_BYTES - 1 && byte > 1) {
            break;              /* more than 64 bits */
        }
        value |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *v = value;
            return true;
        }
    }
    error_setg(errp, "a number in %s does not fit 64 bits", what);
    return false;
}

static bool dt_read_header(const uint8_t *data, size_t len,
                           uint64_t *body_bytes, Error **errp)
{
    uint32_t version;
    uint64_t compressed_bytes;

    if (len < DIRTY_TRACE_HEADER_BYTES) {
        error_setg(errp, "the trace is truncated: %zu bytes, the header "
                   "alone takes %u", len, DIRTY_TRACE_HEADER_BYTES);
        return false;
    }
    if (memcmp(data, DIRTY_TRACE_MAGIC, 8) != 0) {
        error_setg(errp, "not a dirty-page trace (no " DIRTY_TRACE_MAGIC
                   " magic)");
        return false;
    }
    version = dt_le32_load(data + DT_HDR_VERSION);
    if (version != DIRTY_TRACE_VERSION) {
        error_setg(errp, "unsupported trace version %u (this reader knows "
                   "%u)", version, DIRTY_TRACE_VERSION);
        return false;
    }
    if (dt_le32_load(data + DT_HDR_HEADER_BYTES) != DIRTY_TRACE_HEADER_BYTES ||
        dt_le32_load(data + DT_HDR_CRC) != dt_header_crc(data)) {
        error_setg(errp, "the trace's header is corrupt (size or checksum)");
        return false;
    }
    *body_bytes = dt_le64_load(data + DT_HDR_BODY_BYTES);
    compressed_bytes = dt_le64_load(data + DT_HDR_COMPRESSED_BYTES);
    if (*body_bytes > DIRTY_TRACE_MAX_BODY_BYTES) {
        error_setg(errp, "the trace's body would decompress to %" PRIu64
                   " bytes, more than the limit %u", *body_bytes,
                   DIRTY_TRACE_MAX_BODY_BYTES);
        return false;
    }
    if (compressed_bytes != len - DIRTY_TRACE_HEADER_BYTES) {
        error_setg(errp, "the trace is %s: the header declares %" PRIu64
                   " compressed bytes, the file holds %zu",
                   compressed_bytes > len - DIRTY_TRACE_HEADER_BYTES ?
                   "truncated" : "followed by stray bytes",
                   compressed_bytes, len - DIRTY_TRACE_HEADER_BYTES);
        return false;
    }
    return true;
}

/* Inflate exactly body_bytes from src, or fail. */
static uint8_t *dt_inflate(const uint8_t *src, size_t src_bytes,
                           uint64_t body_bytes, Error **errp)
{
    size_t cap = MIN(body_bytes, DT_INFLATE_FIRST_BYTES);
    uint8_t *out = g_malloc(cap + 1);
    z_stream zs = { 0 };
    int ret;

    if (inflateInit(&zs) != Z_OK) {
        g_free(out);
        error_setg(errp, "zlib cannot start inflating");
        return NULL;
    }
    zs.next_in = (Bytef *)src;
    zs.avail_in = src_bytes;
    for (;;) {
        zs.next_out = out + zs.total_out;
        /* One spare byte: a body longer than declared shows up there. */
        zs.avail_out = cap + 1 - zs.total_out;
        ret = inflate(&zs, Z_NO_FLUSH);
        if (zs.total_out > body_bytes) {
            error_setg(errp, "the trace's body decompresses to more than "
                       "its declared %" PRIu64 " bytes", body_bytes);
            goto fail;
        }
        if (ret == Z_STREAM_END) {
            break;
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) {
            error_setg(errp, "the trace's compressed body is corrupt (%s)",
                       zs.msg ? zs.msg : "zlib error");
            goto fail;
        }
        if (zs.avail_in == 0 && zs.avail_out > 0) {
            error_setg(errp, "the trace's compressed body is truncated");
            goto fail;
        }
        if (zs.avail_out == 0 && cap < body_bytes) {
            cap = MIN(body_bytes, (uint64_t)cap * 2);
            out = g_realloc(out, cap + 1);
        }
    }
    if (zs.total_out != body_bytes || zs.avail_in != 0) {
        error_setg(errp, "the trace's body is %lu bytes and %u stray "
                   "compressed bytes follow it; the header declares %"
                   PRIu64, zs.total_out, zs.avail_in, body_bytes);
        goto fail;
    }
    inflateEnd(&zs);
    return out;

fail:
    inflateEnd(&zs);
    g_free(out);
    return NULL;
}

static bool dt_read_interval(DtCursor *c, DirtyTraceProcess *p,
                             DirtyTraceInterval *iv, Error **errp)
{
    uint64_t prev = UINT64_MAX;     /* so the first index is its gap */
    uint32_t duration_us;

    if (!dt_get_u64(c, &iv->start_us, "an interval", errp) ||
        !dt_get_u32(c, &duration_us, "an interval", errp) ||
        !dt_get_u64(c, &iv->rss_pages, "an interval", errp) ||
        !dt_get_u32(c, &iv->page_count, "an interval", errp)) {
        return false;
    }
    iv->duration_us = duration_us;
    if (iv->page_count > p->distinct_pages || iv->page_count > c->left) {
        error_setg(errp, "an interval of %u pages does not fit (process of "
                   "%u distinct pages, %zu bytes left)", iv->page_count,
                   p->distinct_pages, c->left);
        return false;
    }
    iv->pages = g_new(uint32_t, iv->page_count);
    for (uint32_t k = 0; k < iv->page_count; k++) {
        uint64_t gap, page;

        if (!dt_get_varint(c, &gap, "an interval's pages", errp)) {
            return false;
        }
        page = prev + 1 + gap;
        if (gap >= p->distinct_pages || page >= p->distinct_pages) {
            error_setg(errp, "page index %" PRIu64 " out of range (distinct "
                       "pages %u)", gap >= p->distinct_pages ? gap : page,
                       p->distinct_pages);
            return false;
        }
        iv->pages[k] = page;
        prev = page;
    }
    return true;
}

static bool dt_read_process(DtCursor *c, uint32_t flags,
                            DirtyTraceProcess *p, Error **errp)
{
    uint32_t pid, ppid;

    if (!dt_get_u32(c, &pid, "a process", errp) ||
        !dt_get_u32(c, &ppid, "a process", errp) ||
        !dt_get_u32(c, &p->origin, "a process", errp) ||
        !dt_need(c, DIRTY_TRACE_COMM_BYTES, "a process", errp)) {
        return false;
    }
    p->pid = (int32_t)pid;
    p->ppid = (int32_t)ppid;
    memcpy(p->comm, c->p, DIRTY_TRACE_COMM_BYTES);
    p->comm[DIRTY_TRACE_COMM_BYTES] = '\0';
    c->p += DIRTY_TRACE_COMM_BYTES;
    c->left -= DIRTY_TRACE_COMM_BYTES;
    if (!dt_get_u64(c, &p->start_us, "a process", errp) ||
        !dt_get_u64(c, &p->end_us, "a process", errp) ||
        !dt_get_u32(c, &p->distinct_pages, "a process", errp) ||
        !dt_get_u32(c, &p->interval_count, "a process", errp)) {
        return false;
    }
    if (p->distinct_pages > DIRTY_TRACE_MAX_PAGES ||
        p->interval_count > c->left / DT_INTERVAL_FIXED_BYTES) {
        error_setg(errp, "a process of %u pages and %u intervals does not "
                   "fit (limit %u pages, %zu bytes left)", p->distinct_pages,
                   p->interval_count, DIRTY_TRACE_MAX_PAGES, c->left);
        p->interval_count = 0;
        return false;
    }
    p->intervals = g_new0(DirtyTraceInterval, p->interval_count);
    for (uint32_t ii = 0; ii < p->interval_count; ii++) {
        if (!dt_read_interval(c, p, &p->intervals[ii], errp)) {
            error_prepend(errp, "interval %u: ", ii);
            return false;
        }
    }
    if (flags & DIRTY_TRACE_F_ADDRESSES) {
        uint64_t prev = 0;

        if (p->distinct_pages > c->left) {
            error_setg(errp, "the trace's body is truncated in page "
                       "addresses");
            return false;
        }
        p->page_addresses = g_new(uint64_t, p->distinct_pages);
        for (uint32_t page = 0; page < p->distinct_pages; page++) {
            uint64_t delta;

            if (!dt_get_varint(c, &delta, "page addresses", errp)) {
                return false;
            }
            prev += delta;
            p->page_addresses[page] = prev;
        }
    }
    return true;
}

static bool dt_read_body(DtCursor *c, DirtyTrace *t, Error **errp)
{
    uint32_t program_bytes;

    if (!dt_get_u32(c, &t->flags, "the preamble", errp) ||
        !dt_get_u32(c, &t->page_bytes, "the preamble", errp) ||
        !dt_get_u32(c, &t->interval_ms, "the preamble", errp) ||
        !dt_get_u64(c, &t->duration_us, "the preamble", errp) ||
        !dt_get_u32(c, &program_bytes, "the preamble", errp)) {
        return false;
    }
    if (t->flags & ~DIRTY_TRACE_F_ALL) {
        /* A flag this reader does not know may change the layout. */
        error_setg(errp, "unknown trace flags 0x%x", t->flags);
        return false;
    }
    if (program_bytes > DIRTY_TRACE_MAX_PROGRAM_BYTES) {
        error_setg(errp, "the program name of %u bytes is longer than %u",
                   program_bytes, DIRTY_TRACE_MAX_PROGRAM_BYTES);
        return false;
    }
    if (!dt_need(c, program_bytes, "the program name", errp)) {
        return false;
    }
    t->program = g_strndup((const char *)c->p, program_bytes);
    c->p += program_bytes;
    c->left -= program_bytes;
    if (!dt_get_u32(c, &t->process_count, "the preamble", errp)) {
        return false;
    }
    if (t->process_count > DIRTY_TRACE_MAX_PROCESSES ||
        t->process_count > c->left / DT_PROCESS_FIXED_BYTES) {
        error_setg(errp, "%u processes do not fit", t->process_count);
        t->process_count = 0;
        return false;
    }
    t->processes = g_new0(DirtyTraceProcess, t->process_count);
    for (uint32_t pi = 0; pi < t->process_count; pi++) {
        if (!dt_read_process(c, t->flags, &t->processes[pi], errp)) {
            error_prepend(errp, "process %u: ", pi);
            return false;
        }
    }
    if (c->left != 0) {
        error_setg(errp, "%zu stray bytes after the last process", c->left);
        return false;
    }
    return true;
}

DirtyTrace *dirty_trace_decode(const uint8_t *data, size_t len, Error **errp)
{
    g_autoptr(DirtyTrace) t = g_new0(DirtyTrace, 1);
    g_autofree uint8_t *body = NULL;
    uint64_t body_bytes;
    DtCursor c;

    if (!dt_read_header(data, len, &body_bytes, errp)) {
        return NULL;
    }
    body = dt_inflate(data + DIRTY_TRACE_HEADER_BYTES,
                      len - DIRTY_TRACE_HEADER_BYTES, body_bytes, errp);
    if (!body) {
        return NULL;
    }
    t->version = DIRTY_TRACE_VERSION;
    c = (DtCursor) { body, body_bytes };
    if (!dt_read_body(&c, t, errp) || !dirty_trace_check(t, errp)) {
        return NULL;
    }
    return g_steal_pointer(&t);
}

DirtyTrace *dirty_trace_load(const char *path, Error **errp)
{
    g_autoptr(GMappedFile) file = NULL;
    g_autoptr(GError) gerr = NULL;
    DirtyTrace *t;

    file = g_mapped_file_new(path, FALSE, &gerr);
    if (!file) {
        error_setg(errp, "cannot read trace %s: %s", path, gerr->message);
        return NULL;
    }
    if (g_mapped_file_get_length(file) > DIRTY_TRACE_MAX_FILE_BYTES) {
        error_setg(errp, "trace %s is larger than %u bytes", path,
                   DIRTY_TRACE_MAX_FILE_BYTES);
        return NULL;
    }
    t = dirty_trace_decode((const uint8_t *)g_mapped_file_get_contents(file),
                           g_mapped_file_get_length(file), errp);
    if (!t) {
        error_prepend(errp, "trace %s: ", path);
    }
    return t;
}
