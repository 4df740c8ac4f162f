/*
 * libFuzzer target: the incoming migration stream parser, and the
 * source's reader of a destination's refusal (the same input read as
 * one).  Any input must be refused with an error or accepted, never
 * crash, never read or write outside the buffers it was given (ASan
 * guards them exactly).
 *
 * Build and run (clang, no KVM needed):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 \
 *     -D_GNU_SOURCE -Iinclude -I. $(pkg-config --cflags glib-2.0) \
 *     tests/fuzz/fuzz-migration-stream.c migration/stream.c util/error.c \
 *     $(pkg-config --libs glib-2.0) -o /tmp/fuzz-migration-stream
 *   /tmp/fuzz-migration-stream -max_total_time=60 CORPUS_DIR
 * A good stream to seed the corpus: run it once with -seed_stream=FILE.
 */
#include "qemu/osdep.h"

#include "migration/stream.h"

/* A tiny VM, so that valid streams are short enough to find. */
#define FUZZ_RAM_BYTES      (4 * MIG_PAGE_BYTES)
#define FUZZ_SYSTEM_BYTES   (1 * MIG_PAGE_BYTES)
#define FUZZ_CPUS           2
#define FUZZ_CPU_BYTES      16

typedef struct FuzzReader {
    const uint8_t *data;
    size_t len;
    size_t pos;
} FuzzReader;

static bool fuzz_read(void *opaque, void *buf, size_t len, Error **errp)
{
    FuzzReader *r = opaque;

    if (len > r->len - r->pos) {
        error_setg(errp, "the stream ended early");
        return false;
    }
    memcpy(buf, r->data + r->pos, len);
    r->pos += len;
    return true;
}

/* The input as a refusal after its tag: a short printable reason. */
static void fuzz_refusal(const uint8_t *data, size_t size)
{
    FuzzReader r = { .data = data, .len = size };
    char *reason = NULL;
    Error *err = NULL;

    if (!mig_refusal_read(fuzz_read, &r, &reason, &err)) {
        assert(err && !reason);
        error_free(err);
        return;
    }
    assert(strlen(reason) <= MIG_REFUSAL_MAX_BYTES);
    for (const char *c = reason; *c; c++) {
        assert(*c >= 0x20 && *c <= 0x7e);
    }
    g_free(reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzReader r = { .data = data, .len = size };
    uint8_t *ram = malloc(FUZZ_RAM_BYTES);
    uint8_t *cpus = malloc(FUZZ_CPUS * FUZZ_CPU_BYTES);
    MigLoadTarget t = {
        .ram_bytes = FUZZ_RAM_BYTES, .system_bytes = FUZZ_SYSTEM_BYTES,
        .cpu_count = FUZZ_CPUS, .cpu_state_bytes = FUZZ_CPU_BYTES,
        .ram = ram, .cpu_states = cpus,
    };
    MigLoadStats stats;
    Error *err = NULL;

    memset(ram, 0, FUZZ_RAM_BYTES);
    if (!mig_stream_load(fuzz_read, &r, &t, &stats, NULL, &err)) {
        assert(err && error_get_pretty(err)[0]);
        error_free(err);
    }
    assert(stats.bytes <= size);
    free(ram);
    free(cpus);
    fuzz_refusal(data, size);
    return 0;
}

/* A valid stream for this target, as the seed of a corpus. */
static bool seed_write(void *opaque, const void *buf, size_t len,
                       Error **errp)
{
    return fwrite(buf, 1, len, opaque) == len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static uint8_t page[MIG_PAGE_BYTES], zero_page[MIG_PAGE_BYTES];
    static uint8_t cpu[FUZZ_CPU_BYTES];
    MigStreamHeader h = {
        .magic = MIG_STREAM_MAGIC, .version = MIG_STREAM_VERSION,
        .header_bytes = MIG_STREAM_HEADER_BYTES, .ram_bytes = FUZZ_RAM_BYTES,
        .system_bytes = FUZZ_SYSTEM_BYTES, .page_bytes = MIG_PAGE_BYTES,
        .cpu_count = FUZZ_CPUS, .cpu_state_bytes = FUZZ_CPU_BYTES,
    };
    const char *path = NULL;
    MigWriter w;
    bool zero;
    FILE *f;

    for (int i = 1; i < *argc; i++) {
        if (g_str_has_prefix((*argv)[i], "-seed_stream=")) {
            path = (*argv)[i] + strlen("-seed_stream=");
        }
    }
    if (!path || !(f = fopen(path, "wb"))) {
        return 0;
    }
    memset(page, 0x5a, sizeof(page));
    mig_writer_init(&w, 8 + MIG_PAGE_BYTES, seed_write, f);
    mig_put_header(&w, &h, NULL);
    mig_put_pass(&w, 1, NULL);
    for (uint64_t gpa = 0; gpa < FUZZ_RAM_BYTES; gpa += MIG_PAGE_BYTES) {
        mig_put_ram_page(&w, gpa, gpa % (2 * MIG_PAGE_BYTES) ? zero_page : page,
                         &zero, NULL);
    }
    for (int c = 0; c < FUZZ_CPUS; c++) {
        mig_put_cpu(&w, c, cpu, sizeof(cpu), NULL);
    }
    mig_put_run_state(&w, MIG_RUN_PAUSED, NULL);
    mig_put_end(&w, NULL);
    mig_writer_cleanup(&w);
    fclose(f);
    exit(0);
}
