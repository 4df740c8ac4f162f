/*
 * The migration stream, version 2: checksum, encoder and parser.
 *
 * Pure code over bytes (see include/migration/stream.h): the migration
 * thread, the incoming thread, the unit tests and the fuzzer all use it
 * through callbacks.  The parser's rule: read a record's tag, check it
 * against the target and the records seen so far, and only then move
 * its payload, and only into the target's own buffers.
 */
#include "qemu/osdep.h"

#include <endian.h>

#include "migration/stream.h"

/* Odd 64-bit multipliers with well-spread bits for the checksum lanes. */
#define MIG_CK_MUL_A UINT64_C(0x9e3779b97f4a7c15)
#define MIG_CK_MUL_B UINT64_C(0xbf58476d1ce4e5b9)
#define MIG_CK_MUL_C UINT64_C(0x94d049bb133111eb)
/* Lane rotation: moves each product's high bits down before the next. */
#define MIG_CK_ROTATE 31

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t load_le64(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

static inline void store_le64(void *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof(v));
}

static inline uint32_t load_le32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static inline void store_le32(void *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof(v));
}

/* ---- checksum -------------------------------------------------------- */

void mig_checksum_init(MigChecksum *c)
{
    c->lane[0] = MIG_CK_MUL_A;
    c->lane[1] = MIG_CK_MUL_B;
    c->lane[2] = MIG_CK_MUL_C;
    c->lane[3] = MIG_CK_MUL_A ^ MIG_CK_MUL_B;
    c->words = 0;
}

static inline uint64_t mig_checksum_round(uint64_t lane, uint64_t word)
{
    lane += word * MIG_CK_MUL_B;
    lane = rotl64(lane, MIG_CK_ROTATE);
    return lane * MIG_CK_MUL_A;
}

void mig_checksum_update(MigChecksum *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t words = len / 8;
    size_t i = 0;

    assert(len % 8 == 0);
    /* Word n of the stream always goes to lane n % 4. */
    while (i < words && c->words % 4 != 0) {
        c->lane[c->words % 4] = mig_checksum_round(c->lane[c->words % 4],
                                                   load_le64(p + 8 * i));
        c->words++;
        i++;
    }
    for (; i + 4 <= words; i += 4) {
        c->lane[0] = mig_checksum_round(c->lane[0], load_le64(p + 8 * i));
        c->lane[1] = mig_checksum_round(c->lane[1], load_le64(p + 8 * i + 8));
        c->lane[2] = mig_checksum_round(c->lane[2],
                                        load_le64(p + 8 * i + 16));
        c->lane[3] = mig_checksum_round(c->lane[3],
                                        load_le64(p + 8 * i + 24));
        c->words += 4;
    }
    for (; i < words; i++) {
        c->lane[c->words % 4] = mig_checksum_round(c->lane[c->words % 4],
                                                   load_le64(p + 8 * i));
        c->words++;
    }
}

uint64_t mig_checksum_final(const MigChecksum *c)
{
    uint64_t h = rotl64(c->lane[0], 1) + rotl64(c->lane[1], 7) +
                 rotl64(c->lane[2], 12) + rotl64(c->lane[3], 18);

    h ^= c->words;
    h ^= h >> 33;
    h *= MIG_CK_MUL_B;
    h ^= h >> 29;
    h *= MIG_CK_MUL_C;
    h ^= h >> 32;
    return h;
}

bool mig_buffer_is_zero(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t acc = 0;

    assert(len % 32 == 0 || len % 8 == 0);
    for (size_t i = 0; i + 32 <= len; i += 32) {
        uint64_t a, b, c, d;

        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8);
        memcpy(&d, p + i + 24, 8);
        if (a | b | c | d) {
            return false;
        }
    }
    for (size_t i = len - len % 32; i < len; i += 8) {
        uint64_t a;

        memcpy(&a, p + i, 8);
        acc |= a;
    }
    return acc == 0;
}

/* ---- header ---------------------------------------------------------- */

