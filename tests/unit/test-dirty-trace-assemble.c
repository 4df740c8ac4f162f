/*
 * The recorder's back end: raw spool files (tools/dirty-trace/raw.h), as
 * the preloaded library writes them, become a trace.  Records of one
 * interval merge, pages are numbered densely in address order, a record
 * cut short by a dying process is dropped, processes come out in start
 * order, and a process that could not be tracked fails the recording
 * with its reason.
 */
#include "qemu/osdep.h"

#include "assemble.h"
#include "raw.h"

#define T_T0_NS         1000000000ull
#define T_MS_NS         1000000ull

typedef struct Spool {
    char *dir;
    GByteArray *file;
} Spool;

static void spool_header(Spool *s, int pid, int ppid, uint64_t start_ns,
                         DtRawOrigin origin, int status, const char *message)
{
    DtRawHeader h = {
        .version = DT_RAW_VERSION, .page_bytes = 4096, .pid = pid,
        .ppid = ppid, .start_ns = start_ns, .origin = origin,
        .status = status,
    };

    memcpy(h.magic, DT_RAW_MAGIC, sizeof(h.magic));
    snprintf(h.message, sizeof(h.message), "%s", message);
    s->file = g_byte_array_new();
    g_byte_array_append(s->file, (const guint8 *)&h, sizeof(h));
}

/* One record: ranges given as (first page, count) pairs. */
static void spool_record(Spool *s, uint32_t seq, uint64_t start_ns,
                         uint64_t end_ns, const char *comm,
                         const uint64_t *ranges, uint32_t range_count)
{
    DtRawInterval rec = {
        .magic = DT_RAW_INTERVAL_MAGIC, .seq = seq, .start_ns = start_ns,
        .end_ns = end_ns, .rss_pages = 100 + seq, .range_count = range_count,
    };

    snprintf(rec.comm, sizeof(rec.comm), "%s", comm);
    g_byte_array_append(s->file, (const guint8 *)&rec, sizeof(rec));
    g_byte_array_append(s->file, (const guint8 *)ranges,
                        range_count * sizeof(DtRawRange));
}

static void spool_close(Spool *s, const char *name, size_t cut_bytes)
{
    g_autofree char *path = g_build_filename(s->dir, name, NULL);

    g_assert_true(g_file_set_contents(path, (const char *)s->file->data,
                                      s->file->len - cut_bytes, NULL));
    g_byte_array_unref(s->file);
}

static void spool_remove(Spool *s)
{
    g_autoptr(GDir) d = g_dir_open(s->dir, 0, NULL);
    const char *name;

    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(s->dir, name, NULL);

        unlink(path);
    }
    rmdir(s->dir);
    g_free(s->dir);
}

static const DtAssembleOptions opts = {
    .program = "prog --flag", .t0_ns = T_T0_NS,
    .end_ns = T_T0_NS + 500 * T_MS_NS, .interval_ms = 50,
    .keep_addresses = true,
};

static void assert_pages(const DirtyTraceInterval *iv, const uint32_t *want,
                         uint32_t count)
{
    g_assert_cmpuint(iv->page_count, ==, count);
    g_assert_cmpmem(iv->pages, count * sizeof(uint32_t), want,
                    count * sizeof(uint32_t));
}

