/*
 * Little-endian fields, LEB128 varints and the file header of a
 * dirty-page trace: the pieces trace.c (writer) and trace-read.c
 * (reader) share.  Internal to tools/dirty-trace.
 */
#ifndef DIRTY_TRACE_CODEC_H
#define DIRTY_TRACE_CODEC_H

#include <zlib.h>

#include "trace.h"

/* Header field offsets (docs/devel/dirty-trace.md). */
#define DT_HDR_VERSION          8
#define DT_HDR_HEADER_BYTES     12
#define DT_HDR_BODY_BYTES       16
#define DT_HDR_COMPRESSED_BYTES 24
#define DT_HDR_CRC              32      /* crc32 of bytes [0, 32) */
#define DT_VARINT_MAX_BYTES     10      /* 64 bits, 7 per byte */

static inline void dt_put_u32(GByteArray *b, uint32_t v)
{
    uint32_t le = GUINT32_TO_LE(v);

    g_byte_array_append(b, (const guint8 *)&le, sizeof(le));
}

static inline void dt_put_u64(GByteArray *b, uint64_t v)
{
    uint64_t le = GUINT64_TO_LE(v);

    g_byte_array_append(b, (const guint8 *)&le, sizeof(le));
}

static inline void dt_put_varint(GByteArray *b, uint64_t v)
{
    do {
        guint8 byte = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);

        g_byte_array_append(b, &byte, 1);
        v >>= 7;
    } while (v);
}

static inline void dt_le32_store(uint8_t *at, uint32_t v)
{
    uint32_t le = GUINT32_TO_LE(v);

    memcpy(at, &le, sizeof(le));
}

static inline void dt_le64_store(uint8_t *at, uint64_t v)
{
    uint64_t le = GUINT64_TO_LE(v);

    memcpy(at, &le, sizeof(le));
}

static inline uint32_t dt_le32_load(const uint8_t *at)
{
    uint32_t le;

    memcpy(&le, at, sizeof(le));
    return GUINT32_FROM_LE(le);
}

static inline uint64_t dt_le64_load(const uint8_t *at)
{
    uint64_t le;

    memcpy(&le, at, sizeof(le));
    return GUINT64_FROM_LE(le);
}

static inline uint32_t dt_header_crc(const uint8_t *header)
{
    return crc32(0, header, DT_HDR_CRC);
}

static inline void dt_header_build(uint8_t *header, uint64_t body_bytes,
                                   uint64_t compressed_bytes)
{
    memset(header, 0, DIRTY_TRACE_HEADER_BYTES);
    memcpy(header, DIRTY_TRACE_MAGIC, 8);
    dt_le32_store(header + DT_HDR_VERSION, DIRTY_TRACE_VERSION);
    dt_le32_store(header + DT_HDR_HEADER_BYTES, DIRTY_TRACE_HEADER_BYTES);
    dt_le64_store(header + DT_HDR_BODY_BYTES, body_bytes);
    dt_le64_store(header + DT_HDR_COMPRESSED_BYTES, compressed_bytes);
    dt_le32_store(header + DT_HDR_CRC, dt_header_crc(header));
}

#endif /* DIRTY_TRACE_CODEC_H */