void mig_header_encode(const MigStreamHeader *h,
                       uint8_t out[MIG_STREAM_HEADER_BYTES])
{
    store_le64(out + 0, h->magic);
    store_le32(out + 8, h->version);
    store_le32(out + 12, h->header_bytes);
    store_le64(out + 16, h->ram_bytes);
    store_le64(out + 24, h->system_bytes);
    store_le32(out + 32, h->page_bytes);
    store_le32(out + 36, h->cpu_count);
    store_le32(out + 40, h->cpu_state_bytes);
    store_le32(out + 44, h->flags);
}

void mig_header_decode(const uint8_t in[MIG_STREAM_HEADER_BYTES],
                       MigStreamHeader *h)
{
    h->magic = load_le64(in + 0);
    h->version = load_le32(in + 8);
    h->header_bytes = load_le32(in + 12);
    h->ram_bytes = load_le64(in + 16);
    h->system_bytes = load_le64(in + 24);
    h->page_bytes = load_le32(in + 32);
    h->cpu_count = load_le32(in + 36);
    h->cpu_state_bytes = load_le32(in + 40);
    h->flags = load_le32(in + 44);
}

bool mig_header_check(const MigStreamHeader *h, const MigLoadTarget *t,
                      Error **errp)
{
    if (h->magic != MIG_STREAM_MAGIC) {
        error_setg(errp, "not a restraint migration stream (magic "
                   "0x%016" PRIx64 ", expected 0x%016" PRIx64 ")", h->magic,
                   MIG_STREAM_MAGIC);
        return false;
    }
    if (h->version != MIG_STREAM_VERSION) {
        error_setg(errp, "unsupported migration stream version %" PRIu32
                   " (this restraint reads version %u)", h->version,
                   MIG_STREAM_VERSION);
        return false;
    }
    if (h->header_bytes != MIG_STREAM_HEADER_BYTES) {
        error_setg(errp, "bad stream header size %" PRIu32 " (version %u "
                   "headers are %u bytes)", h->header_bytes,
                   MIG_STREAM_VERSION, MIG_STREAM_HEADER_BYTES);
        return false;
    }
    if (h->page_bytes != MIG_PAGE_BYTES) {
        error_setg(errp, "stream page size %" PRIu32 " bytes, expected %u",
                   h->page_bytes, MIG_PAGE_BYTES);
        return false;
    }
    if (h->ram_bytes != t->ram_bytes) {
        error_setg(errp, "stream RAM size %" PRIu64 " bytes does not match "
                   "this VM's %" PRIu64 " bytes (start the destination "
                   "with the source's -m)", h->ram_bytes, t->ram_bytes);
        return false;
    }
    if (h->system_bytes != t->system_bytes) {
        error_setg(errp, "stream system area %" PRIu64 " bytes does not "
                   "match this VM's %" PRIu64 " bytes", h->system_bytes,
                   t->system_bytes);
        return false;
    }
    if (h->cpu_count != t->cpu_count) {
        error_setg(errp, "stream has %" PRIu32 " vCPUs, this VM has %" PRIu32
                   " (start the destination with the source's -smp)",
                   h->cpu_count, t->cpu_count);
        return false;
    }
    if (h->cpu_state_bytes != t->cpu_state_bytes) {
        error_setg(errp, "stream vCPU state is %" PRIu32 " bytes, expected "
                   "%" PRIu32, h->cpu_state_bytes, t->cpu_state_bytes);
        return false;
    }
    if (h->flags != 0) {
        error_setg(errp, "unknown stream header flags 0x%" PRIx32, h->flags);
        return false;
    }
    return true;
}

/* ---- sender ---------------------------------------------------------- */

void mig_writer_init(MigWriter *w, size_t buf_bytes, MigWriteFn write,
                     void *opaque)
{
    assert(buf_bytes % 8 == 0 && buf_bytes >= 8 + MIG_PAGE_BYTES);
    memset(w, 0, sizeof(*w));
    w->write = write;
    w->opaque = opaque;
    w->buf = g_malloc(buf_bytes);
    w->buf_bytes = buf_bytes;
    mig_checksum_init(&w->checksum);
}

