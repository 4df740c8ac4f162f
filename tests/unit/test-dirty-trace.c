/*
 * The dirty-page trace format: what the writer writes the reader reads
 * back exactly, and every broken file is refused with a sentence that
 * says what is wrong.  Broken files are built here, byte by byte, from
 * the layout in docs/devel/dirty-trace.md (not by the library's writer,
 * which refuses to write them), so this file is also a check of the
 * document.  Last, the figures dirty-trace-info prints.
 */
#include "qemu/osdep.h"

#include <glib/gstdio.h>
#include <zlib.h>

#include "test-cases.h"
#include "trace.h"

#define T_SEED 20261129u

/* ---- A valid trace, and its comparison -------------------------------- */

static DirtyTrace *trace_random(GRand *rand, bool addresses)
{
    DirtyTrace *t = g_new0(DirtyTrace, 1);

    t->version = DIRTY_TRACE_VERSION;
    t->flags = addresses ? DIRTY_TRACE_F_ADDRESSES : 0;
    t->page_bytes = 4096;
    t->interval_ms = 50;
    t->program = g_strdup("redis-server --port 0");
    t->process_count = 3;
    t->processes = g_new0(DirtyTraceProcess, t->process_count);
    for (uint32_t pi = 0; pi < t->process_count; pi++) {
        DirtyTraceProcess *p = &t->processes[pi];
        uint64_t at_us = pi * 1000;

        p->pid = 100 + pi;
        p->ppid = pi ? 100 : 1;
        p->origin = pi ? DIRTY_TRACE_ORIGIN_FORK : DIRTY_TRACE_ORIGIN_EXEC;
        snprintf(p->comm, sizeof(p->comm), "proc-%u", pi);
        p->start_us = at_us;
        p->distinct_pages = 1 + g_rand_int_range(rand, 0, 3000);
        p->interval_count = 1 + g_rand_int_range(rand, 0, 40);
        p->intervals = g_new0(DirtyTraceInterval, p->interval_count);
        for (uint32_t ii = 0; ii < p->interval_count; ii++) {
            DirtyTraceInterval *iv = &p->intervals[ii];
            bool last = ii == p->interval_count - 1;

            iv->start_us = at_us;
            iv->duration_us = 50000 + g_rand_int_range(rand, 0, 300);
            iv->rss_pages = g_rand_int(rand);
            iv->pages = g_new(uint32_t, p->distinct_pages);
            for (uint32_t page = 0; page < p->distinct_pages; page++) {
                /* The last interval writes every page: indices are dense. */
                if (last || g_rand_int_range(rand, 0, 4) == 0) {
                    iv->pages[iv->page_count++] = page;
                }
            }
            at_us += iv->duration_us;
        }
        p->end_us = at_us;
        t->duration_us = MAX(t->duration_us, p->end_us);
        if (addresses) {
            p->page_addresses = g_new(uint64_t, p->distinct_pages);
            for (uint32_t page = 0; page < p->distinct_pages; page++) {
                p->page_addresses[page] = 0x7f0000000ull + page * 3 +
                                          (page > 100 ? 1ull << 35 : 0);
            }
        }
    }
    return t;
}

static void assert_traces_equal(const DirtyTrace *a, const DirtyTrace *b)
{
    g_assert_cmpuint(a->flags, ==, b->flags);
    g_assert_cmpuint(a->interval_ms, ==, b->interval_ms);
    g_assert_cmpuint(a->duration_us, ==, b->duration_us);
    g_assert_cmpstr(a->program, ==, b->program);
    g_assert_cmpuint(a->process_count, ==, b->process_count);
    for (uint32_t pi = 0; pi < a->process_count; pi++) {
        const DirtyTraceProcess *p = &a->processes[pi], *q = &b->processes[pi];

        g_assert_cmpint(p->pid, ==, q->pid);
        g_assert_cmpint(p->ppid, ==, q->ppid);
        g_assert_cmpuint(p->origin, ==, q->origin);
        g_assert_cmpstr(p->comm, ==, q->comm);
        g_assert_cmpuint(p->start_us, ==, q->start_us);
        g_assert_cmpuint(p->end_us, ==, q->end_us);
        g_assert_cmpuint(p->distinct_pages, ==, q->distinct_pages);
        g_assert_cmpuint(p->interval_count, ==, q->interval_count);
        for (uint32_t ii = 0; ii < p->interval_count; ii++) {
            const DirtyTraceInterval *x = &p->intervals[ii];
            const DirtyTraceInterval *y = &q->intervals[ii];

            g_assert_cmpuint(x->start_us, ==, y->start_us);
            g_assert_cmpuint(x->duration_us, ==, y->duration_us);
            g_assert_cmpuint(x->rss_pages, ==, y->rss_pages);
            g_assert_cmpmem(x->pages, x->page_count * sizeof(uint32_t),
                            y->pages, y->page_count * sizeof(uint32_t));
        }
        g_assert_true(!p->page_addresses == !q->page_addresses);
        if (p->page_addresses) {
            g_assert_cmpmem(p->page_addresses,
                            p->distinct_pages * sizeof(uint64_t),
                            q->page_addresses,
                            q->distinct_pages * sizeof(uint64_t));
        }
    }
}

