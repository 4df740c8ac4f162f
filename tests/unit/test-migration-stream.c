/*
 * The migration stream parser refuses every hostile or broken stream
 * with a clear error and never writes outside the RAM it was given:
 * a table of streams, each built by the real encoder and then broken
 * in one way.  Also the URI parser and the vCPU state checks.
 */
#include "qemu/osdep.h"

#include <endian.h>

#include "migration/channel.h"
#include "migration/stream.h"
#include "migration/vmstate.h"

#define T_RAM_BYTES     (16 * MIG_PAGE_BYTES)
#define T_SYSTEM_BYTES  (4 * MIG_PAGE_BYTES)
#define T_CPUS          2
#define T_CPU_BYTES     16
/* Bytes either side of the RAM buffer that must stay untouched. */
#define T_GUARD_BYTES   (2 * MIG_PAGE_BYTES)
#define T_GUARD_BYTE    0xa5
#define T_SEED          20261122u

typedef struct Source {
    uint8_t ram[T_RAM_BYTES];
    uint8_t cpus[T_CPUS][T_CPU_BYTES];
} Source;

/* How a generated stream departs from a good one. */
typedef enum Defect {
    D_NONE,
    D_SKIP_PAGE,            /* page 5 never sent */
    D_CPU_TWICE,            /* cpu 0's state sent twice */
    D_PAGE_AFTER_CPU,       /* a page after the vCPU states */
    D_PAGE_OUT_OF_RANGE,    /* a page at the end of RAM */
    D_PAGE_FAR_AWAY,        /* a page at the largest address a tag holds */
    D_CPU_OUT_OF_RANGE,     /* a state for cpu T_CPUS */
    D_PASS_BACKWARDS,       /* pass 2 after pass 3 */
    D_VERSION_1,            /* a stream from before the run state */
    D_MISSING_CPU,
    D_NO_RUN_STATE,
    D_RUN_STATE_TWICE,
    D_PAGE_AFTER_RUN_STATE,
    D_REZERO_PAGE0,         /* not a defect: page 0 zero again in pass 2 */
} Defect;

static void source_fill(Source *src)
{
    GRand *rand = g_rand_new_with_seed(T_SEED);

    memset(src, 0, sizeof(*src));
    /* Every other page has contents; the rest are zero pages. */
    for (size_t p = 0; p < T_RAM_BYTES / MIG_PAGE_BYTES; p += 2) {
        for (size_t i = 0; i < MIG_PAGE_BYTES; i++) {
            src->ram[p * MIG_PAGE_BYTES + i] = g_rand_int(rand);
        }
    }
    for (int c = 0; c < T_CPUS; c++) {
        memset(src->cpus[c], 0x10 + c, T_CPU_BYTES);
    }
    g_rand_free(rand);
}

static bool append_cb(void *opaque, const void *buf, size_t len,
                      Error **errp)
{
    g_byte_array_append(opaque, buf, len);
    return true;
}

/* The run state record, or its defect. */
static void stream_put_run_state(MigWriter *w, Defect defect)
{
    if (defect == D_NO_RUN_STATE) {
        return;
    }
    g_assert_true(mig_put_run_state(w, MIG_RUN_GUEST_PANICKED, NULL));
    if (defect == D_RUN_STATE_TWICE) {
        g_assert_true(mig_put_run_state(w, MIG_RUN_PAUSED, NULL));
    }
    if (defect == D_PAGE_AFTER_RUN_STATE) {
        g_assert_true(mig_put_zero_page(w, 0, NULL));
    }
}