void mig_writer_cleanup(MigWriter *w)
{
    g_free(w->buf);
    w->buf = NULL;
}

bool mig_writer_flush(MigWriter *w, Error **errp)
{
    if (w->failed) {
        error_setg(errp, "the migration stream already failed");
        return false;
    }
    if (w->used_bytes && !w->write(w->opaque, w->buf, w->used_bytes, errp)) {
        w->failed = true;
        return false;
    }
    w->used_bytes = 0;
    return true;
}

/* Append @len bytes (a multiple of 8), flushing first when full. */
static bool mig_writer_append(MigWriter *w, const void *data, size_t len,
                              Error **errp)
{
    const uint8_t *p = data;

    assert(len % 8 == 0);
    w->total_bytes += len;
    while (len) {
        size_t chunk;

        if (w->used_bytes == w->buf_bytes && !mig_writer_flush(w, errp)) {
            return false;
        }
        chunk = MIN(len, w->buf_bytes - w->used_bytes);
        memcpy(w->buf + w->used_bytes, p, chunk);
        /*
         * Checksum the copy, not @data: the guest may be writing the
         * page we are sending (it is dirty again and will be resent).
         */
        mig_checksum_update(&w->checksum, w->buf + w->used_bytes, chunk);
        w->used_bytes += chunk;
        p += chunk;
        len -= chunk;
    }
    return true;
}

static bool mig_put_tag(MigWriter *w, MigRecordType type, uint64_t value,
                        Error **errp)
{
    uint8_t word[8];

    assert(value < (UINT64_C(1) << (64 - MIG_TAG_VALUE_SHIFT)));
    store_le64(word, (value << MIG_TAG_VALUE_SHIFT) | type);
    return mig_writer_append(w, word, sizeof(word), errp);
}

bool mig_put_header(MigWriter *w, const MigStreamHeader *h, Error **errp)
{
    uint8_t raw[MIG_STREAM_HEADER_BYTES];

    mig_header_encode(h, raw);
    return mig_writer_append(w, raw, sizeof(raw), errp);
}

bool mig_put_zero_page(MigWriter *w, uint64_t gpa, Error **errp)
{
    assert(gpa % MIG_PAGE_BYTES == 0);
    return mig_put_tag(w, MIG_REC_ZERO, gpa >> MIG_PAGE_SHIFT, errp);
}

bool mig_put_page(MigWriter *w, uint64_t gpa, const void *data, Error **errp)
{
    assert(gpa % MIG_PAGE_BYTES == 0);
    return mig_put_tag(w, MIG_REC_PAGE, gpa >> MIG_PAGE_SHIFT, errp) &&
           mig_writer_append(w, data, MIG_PAGE_BYTES, errp);
}

bool mig_put_ram_page(MigWriter *w, uint64_t gpa, const void *data,
                      bool *is_zero, Error **errp)
{
    *is_zero = mig_buffer_is_zero(data, MIG_PAGE_BYTES);
    return *is_zero ? mig_put_zero_page(w, gpa, errp)
                    : mig_put_page(w, gpa, data, errp);
}

uint64_t mig_ram_wire_bytes(const uint8_t *ram, uint64_t bytes)
{
    uint64_t wire_bytes = 0;

    assert(bytes % MIG_PAGE_BYTES == 0);
    for (uint64_t off = 0; off < bytes; off += MIG_PAGE_BYTES) {
        wire_bytes += 8;
        if (!mig_buffer_is_zero(ram + off, MIG_PAGE_BYTES)) {
            wire_bytes += MIG_PAGE_BYTES;
        }
    }
    return wire_bytes;
}

bool mig_put_pass(MigWriter *w, uint64_t pass, Error **errp)
{
    return mig_put_tag(w, MIG_REC_PASS, pass, errp);
}

bool mig_put_cpu(MigWriter *w, uint32_t cpu_index, const void *state,
                 size_t state_bytes, Error **errp)
{
    return mig_put_tag(w, MIG_REC_CPU, cpu_index, errp) &&
           mig_writer_append(w, state, state_bytes, errp);
}

