/*
 * The migration stream's parser.  Its rule: read a record's tag, check
 * it against the target and the records seen so far, and only then move
 * its payload, and only into the target's own buffers.  Pure code over
 * bytes, as stream.c.
 */
#include "qemu/osdep.h"

#include "migration/stream.h"
#include "qemu/atomic.h"
#include "stream-int.h"

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

        if (cancelled && qatomic_read(cancelled)) {
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