static GByteArray *stream_build(const Source *src, Defect defect)
{
    GByteArray *out = g_byte_array_new();
    MigWriter w;
    MigStreamHeader h = {
        .magic = MIG_STREAM_MAGIC, .version = MIG_STREAM_VERSION,
        .header_bytes = MIG_STREAM_HEADER_BYTES, .ram_bytes = T_RAM_BYTES,
        .system_bytes = T_SYSTEM_BYTES, .page_bytes = MIG_PAGE_BYTES,
        .cpu_count = T_CPUS, .cpu_state_bytes = T_CPU_BYTES,
    };
    bool zero;

    mig_writer_init(&w, 8 + MIG_PAGE_BYTES, append_cb, out);
    if (defect == D_VERSION_1) {
        h.version = 1;
    }
    g_assert_true(mig_put_header(&w, &h, NULL));
    g_assert_true(mig_put_pass(&w, defect == D_PASS_BACKWARDS ? 3 : 1,
                               NULL));
    for (uint64_t gpa = 0; gpa < T_RAM_BYTES; gpa += MIG_PAGE_BYTES) {
        if (defect == D_SKIP_PAGE && gpa == 5 * MIG_PAGE_BYTES) {
            continue;
        }
        g_assert_true(mig_put_ram_page(&w, gpa, src->ram + gpa, &zero,
                                       NULL));
    }
    g_assert_true(mig_put_pass(&w, 2, NULL));
    if (defect == D_REZERO_PAGE0) {
        g_assert_true(mig_put_zero_page(&w, 0, NULL));
    }
    if (defect == D_PAGE_OUT_OF_RANGE) {
        g_assert_true(mig_put_page(&w, T_RAM_BYTES, src->ram, NULL));
    }
    if (defect == D_PAGE_FAR_AWAY) {
        g_assert_true(mig_put_page(&w, UINT64_MAX & ~(uint64_t)0xfff,
                                   src->ram, NULL));
    }
    for (int c = 0; c < T_CPUS; c++) {
        if (defect == D_MISSING_CPU && c == 1) {
            continue;
        }
        g_assert_true(mig_put_cpu(&w, c, src->cpus[c], T_CPU_BYTES, NULL));
    }
    if (defect == D_CPU_TWICE) {
        g_assert_true(mig_put_cpu(&w, 0, src->cpus[0], T_CPU_BYTES, NULL));
    }
    if (defect == D_CPU_OUT_OF_RANGE) {
        g_assert_true(mig_put_cpu(&w, T_CPUS, src->cpus[0], T_CPU_BYTES,
                                  NULL));
    }
    if (defect == D_PAGE_AFTER_CPU) {
        g_assert_true(mig_put_page(&w, 0, src->ram, NULL));
    }
    stream_put_run_state(&w, defect);
    g_assert_true(mig_put_end(&w, NULL));
    mig_writer_cleanup(&w);
    return out;
}

typedef struct MemReader {
    const uint8_t *data;
    size_t len;
    size_t pos;
} MemReader;

static bool mem_read(void *opaque, void *buf, size_t len, Error **errp)
{
    MemReader *r = opaque;

    if (len > r->len - r->pos) {
        error_setg(errp, "the stream ended early (short read: %zu of %zu "
                   "bytes)", r->len - r->pos, len);
        return false;
    }
    memcpy(buf, r->data + r->pos, len);
    r->pos += len;
    return true;
}

typedef struct Dest {
    uint8_t *mem;               /* guard, RAM, guard */
    uint8_t *ram;
    uint8_t cpus[T_CPUS * T_CPU_BYTES];
    MigRunState run_state;
} Dest;

/* The destination's probe_untouched for load(), NULL: none. */
static bool (*load_probe)(uint64_t first_page, uint64_t n,
                          uint64_t *untouched);

/* Load @data into a fresh destination; returns the error or NULL. */
static char *load(const uint8_t *data, size_t len, Dest *d)
{
    MemReader r = { .data = data, .len = len };
    MigLoadTarget t = {
        .ram_bytes = T_RAM_BYTES, .system_bytes = T_SYSTEM_BYTES,
        .cpu_count = T_CPUS, .cpu_state_bytes = T_CPU_BYTES,
        .probe_untouched = load_probe,
    };
    MigLoadStats stats;
    Error *err = NULL;
    char *msg = NULL;

    d->mem = g_malloc(T_RAM_BYTES + 2 * T_GUARD_BYTES);
    memset(d->mem, T_GUARD_BYTE, T_RAM_BYTES + 2 * T_GUARD_BYTES);
    d->ram = d->mem + T_GUARD_BYTES;
    memset(d->ram, 0x77, T_RAM_BYTES);  /* stale contents to overwrite */
    t.ram = d->ram;
    t.cpu_states = d->cpus;
    if (!mig_stream_load(mem_read, &r, &t, &stats, NULL, &err)) {
        msg = g_strdup(error_get_pretty(err));
        error_free(err);
    }
    d->run_state = stats.run_state;
    /* Whatever the stream said, nothing outside RAM changed. */
    for (size_t i = 0; i < T_GUARD_BYTES; i++) {
        g_assert_cmpuint(d->mem[i], ==, T_GUARD_BYTE);
        g_assert_cmpuint(d->mem[T_GUARD_BYTES + T_RAM_BYTES + i], ==,
                         T_GUARD_BYTE);
    }
    return msg;
}