bool mig_put_run_state(MigWriter *w, MigRunState state, Error **errp)
{
    assert(state >= MIG_RUN_RUNNING && state <= MIG_RUN_MAX);
    return mig_put_tag(w, MIG_REC_RUN_STATE, state, errp);
}

bool mig_put_end(MigWriter *w, Error **errp)
{
    uint8_t word[8];

    if (!mig_put_tag(w, MIG_REC_END, 0, errp)) {
        return false;
    }
    /* The checksum covers every word before it, the end tag included. */
    store_le64(word, mig_checksum_final(&w->checksum));
    w->total_bytes += sizeof(word);
    if (w->used_bytes + sizeof(word) > w->buf_bytes &&
        !mig_writer_flush(w, errp)) {
        return false;
    }
    memcpy(w->buf + w->used_bytes, word, sizeof(word));
    w->used_bytes += sizeof(word);
    return mig_writer_flush(w, errp);
}

/* ---- the record table ------------------------------------------------ */

/* What follows a record's tag on the wire. */
typedef enum MigPayload {
    MIG_PAYLOAD_UNKNOWN = 0,    /* not a record type of this version */
    MIG_PAYLOAD_NONE,
    MIG_PAYLOAD_PAGE,           /* MIG_PAGE_BYTES */
    MIG_PAYLOAD_CPU_STATE,      /* the header's cpu_state_bytes */
    MIG_PAYLOAD_CHECKSUM,       /* one 64-bit word */
} MigPayload;

/* The one list of record types: the loader and the relay both use it. */
static const MigPayload mig_record_payload[MIG_TAG_TYPE_MASK + 1] = {
    [MIG_REC_ZERO] = MIG_PAYLOAD_NONE,
    [MIG_REC_PAGE] = MIG_PAYLOAD_PAGE,
    [MIG_REC_PASS] = MIG_PAYLOAD_NONE,
    [MIG_REC_CPU] = MIG_PAYLOAD_CPU_STATE,
    [MIG_REC_RUN_STATE] = MIG_PAYLOAD_NONE,
    [MIG_REC_END] = MIG_PAYLOAD_CHECKSUM,
};

bool mig_record_payload_bytes(const MigStreamHeader *h, uint64_t tag,
                              size_t *payload_bytes, Error **errp)
{
    if (tag & MIG_TAG_RESERVED_MASK) {
        error_setg(errp, "record tag 0x%016" PRIx64 " has reserved flag "
                   "bits set", tag);
        return false;
    }
    switch (mig_record_payload[tag & MIG_TAG_TYPE_MASK]) {
    case MIG_PAYLOAD_NONE:
        *payload_bytes = 0;
        return true;
    case MIG_PAYLOAD_PAGE:
        *payload_bytes = MIG_PAGE_BYTES;
        return true;
    case MIG_PAYLOAD_CPU_STATE:
        *payload_bytes = h->cpu_state_bytes;
        return true;
    case MIG_PAYLOAD_CHECKSUM:
        *payload_bytes = sizeof(uint64_t);
        return true;
    case MIG_PAYLOAD_UNKNOWN:
        break;
    }
    error_setg(errp, "unknown record type 0x%02x",
               (unsigned)(tag & MIG_TAG_TYPE_MASK));
    return false;
}

/* ---- destination ----------------------------------------------------- */

typedef struct MigLoader {
    MigReadFn read;
    void *opaque;
    const MigLoadTarget *t;
    MigStreamHeader h;          /* checked against t */
    MigLoadStats *stats;
    MigChecksum checksum;
    uint64_t offset;            /* bytes consumed so far */
    uint64_t *seen_pages;       /* one bit per page: received at least once */
    uint64_t unseen_pages;
    uint64_t *seen_cpus;        /* one bit per vCPU */
    uint32_t cpus_received;
    uint64_t last_pass;
    bool in_device_part;        /* a vCPU or run state record came: no RAM */
    bool run_state_received;
    /* The last probe_untouched() answer, for the block of pages it covers. */
    uint64_t probe_block;       /* UINT64_MAX: none yet */
    bool probe_known;
    uint64_t probe_bits[MIG_PROBE_PAGES / 64];
} MigLoader;