static void test_round_trip(void)
{
    GRand *rand = g_rand_new_with_seed(T_SEED);

    for (int round = 0; round < 20; round++) {
        g_autoptr(DirtyTrace) t = trace_random(rand, round % 2);
        g_autoptr(GByteArray) bytes = g_byte_array_new();
        g_autoptr(DirtyTrace) back = NULL;
        Error *err = NULL;

        g_assert_true(dirty_trace_encode(t, bytes, &err));
        g_assert_null(err);
        back = dirty_trace_decode(bytes->data, bytes->len, &err);
        g_assert_null(err);
        assert_traces_equal(t, back);
    }
    g_rand_free(rand);
}

static void test_save_load(void)
{
    GRand *rand = g_rand_new_with_seed(T_SEED + 1);
    g_autoptr(DirtyTrace) t = trace_random(rand, true);
    g_autoptr(DirtyTrace) back = NULL;
    g_autofree char *dir = g_dir_make_tmp("test-dirty-trace-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "t.dtrace", NULL);
    Error *err = NULL;

    g_assert_true(dirty_trace_save(t, path, &err));
    back = dirty_trace_load(path, &err);
    g_assert_null(err);
    assert_traces_equal(t, back);
    unlink(path);
    rmdir(dir);
    g_rand_free(rand);
}

/* The writer refuses what the reader would refuse. */
static void test_writer_refuses_invalid(void)
{
    GRand *rand = g_rand_new_with_seed(T_SEED + 2);
    g_autoptr(DirtyTrace) t = trace_random(rand, false);
    g_autoptr(GByteArray) bytes = g_byte_array_new();
    Error *err = NULL;

    t->processes[0].intervals[0].pages[0] = t->processes[0].distinct_pages;
    g_assert_false(dirty_trace_encode(t, bytes, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "out of range"));
    g_assert_cmpuint(bytes->len, ==, 0);
    error_free(err);
    g_rand_free(rand);
}

/* ---- Broken files, built from the documented layout ------------------- */

typedef enum Defect {
    D_NONE,
    D_EMPTY,
    D_HEADER_CUT,
    D_BODY_CUT,
    D_MAGIC,
    D_VERSION,
    D_HEADER_CRC,
    D_STRAY_FILE_BYTES,
    D_BODY_TOO_LARGE,
    D_BOMB,
    D_BODY_SHORT,
    D_ZLIB_CORRUPT,
    D_UNKNOWN_FLAGS,
    D_PAGE_SIZE,
    D_INDEX_OUT_OF_RANGE,
    D_GAP_OUT_OF_RANGE,
    D_NOT_DENSE,
    D_INTERVAL_OUTSIDE,
    D_VARINT_OVERFLOW,
    D_TOO_MANY_INTERVALS,
    D_TOO_MANY_PROCESSES,
    D_PAGE_COUNT_OVER_DISTINCT,
    D_STRAY_BODY_BYTES,
    D_ADDRESSES_DESCENDING,
} Defect;

static void put32(GByteArray *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        guint8 byte = v >> (8 * i);

        g_byte_array_append(b, &byte, 1);
    }
}

static void put64(GByteArray *b, uint64_t v)
{
    put32(b, v);
    put32(b, v >> 32);
}