static void test_good_stream_loads_exactly(void)
{
    Source src;
    Dest d;
    g_autoptr(GByteArray) s = NULL;
    char *err;

    source_fill(&src);
    s = stream_build(&src, D_NONE);
    err = load(s->data, s->len, &d);
    g_assert_null(err);
    g_assert_cmpmem(d.ram, T_RAM_BYTES, src.ram, T_RAM_BYTES);
    g_assert_cmpmem(d.cpus, sizeof(d.cpus), src.cpus, sizeof(src.cpus));
    g_assert_cmpint(d.run_state, ==, MIG_RUN_GUEST_PANICKED);
    g_free(d.mem);
}

/* A probe that calls every page never backed: a lie, to see it obeyed. */
static bool probe_all_untouched(uint64_t first_page, uint64_t n,
                                uint64_t *untouched)
{
    memset(untouched, 0xff, DIV_ROUND_UP(n, 64) * sizeof(uint64_t));
    return true;
}

static void test_probe_skips_only_pages_not_loaded_before(void)
{
    const uint8_t stale[MIG_PAGE_BYTES] = { [0 ... MIG_PAGE_BYTES - 1] = 0x77 };
    const uint8_t zero[MIG_PAGE_BYTES] = { 0 };
    Source src;
    Dest d;
    g_autoptr(GByteArray) s = NULL;
    char *err;

    source_fill(&src);
    s = stream_build(&src, D_REZERO_PAGE0);
    load_probe = probe_all_untouched;
    err = load(s->data, s->len, &d);
    load_probe = NULL;
    g_assert_null(err);
    for (size_t p = 0; p < T_RAM_BYTES / MIG_PAGE_BYTES; p++) {
        const uint8_t *got = d.ram + p * MIG_PAGE_BYTES;

        if (p == 0) {
            /* Loaded in pass 1: its zero record is not the probe's. */
            g_assert_cmpmem(got, MIG_PAGE_BYTES, zero, MIG_PAGE_BYTES);
        } else if (p % 2) {
            /* A zero record, the probe says never backed: untouched. */
            g_assert_cmpmem(got, MIG_PAGE_BYTES, stale, MIG_PAGE_BYTES);
        } else {
            g_assert_cmpmem(got, MIG_PAGE_BYTES,
                            src.ram + p * MIG_PAGE_BYTES, MIG_PAGE_BYTES);
        }
    }
    g_free(d.mem);
}

/* Streams the encoder builds with one defect, valid checksum and all. */
static const struct {
    const char *name;
    Defect defect;
    const char *error;
} defect_cases[] = {
    { "a page never sent", D_SKIP_PAGE, "1 pages of guest RAM never sent" },
    { "a vCPU state twice", D_CPU_TWICE, "second vCPU state for cpu 0" },
    { "a vCPU state missing", D_MISSING_CPU, "with 1 of 2 vCPU states" },
    { "a page after the vCPUs", D_PAGE_AFTER_CPU, "after the device state" },
    { "a page just past RAM", D_PAGE_OUT_OF_RANGE, "is outside guest RAM" },
    { "a page at the top of the address space", D_PAGE_FAR_AWAY,
      "is outside guest RAM" },
    { "a vCPU that does not exist", D_CPU_OUT_OF_RANGE,
      "this VM has 2 vCPUs" },
    { "passes out of order", D_PASS_BACKWARDS, "out of order" },
    { "a version 1 stream (no run state)", D_VERSION_1,
      "unsupported migration stream version 1" },
    { "no run state", D_NO_RUN_STATE, "without the source's run state" },
    { "a run state twice", D_RUN_STATE_TWICE, "second run state record" },
    { "a page after the run state", D_PAGE_AFTER_RUN_STATE,
      "after the device state" },
};

static void test_defective_streams_are_refused(void)
{
    Source src;

    source_fill(&src);
    for (size_t i = 0; i < G_N_ELEMENTS(defect_cases); i++) {
        g_autoptr(GByteArray) s = stream_build(&src, defect_cases[i].defect);
        Dest d;
        char *err = load(s->data, s->len, &d);

        if (!err || !strstr(err, defect_cases[i].error)) {
            g_test_message("%s: got '%s', want '%s'", defect_cases[i].name,
                           err ? err : "(accepted)", defect_cases[i].error);
            g_test_fail();
        }
        g_free(err);
        g_free(d.mem);
    }
}