/*
 * @page (not loaded before in this stream) was never backed on this host:
 * it is zero already.  Only the loader writes RAM during a load, so an
 * answer stays true for the pages of its block the stream has not sent.
 */
static bool mig_load_page_untouched(MigLoader *l, uint64_t page)
{
    const MigLoadTarget *t = l->t;
    uint64_t block = page / MIG_PROBE_PAGES;
    uint64_t first = block * MIG_PROBE_PAGES;
    uint64_t i = page - first;

    if (!t->probe_untouched) {
        return false;
    }
    if (l->probe_block != block) {
        uint64_t pages = t->ram_bytes / MIG_PAGE_BYTES;

        l->probe_known = t->probe_untouched(
            first, MIN(MIG_PROBE_PAGES, pages - first), l->probe_bits);
        l->probe_block = block;
    }
    return l->probe_known && (l->probe_bits[i / 64] >> (i % 64) & 1);
}

/* Read @len bytes (a multiple of 8) into @buf and checksum them. */
static bool mig_load_bytes(MigLoader *l, void *buf, size_t len,
                           const char *what, Error **errp)
{
    Error *err = NULL;

    if (!l->read(l->opaque, buf, len, &err)) {
        error_propagate(errp, err);
        error_prepend(errp, "reading %s at byte %" PRIu64 ": ", what,
                      l->offset);
        return false;
    }
    mig_checksum_update(&l->checksum, buf, len);
    l->offset += len;
    l->stats->bytes = l->offset;
    return true;
}

static bool mig_load_page_record(MigLoader *l, MigRecordType type,
                                 uint64_t page, uint64_t tag_offset,
                                 Error **errp)
{
    const MigLoadTarget *t = l->t;
    uint64_t pages = t->ram_bytes / MIG_PAGE_BYTES;
    uint8_t *host;

    if (l->in_device_part) {
        error_setg(errp, "RAM page record at byte %" PRIu64 " after the "
                   "device state (vCPU states, run state)", tag_offset);
        return false;
    }
    if (page >= pages) {
        error_setg(errp, "page address 0x%" PRIx64 " at byte %" PRIu64
                   " is outside guest RAM (%" PRIu64 " bytes)",
                   page << MIG_PAGE_SHIFT, tag_offset, t->ram_bytes);
        return false;
    }
    /* Checked above: the whole page lies inside target->ram. */
    host = t->ram + page * MIG_PAGE_BYTES;
    if (type == MIG_REC_PAGE) {
        if (!mig_load_bytes(l, host, MIG_PAGE_BYTES, "a page's contents",
                            errp)) {
            return false;
        }
        l->stats->normal_pages++;
    } else {
        bool seen = l->seen_pages[page / 64] & (UINT64_C(1) << (page % 64));

        /* Never backed: zero without a read (which would map the zero
         * page, one fault each).  Else zero it only if it is not. */
        if ((seen || !mig_load_page_untouched(l, page)) &&
            !mig_buffer_is_zero(host, MIG_PAGE_BYTES)) {
            memset(host, 0, MIG_PAGE_BYTES);
        }
        l->stats->zero_pages++;
    }
    if (!(l->seen_pages[page / 64] & (UINT64_C(1) << (page % 64)))) {
        l->seen_pages[page / 64] |= UINT64_C(1) << (page % 64);
        l->unseen_pages--;
    }
    return true;
}

