/*
 * libFuzzer target: the dirty-page trace reader (tools/dirty-trace).
 * Any input is refused with an error or accepted as a trace that passes
 * dirty_trace_check(); never a crash, an out-of-bounds access or an
 * allocation beyond what the input's declared sizes allow.
 *
 * The first byte is a control byte: odd, the rest is a body that the
 * target compresses and wraps in a valid header itself, so mutations
 * reach the body parser instead of dying in zlib's checksum; even, the
 * rest is a whole file.
 *
 * Build and run: scripts/run-fuzz-dirty-trace [SECONDS].  Seeds (a valid
 * file, and a valid body): run the target once with -seed_trace=DIR.
 */
#include "qemu/osdep.h"

#include "trace.h"
#include "trace-codec.h"

#define FUZZ_WRAP_BODY 0x01

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* dir/seed-file: control byte 0 + the file; dir/seed-body: 1 + body. */
static bool fuzz_write_seeds(const DirtyTrace *t, const char *dir,
                             Error **errp)
{
    g_autoptr(GByteArray) file = g_byte_array_new();
    g_autofree char *file_path = g_build_filename(dir, "seed-file", NULL);
    g_autofree char *body_path = g_build_filename(dir, "seed-body", NULL);
    uint8_t control = 0;
    uLongf body_bytes;
    g_autofree uint8_t *body = NULL;

    g_byte_array_append(file, &control, 1);
    if (!dirty_trace_encode(t, file, errp)) {
        return false;
    }
    body_bytes = dt_le64_load(file->data + 1 + DT_HDR_BODY_BYTES);
    body = g_malloc(body_bytes + 1);
    body[0] = FUZZ_WRAP_BODY;
    if (uncompress(body + 1, &body_bytes,
                   file->data + 1 + DIRTY_TRACE_HEADER_BYTES,
                   file->len - 1 - DIRTY_TRACE_HEADER_BYTES) != Z_OK ||
        !g_file_set_contents(file_path, (char *)file->data, file->len, NULL) ||
        !g_file_set_contents(body_path, (char *)body, body_bytes + 1, NULL)) {
        error_setg(errp, "cannot write the seeds in %s", dir);
        return false;
    }
    return true;
}

/* A small valid trace with addresses: two processes, dense pages. */
static void fuzz_write_seed(const char *dir)
{
    static const uint32_t pages_a[] = { 0, 2, 5 }, pages_b[] = { 1, 3, 4 };
    DirtyTraceInterval iv[2] = {
        { .start_us = 0, .duration_us = 50000, .rss_pages = 99,
          .page_count = 3, .pages = g_memdup2(pages_a, sizeof(pages_a)) },
        { .start_us = 50000, .duration_us = 50000, .rss_pages = 120,
          .page_count = 3, .pages = g_memdup2(pages_b, sizeof(pages_b)) },
    };
    DirtyTraceProcess p = {
        .pid = 10, .ppid = 1, .comm = "seed", .start_us = 0,
        .end_us = 100000, .distinct_pages = 6, .interval_count = 2,
        .intervals = iv,
        .page_addresses = g_new(uint64_t, 6),
    };
    DirtyTrace t = {
        .version = DIRTY_TRACE_VERSION, .flags = DIRTY_TRACE_F_ADDRESSES,
        .page_bytes = 4096, .interval_ms = 50, .duration_us = 100000,
        .program = (char *)"seed", .process_count = 1, .processes = &p,
    };
    Error *err = NULL;

    for (int i = 0; i < 6; i++) {
        p.page_addresses[i] = 0x1000 + i * 7;
    }
    if (!fuzz_write_seeds(&t, dir, &err)) {
        error_report_err(err);
        exit(1);
    }
    g_free(iv[0].pages);
    g_free(iv[1].pages);
    g_free(p.page_addresses);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 1; i < *argc; i++) {
        if (g_str_has_prefix((*argv)[i], "-seed_trace=")) {
            fuzz_write_seed((*argv)[i] + strlen("-seed_trace="));
            exit(0);
        }
    }
    return 0;
}

/* A valid header and zlib stream around body. */
static GByteArray *fuzz_wrap_body(const uint8_t *body, size_t len)
{
    GByteArray *file = g_byte_array_new();
    uLongf zbytes = compressBound(len);

    g_byte_array_set_size(file, DIRTY_TRACE_HEADER_BYTES + zbytes);
    if (compress2(file->data + DIRTY_TRACE_HEADER_BYTES, &zbytes, body, len,
                  Z_BEST_SPEED) != Z_OK) {
        abort();
    }
    g_byte_array_set_size(file, DIRTY_TRACE_HEADER_BYTES + zbytes);
    dt_header_build(file->data, len, zbytes);
    return file;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GByteArray) wrapped = NULL;
    Error *err = NULL;
    DirtyTrace *t;

    if (size == 0) {
        return 0;
    }
    if (data[0] & FUZZ_WRAP_BODY) {
        wrapped = fuzz_wrap_body(data + 1, size - 1);
        t = dirty_trace_decode(wrapped->data, wrapped->len, &err);
    } else {
        t = dirty_trace_decode(data + 1, size - 1, &err);
    }
    if (t) {
        DirtyTraceSummary s;

        assert(!err);
        /* What the reader accepts, the writer and the figures take. */
        assert(dirty_trace_check(t, NULL));
        dirty_trace_summarize(t, G_USEC_PER_SEC, &s);
        dirty_trace_free(t);
    } else {
        assert(err && error_get_pretty(err)[0]);
        error_free(err);
    }
    return 0;
}