static void putvar(GByteArray *b, uint64_t v)
{
    do {
        guint8 byte = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);

        g_byte_array_append(b, &byte, 1);
        v >>= 7;
    } while (v);
}

/*
 * One process (pid 7, "demo"), 4 distinct pages, two 50 ms intervals
 * writing pages {0, 2} then {1, 3}; with addresses.
 */
static GByteArray *body_build(Defect d)
{
    GByteArray *b = g_byte_array_new();
    static const char comm[16] = "demo";
    static const uint32_t pages[2][2] = { { 0, 2 }, { 1, 3 } };

    put32(b, d == D_UNKNOWN_FLAGS ? 0x81 : 1);      /* flags: addresses */
    put32(b, d == D_PAGE_SIZE ? 8192 : 4096);
    put32(b, 50);                                   /* interval ms */
    put64(b, 100000);                               /* duration us */
    put32(b, 4);
    g_byte_array_append(b, (const guint8 *)"demo", 4);
    put32(b, d == D_TOO_MANY_PROCESSES ? 60000 : 1);
    put32(b, 7);                                    /* pid */
    put32(b, 1);                                    /* ppid */
    put32(b, 0);                                    /* origin: exec */
    g_byte_array_append(b, (const guint8 *)comm, sizeof(comm));
    put64(b, 0);                                    /* start us */
    put64(b, 100000);                               /* end us */
    put32(b, 4);                                    /* distinct pages */
    put32(b, d == D_TOO_MANY_INTERVALS ? 1000000 : 2);
    for (int ii = 0; ii < 2; ii++) {
        int64_t prev = -1;

        put64(b, d == D_INTERVAL_OUTSIDE && ii ? 90000 : ii * 50000);
        put32(b, 50000);
        put64(b, 300);                              /* rss pages */
        put32(b, d == D_PAGE_COUNT_OVER_DISTINCT && ii ? 5 : 2);
        for (int k = 0; k < 2; k++) {
            uint32_t page = pages[ii][k];

            if (d == D_INDEX_OUT_OF_RANGE && ii == 1 && k == 1) {
                page = 4;
            }
            if (d == D_NOT_DENSE && ii == 1 && k == 1) {
                page = 2;               /* page 3 never written */
            }
            if (d == D_GAP_OUT_OF_RANGE && ii == 1 && k == 1) {
                putvar(b, UINT64_MAX);  /* a gap past every index */
            } else if (d == D_VARINT_OVERFLOW && ii == 1 && k == 1) {
                g_byte_array_append(b, (const guint8 *)
                                    "\xff\xff\xff\xff\xff\xff\xff\xff"
                                    "\xff\x7f", 10);
            } else {
                putvar(b, page - prev - 1);
            }
            prev = page;
        }
    }
    for (int page = 0; page < 4; page++) {
        putvar(b, d == D_ADDRESSES_DESCENDING && page == 2 ? 0 : 0x1000);
    }
    if (d == D_STRAY_BODY_BYTES) {
        put32(b, 0);
    }
    return b;
}