static bool mig_load_cpu_record(MigLoader *l, uint64_t cpu,
                                uint64_t tag_offset, Error **errp)
{
    const MigLoadTarget *t = l->t;

    if (cpu >= t->cpu_count) {
        error_setg(errp, "vCPU state for cpu %" PRIu64 " at byte %" PRIu64
                   ": this VM has %" PRIu32 " vCPUs", cpu, tag_offset,
                   t->cpu_count);
        return false;
    }
    if (l->seen_cpus[cpu / 64] & (UINT64_C(1) << (cpu % 64))) {
        error_setg(errp, "second vCPU state for cpu %" PRIu64 " at byte %"
                   PRIu64, cpu, tag_offset);
        return false;
    }
    l->in_device_part = true;
    if (!mig_load_bytes(l, t->cpu_states + cpu * t->cpu_state_bytes,
                        t->cpu_state_bytes, "a vCPU state", errp)) {
        return false;
    }
    l->seen_cpus[cpu / 64] |= UINT64_C(1) << (cpu % 64);
    l->cpus_received++;
    return true;
}

static bool mig_load_run_state_record(MigLoader *l, uint64_t value,
                                      uint64_t tag_offset, Error **errp)
{
    if (l->run_state_received) {
        error_setg(errp, "second run state record at byte %" PRIu64,
                   tag_offset);
        return false;
    }
    if (value < MIG_RUN_RUNNING || value > MIG_RUN_MAX) {
        error_setg(errp, "unknown run state %" PRIu64 " at byte %" PRIu64,
                   value, tag_offset);
        return false;
    }
    l->in_device_part = true;
    l->run_state_received = true;
    l->stats->run_state = value;
    return true;
}

static bool mig_load_end_record(MigLoader *l, uint64_t value,
                                uint64_t tag_offset, Error **errp)
{
    uint64_t expected = mig_checksum_final(&l->checksum);
    uint8_t word[8];
    uint64_t got;

    if (value != 0) {
        error_setg(errp, "end record at byte %" PRIu64 " has a nonzero "
                   "value 0x%" PRIx64, tag_offset, value);
        return false;
    }
    /* The checksum word itself is not part of the checksum. */
    if (!l->read(l->opaque, word, sizeof(word), errp)) {
        error_prepend(errp, "reading the checksum at byte %" PRIu64 ": ",
                      l->offset);
        return false;
    }
    l->offset += sizeof(word);
    l->stats->bytes = l->offset;
    got = load_le64(word);
    if (got != expected) {
        error_setg(errp, "stream checksum mismatch: the stream says 0x%016"
                   PRIx64 ", its contents give 0x%016" PRIx64, got,
                   expected);
        return false;
    }
    if (l->unseen_pages) {
        error_setg(errp, "the stream ended with %" PRIu64 " pages of guest "
                   "RAM never sent", l->unseen_pages);
        return false;
    }
    if (l->cpus_received != l->t->cpu_count) {
        error_setg(errp, "the stream ended with %" PRIu32 " of %" PRIu32
                   " vCPU states", l->cpus_received, l->t->cpu_count);
        return false;
    }
    if (!l->run_state_received) {
        error_setg(errp, "the stream ended without the source's run state");
        return false;
    }
    return true;
}

static bool mig_load_records(MigLoader *l, const int *cancelled,
                             Error **errp)
{
    for (;;) {
        uint8_t word[8];
        uint64_t tag, value, tag_offset = l->offset;
        size_t payload_bytes;
        MigRecordType type;

        if (cancelled && __atomic_load_n(cancelled, __ATOMIC_RELAXED)) {
            error_setg(errp, "incoming migration cancelled");
            return false;
        }
        if (!mig_load_bytes(l, word, sizeof(word), "a record tag", errp)) {
            return false;
        }
        tag = load_le64(word);
        type = tag & MIG_TAG_TYPE_MASK;
        value = tag >> MIG_TAG_VALUE_SHIFT;
        if (!mig_record_payload_bytes(&l->h, tag, &payload_bytes, errp)) {
            error_prepend(errp, "at byte %" PRIu64 ": ", tag_offset);
            return false;
        }
        switch (type) {
        case MIG_REC_ZERO:
        case MIG_REC_PAGE:
            if (!mig_load_page_record(l, type, value, tag_offset, errp)) {
                return false;
            }
            break;
        case MIG_REC_PASS:
            if (l->in_device_part || value <= l->last_pass) {
                error_setg(errp, "pass record %" PRIu64 " at byte %" PRIu64
                           " out of order (last pass %" PRIu64 ")", value,
                           tag_offset, l->last_pass);
                return false;
            }
            l->last_pass = value;
            l->stats->passes++;
            break;
        case MIG_REC_CPU:
            if (!mig_load_cpu_record(l, value, tag_offset, errp)) {
                return false;
            }
            break;
        case MIG_REC_RUN_STATE:
            if (!mig_load_run_state_record(l, value, tag_offset, errp)) {
                return false;
            }
            break;
        case MIG_REC_END:
            return mig_load_end_record(l, value, tag_offset, errp);
        default:
            /* In the table but not loaded here: a bug, not the peer's. */
            g_assert_not_reached();
        }
        /* The table says what the relay forwards: it must agree. */
        assert(l->offset == tag_offset + sizeof(word) + payload_bytes);
    }
}