/* Byte surgery on a good stream: offset (negative: from the end). */
typedef enum Patch {
    P_TRUNCATE,     /* keep @offset bytes */
    P_XOR_BYTE,     /* flip bits of the byte at @offset */
    P_SET_U64,      /* store @value at @offset */
    P_SET_U32,
} Patch;

static const struct {
    const char *name;
    Patch patch;
    long offset;
    uint64_t value;
    const char *error;
} patch_cases[] = {
    { "an empty stream", P_TRUNCATE, 0, 0, "ended early" },
    { "half a header", P_TRUNCATE, 20, 0, "ended early" },
    { "a header and nothing", P_TRUNCATE, 48, 0, "ended early" },
    { "half a record tag", P_TRUNCATE, 52, 0, "ended early" },
    { "half a page", P_TRUNCATE, 48 + 8 + 8 + 100, 0, "ended early" },
    { "no checksum", P_TRUNCATE, -8, 0, "reading the checksum" },
    { "half a checksum", P_TRUNCATE, -4, 0, "reading the checksum" },
    { "bad magic", P_XOR_BYTE, 0, 0x01, "not a restraint migration" },
    { "version 0", P_SET_U32, 8, 0, "unsupported migration stream version" },
    { "a longer header", P_SET_U32, 12, 56, "bad stream header size" },
    { "another RAM size", P_SET_U64, 16, 2 * T_RAM_BYTES,
      "does not match this VM's" },
    { "another system area", P_SET_U64, 24, 0, "system area" },
    { "2 MiB pages", P_SET_U32, 32, 2 << 20, "page size" },
    { "one vCPU too many", P_SET_U32, 36, 3, "stream has 3 vCPUs" },
    { "another vCPU state size", P_SET_U32, 40, 8, "vCPU state is 8" },
    { "header flags", P_SET_U32, 44, 1, "unknown stream header flags" },
    { "reserved tag bits", P_SET_U64, 48, 0x103, "reserved flag bits" },
    { "an unknown record", P_SET_U64, 48, 0x07, "unknown record type" },
    { "a page address past RAM", P_SET_U64, 56,
      ((uint64_t)T_RAM_BYTES << 0) | MIG_REC_PAGE,
      "is outside guest RAM" },
    { "a flipped byte in a page", P_XOR_BYTE, 48 + 8 + 8 + 77, 0x40,
      "checksum mismatch" },
    { "a flipped checksum", P_XOR_BYTE, -1, 0x80, "checksum mismatch" },
    { "an end record with a value", P_SET_U64, -16, 0x100f,
      "nonzero value" },
    /* The run state record is the last before END (-16) and its sum. */
    { "run state 0", P_SET_U64, -24, MIG_REC_RUN_STATE, "unknown run state 0" },
    { "a run state past the last", P_SET_U64, -24,
      (uint64_t)(MIG_RUN_MAX + 1) << MIG_TAG_VALUE_SHIFT | MIG_REC_RUN_STATE,
      "unknown run state 5" },
};

static void test_broken_streams_are_refused(void)
{
    Source src;
    g_autoptr(GByteArray) good = NULL;

    source_fill(&src);
    good = stream_build(&src, D_NONE);
    for (size_t i = 0; i < G_N_ELEMENTS(patch_cases); i++) {
        g_autofree uint8_t *s = g_memdup2(good->data, good->len);
        size_t len = good->len;
        long rel = patch_cases[i].offset;
        size_t off = rel < 0 ? len + rel : (size_t)rel;
        uint64_t v64 = patch_cases[i].value;
        uint32_t v32 = patch_cases[i].value;
        Dest d;
        char *err;

        switch (patch_cases[i].patch) {
        case P_TRUNCATE:
            len = off;
            break;
        case P_XOR_BYTE:
            s[off] ^= (uint8_t)patch_cases[i].value;
            break;
        case P_SET_U64:
            memcpy(s + off, &v64, sizeof(v64));
            break;
        case P_SET_U32:
            memcpy(s + off, &v32, sizeof(v32));
            break;
        }
        err = load(s, len, &d);
        if (!err || !strstr(err, patch_cases[i].error)) {
            g_test_message("%s: got '%s', want '%s'", patch_cases[i].name,
                           err ? err : "(accepted)", patch_cases[i].error);
            g_test_fail();
        }
        g_free(err);
        g_free(d.mem);
    }
}