static GByteArray *file_build(Defect d)
{
    g_autoptr(GByteArray) body = body_build(d);
    GByteArray *f = g_byte_array_new();
    uLongf zbytes;
    uint64_t declared = body->len;
    uint8_t *header;

    if (d == D_BOMB) {
        /* 64 MiB of zeros squeezed into ~64 KiB, declared as 1 KiB. */
        g_byte_array_set_size(body, 64u << 20);
        memset(body->data, 0, body->len);
        declared = 1024;
    }
    zbytes = compressBound(body->len);
    g_byte_array_set_size(f, DIRTY_TRACE_HEADER_BYTES + zbytes);
    g_assert_cmpint(compress2(f->data + DIRTY_TRACE_HEADER_BYTES, &zbytes,
                              body->data, body->len, 9), ==, Z_OK);
    g_byte_array_set_size(f, DIRTY_TRACE_HEADER_BYTES + zbytes);
    if (d == D_BODY_TOO_LARGE) {
        declared = 600u << 20;
    }
    if (d == D_BODY_SHORT) {
        declared += 10;                 /* the stream ends before that */
    }
    if (d == D_ZLIB_CORRUPT) {
        f->data[DIRTY_TRACE_HEADER_BYTES + zbytes / 2] ^= 0x55;
        f->data[DIRTY_TRACE_HEADER_BYTES + zbytes - 3] ^= 0x55;
    }
    header = f->data;
    memset(header, 0, DIRTY_TRACE_HEADER_BYTES);
    memcpy(header, d == D_MAGIC ? "RSDTRACX" : "RSDTRACE", 8);
    header[8] = d == D_VERSION ? 2 : 1;                 /* version */
    header[12] = DIRTY_TRACE_HEADER_BYTES;              /* header bytes */
    for (int i = 0; i < 8; i++) {
        header[16 + i] = declared >> (8 * i);
        header[24 + i] = (uint64_t)zbytes >> (8 * i);
    }
    {
        uint32_t crc = crc32(0, header, 32);

        for (int i = 0; i < 4; i++) {
            header[32 + i] = crc >> (8 * i);
        }
    }
    if (d == D_HEADER_CRC) {
        header[20] ^= 1;
    }
    if (d == D_STRAY_FILE_BYTES) {
        g_byte_array_append(f, (const guint8 *)"junk", 4);
    }
    if (d == D_BODY_CUT) {
        g_byte_array_set_size(f, f->len - 5);
    }
    if (d == D_HEADER_CUT) {
        g_byte_array_set_size(f, 20);
    }
    if (d == D_EMPTY) {
        g_byte_array_set_size(f, 0);
    }
    return f;
}

static const struct {
    const char *name;
    Defect defect;
    const char *error;          /* a part of the expected message */
} malformed_cases[] = {
    { "empty", D_EMPTY, "truncated: 0 bytes" },
    { "header-cut", D_HEADER_CUT, "truncated: 20 bytes" },
    { "body-cut", D_BODY_CUT, "the trace is truncated" },
    { "bad-magic", D_MAGIC, "not a dirty-page trace" },
    { "wrong-version", D_VERSION, "unsupported trace version 2" },
    { "header-checksum", D_HEADER_CRC, "header is corrupt" },
    { "stray-file-bytes", D_STRAY_FILE_BYTES, "followed by stray bytes" },
    { "body-over-limit", D_BODY_TOO_LARGE, "more than the limit" },
    { "decompression-bomb", D_BOMB, "more than its declared 1024 bytes" },
    { "body-short", D_BODY_SHORT, "the header declares" },
    { "zlib-corrupt", D_ZLIB_CORRUPT, "compressed body is corrupt" },
    { "unknown-flags", D_UNKNOWN_FLAGS, "unknown trace flags 0x81" },
    { "page-size", D_PAGE_SIZE, "page size 8192" },
    { "index-out-of-range", D_INDEX_OUT_OF_RANGE,
      "page index 4 out of range (distinct pages 4)" },
    { "gap-out-of-range", D_GAP_OUT_OF_RANGE, "out of range" },
    { "index-never-written", D_NOT_DENSE, "never written" },
    { "interval-outside-life", D_INTERVAL_OUTSIDE, "not inside" },
    { "varint-overflow", D_VARINT_OVERFLOW, "does not fit 64 bits" },
    { "too-many-intervals", D_TOO_MANY_INTERVALS, "intervals does not fit" },
    { "too-many-processes", D_TOO_MANY_PROCESSES, "processes do not fit" },
    { "page-count-over-distinct", D_PAGE_COUNT_OVER_DISTINCT,
      "interval of 5 pages does not fit" },
    { "stray-body-bytes", D_STRAY_BODY_BYTES, "stray bytes after the last" },
    { "addresses-descending", D_ADDRESSES_DESCENDING, "not strictly ascending" },
};

static void test_valid_file_reads(void)
{
    g_autoptr(GByteArray) f = file_build(D_NONE);
    Error *err = NULL;
    g_autoptr(DirtyTrace) t = dirty_trace_decode(f->data, f->len, &err);
    const DirtyTraceProcess *p;

    g_assert_null(err);
    g_assert_cmpstr(t->program, ==, "demo");
    g_assert_cmpuint(t->process_count, ==, 1);
    p = &t->processes[0];
    g_assert_cmpint(p->pid, ==, 7);
    g_assert_cmpstr(p->comm, ==, "demo");
    g_assert_cmpuint(p->interval_count, ==, 2);
    g_assert_cmpuint(p->intervals[1].pages[0], ==, 1);
    g_assert_cmpuint(p->intervals[1].pages[1], ==, 3);
    g_assert_cmpuint(p->page_addresses[3], ==, 0x4000);
}

