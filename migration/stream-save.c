/*
 * The migration stream's encoder: records into a buffer that a callback
 * writes out (the migration thread's rate-limited socket, a test's
 * memory).  Pure code over bytes, as stream.c.
 */
#include "qemu/osdep.h"

#include "migration/stream.h"
#include "stream-int.h"

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
