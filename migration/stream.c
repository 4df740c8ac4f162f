/*
 * The migration stream, version 2: what both ends share (checksum,
 * header, the record table, the return path's refusal).  The encoder is
 * in stream-save.c, the parser in stream-load.c.
 *
 * Pure code over bytes (see include/migration/stream.h): the migration
 * thread, the incoming thread, the unit tests and the fuzzer all use it
 * through callbacks.
 */
#include "qemu/osdep.h"

#include "migration/stream.h"
#include "stream-int.h"

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