static void test_malformed_files_refused(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(malformed_cases); i++) {
        g_autoptr(GByteArray) f = file_build(malformed_cases[i].defect);
        Error *err = NULL;
        DirtyTrace *t = dirty_trace_decode(f->data, f->len, &err);

        if (t || !err || !strstr(error_get_pretty(err),
                                 malformed_cases[i].error)) {
            g_test_message("%s: got '%s', want '%s'", malformed_cases[i].name,
                           err ? error_get_pretty(err) : "(accepted)",
                           malformed_cases[i].error);
            g_test_fail();
        }
        dirty_trace_free(t);
        if (err) {
            error_free(err);
        }
    }
}

/* Every prefix of a valid file is refused, never read past its end. */
static void test_every_truncation_refused(void)
{
    g_autoptr(GByteArray) f = file_build(D_NONE);

    for (guint len = 0; len < f->len; len++) {
        g_autofree uint8_t *copy = g_memdup2(f->data, len);
        Error *err = NULL;

        g_assert_null(dirty_trace_decode(copy, len, &err));
        g_assert_nonnull(err);
        error_free(err);
    }
}

/* ---- Figures ---------------------------------------------------------- */

/*
 * 4 s, eight 500 ms intervals writing {0, 1}, {0, 1}, {0, 2}, {0},
 * {0, 2}, then nothing: 3 distinct pages, 9 page writes; the 1-s windows
 * hold 2, 2, 2 and 0 distinct pages (rates count distinct pages).  Page 0 is written in 3 of the 4 windows: the hot set
 * (more than half).  Page 1 is written twice, in one window; page 2 in
 * two windows, half of them: neither is hot.
 */