bool mig_stream_load(MigReadFn read, void *opaque,
                     const MigLoadTarget *target, MigLoadStats *stats,
                     const int *cancelled, Error **errp)
{
    uint8_t raw[MIG_STREAM_HEADER_BYTES];
    MigLoader l = {
        .read = read, .opaque = opaque, .t = target, .stats = stats,
        .probe_block = UINT64_MAX,
    };
    uint64_t pages;
    bool ok = false;

    /* The target is ours, not the peer's: only assert. */
    assert(target->ram_bytes % MIG_PAGE_BYTES == 0 &&
           target->cpu_count <= MIG_MAX_CPUS &&
           target->cpu_state_bytes % 8 == 0 &&
           target->cpu_state_bytes <= MIG_CPU_STATE_MAX_BYTES);
    memset(stats, 0, sizeof(*stats));
    mig_checksum_init(&l.checksum);
    if (!mig_load_bytes(&l, raw, sizeof(raw), "the stream header", errp)) {
        return false;
    }
    mig_header_decode(raw, &l.h);
    if (!mig_header_check(&l.h, target, errp)) {
        return false;
    }
    pages = target->ram_bytes / MIG_PAGE_BYTES;
    l.seen_pages = g_new0(uint64_t, DIV_ROUND_UP(pages, 64));
    l.unseen_pages = pages;
    l.seen_cpus = g_new0(uint64_t, DIV_ROUND_UP(MIG_MAX_CPUS, 64));
    ok = mig_load_records(&l, cancelled, errp);
    g_free(l.seen_pages);
    g_free(l.seen_cpus);
    return ok;
}

/* ---- the return path's refusal ------------------------------------- */

size_t mig_refusal_encode(const char *reason,
                          uint8_t out[MIG_REFUSAL_WIRE_MAX_BYTES])
{
    size_t len = MIN(strlen(reason), MIG_REFUSAL_MAX_BYTES);
    size_t padded = QEMU_ALIGN_UP(len, 8);

    store_le64(out, MIG_ACK_REFUSED);
    store_le64(out + 8, len);
    memset(out + 16, 0, padded);
    memcpy(out + 16, reason, len);
    return 16 + padded;
}

bool mig_refusal_read(MigReadFn read, void *opaque, char **reason,
                      Error **errp)
{
    uint8_t word[8];
    uint64_t len;
    char *text;

    if (!read(opaque, word, sizeof(word), errp)) {
        return false;
    }
    len = load_le64(word);
    if (len > MIG_REFUSAL_MAX_BYTES) {
        error_setg(errp, "refusal reason of %" PRIu64 " bytes (at most %u)",
                   len, MIG_REFUSAL_MAX_BYTES);
        return false;
    }
    text = g_malloc0(QEMU_ALIGN_UP(len, 8) + 1);
    if (!read(opaque, text, QEMU_ALIGN_UP(len, 8), errp)) {
        g_free(text);
        return false;
    }
    text[len] = '\0';
    for (uint64_t i = 0; i < len; i++) {
        if (text[i] < 0x20 || text[i] > 0x7e) {
            text[i] = '?';
        }
    }
    *reason = text;
    return true;
}