static void test_random_bytes_are_refused(void)
{
    GRand *rand = g_rand_new_with_seed(T_SEED);

    for (int round = 0; round < 200; round++) {
        size_t len = g_rand_int_range(rand, 0, 3 * MIG_PAGE_BYTES);
        g_autofree uint8_t *s = g_malloc(len + 1);
        Dest d;
        char *err;

        for (size_t i = 0; i < len; i++) {
            s[i] = g_rand_int(rand);
        }
        /* Half the rounds start with a valid header: go deeper. */
        if (round % 2 && len >= MIG_STREAM_HEADER_BYTES) {
            MigStreamHeader h = {
                .magic = MIG_STREAM_MAGIC, .version = MIG_STREAM_VERSION,
                .header_bytes = MIG_STREAM_HEADER_BYTES,
                .ram_bytes = T_RAM_BYTES, .system_bytes = T_SYSTEM_BYTES,
                .page_bytes = MIG_PAGE_BYTES, .cpu_count = T_CPUS,
                .cpu_state_bytes = T_CPU_BYTES,
            };
            mig_header_encode(&h, s);
        }
        err = load(s, len, &d);
        g_assert_nonnull(err);
        g_free(err);
        g_free(d.mem);
    }
    g_rand_free(rand);
}

static void test_checksum_sees_order_and_length(void)
{
    uint64_t words[4] = { 1, 2, 3, 4 };
    uint64_t swapped[4] = { 2, 1, 3, 4 };
    uint64_t longer[5] = { 1, 2, 3, 4, 0 };
    MigChecksum a, b, c, split;

    mig_checksum_init(&a);
    mig_checksum_update(&a, words, sizeof(words));
    mig_checksum_init(&b);
    mig_checksum_update(&b, swapped, sizeof(swapped));
    mig_checksum_init(&c);
    mig_checksum_update(&c, longer, sizeof(longer));
    mig_checksum_init(&split);
    mig_checksum_update(&split, words, 8);
    mig_checksum_update(&split, words + 1, 24);
    g_assert_cmphex(mig_checksum_final(&a), !=, mig_checksum_final(&b));
    g_assert_cmphex(mig_checksum_final(&a), !=, mig_checksum_final(&c));
    g_assert_cmphex(mig_checksum_final(&a), ==, mig_checksum_final(&split));
}

/* A refusal read back after its tag: the reason, cut and made printable;
 * a hostile length is refused before anything is allocated. */
static void test_refusals_round_trip_cut_and_sanitised(void)
{
    g_autofree char *long_reason = g_strnfill(MIG_REFUSAL_MAX_BYTES + 100,
                                              'x');
    static const struct {
        const char *reason;
        const char *want;
        size_t wire_bytes;
    } cases[] = {
        { "stream has 2 vCPUs, this VM has 3",
          "stream has 2 vCPUs, this VM has 3", 16 + 40 },
        { "", "", 16 },
        { "tab\there\nnewline", "tab?here?newline", 16 + 16 },
    };

    for (size_t i = 0; i <= G_N_ELEMENTS(cases); i++) {
        const char *reason = i < G_N_ELEMENTS(cases) ? cases[i].reason
                                                     : long_reason;
        uint8_t wire[MIG_REFUSAL_WIRE_MAX_BYTES];
        size_t n = mig_refusal_encode(reason, wire);
        MemReader r = { .data = wire + 8, .len = n - 8 };
        g_autofree char *got = NULL;
        uint64_t tag;

        memcpy(&tag, wire, sizeof(tag));
        g_assert_cmphex(le64toh(tag), ==, MIG_ACK_REFUSED);
        g_assert_cmpuint(n % 8, ==, 0);
        g_assert_true(mig_refusal_read(mem_read, &r, &got, NULL));
        g_assert_cmpuint(r.pos, ==, r.len);
        if (i < G_N_ELEMENTS(cases)) {
            g_assert_cmpuint(n, ==, cases[i].wire_bytes);
            g_assert_cmpstr(got, ==, cases[i].want);
        } else {
            g_assert_cmpuint(n, ==, MIG_REFUSAL_WIRE_MAX_BYTES);
            g_assert_cmpuint(strlen(got), ==, MIG_REFUSAL_MAX_BYTES);
        }
    }
}