static void test_assemble(void)
{
    Spool s = { .dir = g_dir_make_tmp("test-assemble-XXXXXX", NULL) };
    static const uint64_t r0a[] = { 100, 2 }, r0b[] = { 200, 1 };
    static const uint64_t r1[] = { 101, 1, 300, 1 }, r_child[] = { 5, 3 };
    static const uint32_t want0[] = { 0, 1, 2 }, want1[] = { 1, 3 };
    static const uint32_t want_child[] = { 0, 1, 2 };
    static const uint64_t addresses[] = { 100, 101, 200, 300 };
    g_autoptr(DirtyTrace) t = NULL;
    const DirtyTraceProcess *parent, *child;
    Error *err = NULL;
    uint64_t t1 = T_T0_NS + 10 * T_MS_NS;

    /* The parent: interval 0 in two records, interval 1, an empty exit
     * interval, and half a record its death cut short. */
    spool_header(&s, 42, 1, t1, DT_RAW_ORIGIN_EXEC, 0, "");
    spool_record(&s, 0, t1, t1 + 20 * T_MS_NS, "old", r0a, 1);
    spool_record(&s, 0, t1, t1 + 50 * T_MS_NS, "prog", r0b, 1);
    spool_record(&s, 1, t1 + 50 * T_MS_NS, t1 + 100 * T_MS_NS, "prog", r1, 2);
    spool_record(&s, 2, t1 + 100 * T_MS_NS, t1 + 120 * T_MS_NS, "prog", NULL,
                 0);
    spool_record(&s, 3, t1 + 120 * T_MS_NS, t1 + 130 * T_MS_NS, "prog", r1, 2);
    spool_close(&s, "42-1.raw", sizeof(DtRawRange) + 3);
    /* A forked child, started later; its file sorts first. */
    spool_header(&s, 43, 42, t1 + 60 * T_MS_NS, DT_RAW_ORIGIN_FORK, 0, "");
    spool_record(&s, 0, t1 + 60 * T_MS_NS, t1 + 70 * T_MS_NS, "child",
                 r_child, 1);
    spool_close(&s, "1-1.raw", 0);

    t = dt_assemble(s.dir, &opts, &err);
    g_assert_null(err);
    g_assert_cmpstr(t->program, ==, "prog --flag");
    g_assert_cmpuint(t->duration_us, ==, 500000);
    g_assert_cmpuint(t->process_count, ==, 2);
    parent = &t->processes[0];
    child = &t->processes[1];
    g_assert_cmpint(parent->pid, ==, 42);
    g_assert_cmpstr(parent->comm, ==, "prog");
    g_assert_cmpuint(parent->start_us, ==, 10000);
    g_assert_cmpuint(parent->interval_count, ==, 3);
    g_assert_cmpuint(parent->distinct_pages, ==, 4);
    g_assert_cmpmem(parent->page_addresses, sizeof(addresses), addresses,
                    sizeof(addresses));
    g_assert_cmpuint(parent->intervals[0].start_us, ==, 10000);
    g_assert_cmpuint(parent->intervals[0].duration_us, ==, 50000);
    g_assert_cmpuint(parent->intervals[1].rss_pages, ==, 101);
    assert_pages(&parent->intervals[0], want0, 3);
    assert_pages(&parent->intervals[1], want1, 2);
    assert_pages(&parent->intervals[2], NULL, 0);
    g_assert_cmpuint(parent->end_us, ==, 130000);
    g_assert_cmpint(child->pid, ==, 43);
    g_assert_cmpint(child->ppid, ==, 42);
    g_assert_cmpuint(child->origin, ==, DIRTY_TRACE_ORIGIN_FORK);
    assert_pages(&child->intervals[0], want_child, 3);
    spool_remove(&s);
}

static void test_untracked_process_fails(void)
{
    Spool s = { .dir = g_dir_make_tmp("test-assemble-XXXXXX", NULL) };
    Error *err = NULL;

    spool_header(&s, 7, 1, T_T0_NS, DT_RAW_ORIGIN_EXEC, -EPERM,
                 "userfaultfd: Operation not permitted");
    spool_close(&s, "7-1.raw", 0);
    g_assert_null(dt_assemble(s.dir, &opts, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "process 7 could not be "
                    "tracked: userfaultfd: Operation not permitted");
    error_free(err);
    spool_remove(&s);
}

static void test_foreign_file_fails(void)
{
    Spool s = { .dir = g_dir_make_tmp("test-assemble-XXXXXX", NULL) };
    Error *err = NULL;

    s.file = g_byte_array_new();
    g_byte_array_append(s.file, (const guint8 *)"not a spool at all", 18);
    spool_close(&s, "9-1.raw", 0);
    g_assert_null(dt_assemble(s.dir, &opts, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "is not the recorder's"));
    error_free(err);
    spool_remove(&s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-trace-assemble/merges-numbers-and-orders",
                    test_assemble);
    g_test_add_func("/dirty-trace-assemble/untracked-process-fails",
                    test_untracked_process_fails);
    g_test_add_func("/dirty-trace-assemble/foreign-file-fails",
                    test_foreign_file_fails);
    return g_test_run();
}