static void test_summary_figures(void)
{
    static const uint32_t pages[8][2] = {
        { 0, 1 }, { 0, 1 }, { 0, 2 }, { 0 }, { 0, 2 },
    };
    static const uint32_t counts[8] = { 2, 2, 2, 1, 2, 0, 0, 0 };
    g_autoptr(DirtyTrace) t = g_new0(DirtyTrace, 1);
    DirtyTraceProcess *p;
    DirtyTraceSummary s;
    double mb_per_page = 4096.0 / MiB;

    t->version = DIRTY_TRACE_VERSION;
    t->page_bytes = 4096;
    t->interval_ms = 500;
    t->duration_us = 4000000;
    t->program = g_strdup("figures");
    t->process_count = 1;
    t->processes = p = g_new0(DirtyTraceProcess, 1);
    p->end_us = 4000000;
    p->distinct_pages = 3;
    p->interval_count = 8;
    p->intervals = g_new0(DirtyTraceInterval, 8);
    for (int ii = 0; ii < 8; ii++) {
        p->intervals[ii] = (DirtyTraceInterval) {
            .start_us = ii * 500000, .duration_us = 500000,
            .rss_pages = 10 + ii, .page_count = counts[ii],
            .pages = g_memdup2(pages[ii], counts[ii] * sizeof(uint32_t)),
        };
    }
    g_assert_true(dirty_trace_check(t, NULL));
    dirty_trace_summarize(t, G_USEC_PER_SEC, &s);
    g_assert_cmpuint(s.distinct_pages, ==, 3);
    g_assert_cmpuint(s.written_pages, ==, 9);
    g_assert_cmpuint(s.hot_pages, ==, 1);
    g_assert_cmpuint(s.peak_rss_pages, ==, 17);
    g_assert_cmpfloat_with_epsilon(s.mean_mbps, 6 * mb_per_page / 4, 1e-12);
    g_assert_cmpfloat_with_epsilon(s.peak_mbps, 2 * mb_per_page, 1e-12);
    /* A process that lives through fewer than two windows has no hot
     * set; a trace shorter than a window peaks at its mean. */
    dirty_trace_summarize(t, 4 * G_USEC_PER_SEC, &s);
    g_assert_cmpuint(s.hot_pages, ==, 0);
    dirty_trace_summarize(t, 5 * G_USEC_PER_SEC, &s);
    g_assert_cmpfloat_with_epsilon(s.mean_mbps, 3 * mb_per_page / 4, 1e-12);
    g_assert_cmpfloat_with_epsilon(s.peak_mbps, s.mean_mbps, 1e-12);
    /* A burst: the peak window is the one with the writes. */
    p->intervals[2].page_count = 0;
    p->intervals[3].page_count = 0;
    p->intervals[4].page_count = 0;
    dirty_trace_summarize(t, G_USEC_PER_SEC, &s);
    g_assert_cmpfloat_with_epsilon(s.peak_mbps, 2 * mb_per_page, 1e-12);
    g_assert_cmpfloat_with_epsilon(s.mean_mbps, 2 * mb_per_page / 4, 1e-12);
    /* A trace may claim an enormous duration (found by the fuzzer: the
     * figures once allocated one counter per window of it). */
    p->intervals[2].page_count = counts[2];
    p->intervals[3].page_count = counts[3];
    p->intervals[4].page_count = counts[4];
    t->duration_us = p->end_us = UINT64_MAX / 2;
    g_assert_true(dirty_trace_check(t, NULL));
    dirty_trace_summarize(t, G_USEC_PER_SEC, &s);
    g_assert_cmpfloat_with_epsilon(s.peak_mbps, 2 * mb_per_page, 1e-12);
    /* A process that wrote nothing (found by the fuzzer: the figures
     * once passed a NULL page table to memset under UBSan). */
    for (uint32_t i = 0; i < p->interval_count; i++) {
        p->intervals[i].page_count = 0;
    }
    p->distinct_pages = 0;
    if (dirty_trace_check(t, NULL)) {
        dirty_trace_summarize(t, G_USEC_PER_SEC, &s);
        g_assert_cmpuint(s.hot_pages, ==, 0);
        g_assert_cmpfloat_with_epsilon(s.peak_mbps, 0, 1e-12);
    }
}

/* ---- The traces shipped in traces/ ------------------------------------ */

#define T_SHIPPED_MAX_BYTES     (4u << 20)
#define T_SHIPPED_TOTAL_BYTES   (24u << 20)

/* Each reads back, within the size limits the issue sets. */
static void test_shipped_traces(void)
{
    g_autofree char *dir = g_build_filename(g_test_get_dir(G_TEST_DIST), "..",
                                            "..", "traces", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    uint64_t total_bytes = 0;
    const char *name;
    int count = 0;

    if (!d) {
        g_test_skip("no traces/ directory");
        return;
    }
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(DirtyTrace) t = NULL;
        GStatBuf st;
        Error *err = NULL;

        if (!g_str_has_suffix(name, ".dtrace")) {
            continue;
        }
        g_assert_cmpint(g_stat(path, &st), ==, 0);
        g_assert_cmpuint(st.st_size, <=, T_SHIPPED_MAX_BYTES);
        total_bytes += st.st_size;
        t = dirty_trace_load(path, &err);
        if (!t) {
            g_test_message("%s: %s", name, error_get_pretty(err));
            g_test_fail();
            error_free(err);
            continue;
        }
        g_assert_cmpuint(t->process_count, >, 0);
        count++;
    }
    g_assert_cmpuint(total_bytes, <=, T_SHIPPED_TOTAL_BYTES);
    g_test_message("%d shipped traces, %" PRIu64 " bytes", count, total_bytes);
}

static const TestCase cases[] = {
    { "round-trip-is-exact", test_round_trip },
    { "save-then-load-is-exact", test_save_load },
    { "writer-refuses-an-invalid-trace", test_writer_refuses_invalid },
    { "documented-layout-reads", test_valid_file_reads },
    { "malformed-files-are-refused", test_malformed_files_refused },
    { "every-truncation-is-refused", test_every_truncation_refused },
    { "summary-figures", test_summary_figures },
    { "shipped-traces-read-within-limits", test_shipped_traces },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return test_run_cases(&argc, &argv, "/dirty-trace/", cases);
}