static void test_a_refusal_with_a_hostile_length_is_refused(void)
{
    uint64_t words[2] = { htole64(UINT64_MAX), 0 };
    MemReader r = { .data = (const uint8_t *)words, .len = sizeof(words) };
    char *got = NULL;
    Error *err = NULL;

    g_assert_false(mig_refusal_read(mem_read, &r, &got, &err));
    g_assert_null(got);
    g_assert_nonnull(strstr(error_get_pretty(err), "at most 1024"));
    error_free(err);
}

static const struct {
    const char *uri;
    bool ok;
    MigrationUriKind kind;
    const char *host, *port, *path;
} uri_cases[] = {
    { "tcp:127.0.0.1:4444", true, MIGRATION_URI_TCP, "127.0.0.1", "4444" },
    { "tcp::4444", true, MIGRATION_URI_TCP, "", "4444" },
    { "tcp:[::1]:4444", true, MIGRATION_URI_TCP, "::1", "4444" },
    { "tcp:localhost:0", false },
    { "tcp:localhost:65536", false },
    { "tcp:localhost", false },
    { "tcp:localhost:12ab", false },
    { "unix:/tmp/mig.sock", true, MIGRATION_URI_UNIX, NULL, NULL,
      "/tmp/mig.sock" },
    { "unix:", false },
    /* exec: and fd: (a getfd name, or an inherited descriptor). */
    { "exec:cat > /tmp/saved", true, MIGRATION_URI_EXEC, NULL, NULL,
      "cat > /tmp/saved" },
    { "exec:", false },
    { "fd:migrate", true, MIGRATION_URI_FD, NULL, NULL, "migrate" },
    { "fd:3", true, MIGRATION_URI_FD, NULL, NULL, "3" },
    { "fd:", false },
    { "", false },
};

static void test_uris_parse_or_are_refused(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(uri_cases); i++) {
        MigrationUri u;
        Error *err = NULL;
        bool ok = migration_uri_parse(uri_cases[i].uri, &u, &err);

        g_assert_cmpint(ok, ==, uri_cases[i].ok);
        if (!ok) {
            g_assert_nonnull(err);
            error_free(err);
            continue;
        }
        g_assert_cmpint(u.kind, ==, uri_cases[i].kind);
        g_assert_cmpstr(u.host, ==, uri_cases[i].host);
        g_assert_cmpstr(u.port, ==, uri_cases[i].port);
        g_assert_cmpstr(u.path, ==, uri_cases[i].path);
        migration_uri_clear(&u);
    }
}

static void good_cpu_state(KVMCPUState *s)
{
    memset(s, 0, sizeof(*s));
    s->regs.rip = 0x200000;
    s->regs.rsp = 0x810000;
    s->sregs.cr0 = 0x80050033;
    s->sregs.cr3 = 0x1000;
    s->sregs.cr4 = 0x10620;
    s->sregs.efer = 0xd01;
    s->sregs.cs.l = 1;
    s->sregs.cs.dpl = 3;
    s->sregs.ss.dpl = 3;
    s->tsc = 123456789;
}


static void spoil_efer(KVMCPUState *s) { s->sregs.efer = 0; }
static void spoil_cpl(KVMCPUState *s) { s->sregs.cs.dpl = 0; }
static void spoil_cr3(KVMCPUState *s) { s->sregs.cr3 = 1ull << 40; }
static void spoil_rip(KVMCPUState *s) { s->regs.rip = 1ull << 63; }
static void spoil_irq(KVMCPUState *s) { s->sregs.interrupt_bitmap[0] = 1; }

static const struct {
    const char *name;
    void (*spoil)(KVMCPUState *s);
    const char *error;
} cpu_spoil_cases[] = {
    { "not in long mode", spoil_efer, "not in 64-bit paged mode" },
    { "in kernel mode", spoil_cpl, "not 64-bit user mode" },
    { "page tables outside RAM", spoil_cr3, "outside guest RAM" },
    { "rip in the upper half", spoil_rip, "instruction pointer" },
    { "a pending interrupt", spoil_irq, "pending interrupt" },
};

