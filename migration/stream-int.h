/*
 * Private to the migration stream's files (stream.c, stream-save.c,
 * stream-load.c): little-endian words on the wire.
 */
#ifndef MIGRATION_STREAM_INT_H
#define MIGRATION_STREAM_INT_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

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

#endif /* MIGRATION_STREAM_INT_H */