static void test_vcpu_states_are_checked(void)
{
    uint8_t buf[VMSTATE_CPU_BYTES];
    KVMCPUState s, out;
    Error *err = NULL;

    good_cpu_state(&s);
    vmstate_cpu_encode(&s, buf);
    g_assert_true(vmstate_cpu_decode(buf, sizeof(buf), 64 * MiB, &out,
                                     NULL));
    g_assert_cmpmem(&out, sizeof(out), &s, sizeof(s));
    g_assert_false(vmstate_cpu_decode(buf, sizeof(buf) - 8, 64 * MiB, &out,
                                      &err));
    error_free(err);
    err = NULL;
    buf[0] = 9;     /* version 9 */
    g_assert_false(vmstate_cpu_decode(buf, sizeof(buf), 64 * MiB, &out,
                                      &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "version 9"));
    error_free(err);
    for (size_t i = 0; i < G_N_ELEMENTS(cpu_spoil_cases); i++) {
        err = NULL;
        good_cpu_state(&s);
        cpu_spoil_cases[i].spoil(&s);
        vmstate_cpu_encode(&s, buf);
        g_assert_false(vmstate_cpu_decode(buf, sizeof(buf), 64 * MiB, &out,
                                          &err));
        g_assert_nonnull(strstr(error_get_pretty(err),
                                cpu_spoil_cases[i].error));
        error_free(err);
    }
}

/*
 * The record table (what the exec:/fd: relay forwards) walks a stream
 * the encoder wrote record by record and ends exactly at its checksum,
 * and it knows the same types as the loader: a relay built on it
 * cannot fall behind a new record type.
 */
static void test_record_table_walks_the_stream(void)
{
    Source src;
    g_autoptr(GByteArray) s = NULL;
    MigStreamHeader h;
    size_t off = MIG_STREAM_HEADER_BYTES, payload_bytes;
    unsigned records = 0;
    uint64_t tag;

    source_fill(&src);
    s = stream_build(&src, D_NONE);
    mig_header_decode(s->data, &h);
    do {
        g_assert_cmpuint(off + 8, <=, s->len);
        memcpy(&tag, s->data + off, sizeof(tag));
        tag = le64toh(tag);
        g_assert_true(mig_record_payload_bytes(&h, tag, &payload_bytes,
                                               NULL));
        off += 8 + payload_bytes;
        records++;
    } while ((tag & MIG_TAG_TYPE_MASK) != MIG_REC_END);
    g_assert_cmpuint(off, ==, s->len);
    /* pass, 16 pages, pass, 2 vCPUs, run state, end */
    g_assert_cmpuint(records, ==, 1 + 16 + 1 + T_CPUS + 1 + 1);

    for (unsigned type = 0; type <= MIG_TAG_TYPE_MASK; type++) {
        Error *err = NULL;
        bool known = mig_record_payload_bytes(&h, type, &payload_bytes,
                                              &err);

        g_assert_cmpint(known, ==, type == MIG_REC_ZERO ||
                        type == MIG_REC_PAGE || type == MIG_REC_PASS ||
                        type == MIG_REC_CPU || type == MIG_REC_RUN_STATE ||
                        type == MIG_REC_END);
        if (!known) {
            g_assert_nonnull(strstr(error_get_pretty(err),
                                    "unknown record type"));
            error_free(err);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/stream/good-stream-loads-exactly",
                    test_good_stream_loads_exactly);
    g_test_add_func("/migration/stream/probe-skips-only-pages-not-loaded-"
                    "before", test_probe_skips_only_pages_not_loaded_before);
    g_test_add_func("/migration/stream/defective-streams-are-refused",
                    test_defective_streams_are_refused);
    g_test_add_func("/migration/stream/broken-streams-are-refused",
                    test_broken_streams_are_refused);
    g_test_add_func("/migration/stream/random-bytes-are-refused",
                    test_random_bytes_are_refused);
    g_test_add_func("/migration/stream/checksum-sees-order-and-length",
                    test_checksum_sees_order_and_length);
    g_test_add_func("/migration/stream/record-table-walks-the-stream",
                    test_record_table_walks_the_stream);
    g_test_add_func("/migration/return-path/refusals-round-trip-cut-and-"
                    "sanitised",
                    test_refusals_round_trip_cut_and_sanitised);
    g_test_add_func("/migration/return-path/a-refusal-with-a-hostile-length-"
                    "is-refused",
                    test_a_refusal_with_a_hostile_length_is_refused);
    g_test_add_func("/migration/channel/uris-parse-or-are-refused",
                    test_uris_parse_or_are_refused);
    g_test_add_func("/migration/vmstate/vcpu-states-are-checked",
                    test_vcpu_states_are_checked);
    return g_test_run();
}
