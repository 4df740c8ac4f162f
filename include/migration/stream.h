/*
 * The migration stream, version 2: its format, the sender's encoder and
 * the destination's parser (migration/stream.c).
 *
 * Pure code: no sockets, no KVM, no globals.  The encoder appends to a
 * buffer and hands full buffers to a callback; the parser pulls bytes
 * through a callback and writes pages only into the RAM buffer it was
 * given, after checking each record.  docs/devel/migration.md describes
 * the format byte by byte; keep the two in step.
 *
 * Everything on the wire is little-endian and every record is a multiple
 * of 8 bytes, so the checksum runs over 64-bit words.
 */
#ifndef MIGRATION_STREAM_H
#define MIGRATION_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* "RSTRMIG\0" read as a little-endian 64-bit word. */
#define MIG_STREAM_MAGIC        UINT64_C(0x0047494d52545352)
/* 2: the run state record (MIG_REC_RUN_STATE) is required. */
#define MIG_STREAM_VERSION      2u
/* The header's size on the wire, bytes (see MigStreamHeader). */
#define MIG_STREAM_HEADER_BYTES 48u
/* Pages are 4 KiB on both sides (DESIGN.md section 7). */
#define MIG_PAGE_BYTES          4096u
#define MIG_PAGE_SHIFT          12
/* A record's tag word: type in bits 0-7, bits 8-11 zero, value above. */
#define MIG_TAG_TYPE_MASK       UINT64_C(0xff)
#define MIG_TAG_RESERVED_MASK   UINT64_C(0xf00)
#define MIG_TAG_VALUE_SHIFT     12
/* Largest vCPU state record we accept, bytes: bounds the allocation. */
#define MIG_CPU_STATE_MAX_BYTES 65536u
/* Most vCPUs a stream may describe (the guest ABI's RS_MAX_CPUS). */
#define MIG_MAX_CPUS            1024u

/*
 * The return path, after the end record: the destination answers
 * MIG_ACK_LOADED once the stream checked out and the vCPU states are in,
 * and starts the guest only when the source answers MIG_ACK_GO.  A
 * source that cancels before "go" leaves the destination stopped.
 */
#define MIG_ACK_LOADED  UINT64_C(0x44414f4c54535200)   /* "\0RSTLOAD" */
#define MIG_ACK_GO      UINT64_C(0x4f47544e52545300)   /* "\0STRNTGO" */
/*
 * Instead of LOADED, at any time before it, the destination may refuse:
 * this tag, a 64-bit length, then the reason (printable text, no NUL)
 * padded with zeros to a multiple of 8.  The source shows the reason.
 */
#define MIG_ACK_REFUSED UINT64_C(0x4c49414654535200)   /* "\0RSTFAIL" */
/* Longest reason, bytes (one error message; longer ones are cut). */
#define MIG_REFUSAL_MAX_BYTES  1024u
/* A whole refusal on the wire, at most: tag, length, reason. */
#define MIG_REFUSAL_WIRE_MAX_BYTES (16u + MIG_REFUSAL_MAX_BYTES)

typedef enum MigRecordType {
    MIG_REC_ZERO = 0x01,    /* the page at value << 12 is all zeros */
    MIG_REC_PAGE = 0x02,    /* 4096 bytes of the page at value << 12 follow */
    MIG_REC_PASS = 0x03,    /* a dirty pass begins; value = its number */
    MIG_REC_CPU = 0x04,     /* cpu_state_bytes of vCPU number value follow */
    MIG_REC_RUN_STATE = 0x05,   /* value = MigRunState of the source */
    MIG_REC_END = 0x0f,     /* the checksum follows; nothing after it */
} MigRecordType;

/*
 * The source guest's run state before the switchover stopped it (QEMU
 * sends its "global state" for this).  Wire values: never renumber.
 */
typedef enum MigRunState {
    MIG_RUN_RUNNING = 1,        /* the destination resumes it (unless -S) */
    MIG_RUN_PAUSED = 2,         /* stays paused until cont */
    MIG_RUN_GUEST_PANICKED = 3, /* stays guest-panicked */
    MIG_RUN_INTERNAL_ERROR = 4, /* stays internal-error */
} MigRunState;
#define MIG_RUN_MAX MIG_RUN_INTERNAL_ERROR

/* The header, first on the wire (48 bytes, fields in this order). */
typedef struct MigStreamHeader {
    uint64_t magic;             /* MIG_STREAM_MAGIC */
    uint32_t version;           /* MIG_STREAM_VERSION */
    uint32_t header_bytes;      /* MIG_STREAM_HEADER_BYTES */
    uint64_t ram_bytes;         /* guest RAM from GPA 0 */
    uint64_t system_bytes;      /* the system area [0, system_bytes) */
    uint32_t page_bytes;        /* MIG_PAGE_BYTES */
    uint32_t cpu_count;
    uint32_t cpu_state_bytes;   /* payload of each MIG_REC_CPU */
    uint32_t flags;             /* none defined: 0 */
} MigStreamHeader;

/*
 * The stream checksum: four lanes of multiply-rotate over the 64-bit
 * words of the stream, folded at the end.  It catches truncation,
 * reordering and corruption; it is not a defence against an attacker.
 */
typedef struct MigChecksum {
    uint64_t lane[4];
    uint64_t words;
} MigChecksum;

void mig_checksum_init(MigChecksum *c);
/* @len must be a multiple of 8. */
void mig_checksum_update(MigChecksum *c, const void *buf, size_t len);
uint64_t mig_checksum_final(const MigChecksum *c);

/* True when the @len bytes at @buf are all zero (@len a multiple of 8). */
bool mig_buffer_is_zero(const void *buf, size_t len);

/* ---- sender ---------------------------------------------------------- */

/* Write all of @buf or fail; the owner of the channel implements it. */
typedef bool (*MigWriteFn)(void *opaque, const void *buf, size_t len,
                           Error **errp);

typedef struct MigWriter {
    MigWriteFn write;
    void *opaque;
    uint8_t *buf;
    size_t buf_bytes;           /* capacity */
    size_t used_bytes;
    uint64_t total_bytes;       /* everything handed to write() or queued */
    MigChecksum checksum;
    bool failed;                /* a write failed: nothing more is sent */
} MigWriter;

/* @buf_bytes: a multiple of 8, at least one page record. */
void mig_writer_init(MigWriter *w, size_t buf_bytes, MigWriteFn write,
                     void *opaque);
void mig_writer_cleanup(MigWriter *w);
bool mig_writer_flush(MigWriter *w, Error **errp);
bool mig_put_header(MigWriter *w, const MigStreamHeader *h, Error **errp);
bool mig_put_zero_page(MigWriter *w, uint64_t gpa, Error **errp);
bool mig_put_page(MigWriter *w, uint64_t gpa, const void *data,
                  Error **errp);
/* What mig_put_ram_page() puts on the wire for @bytes of RAM at @ram
 * (a multiple of the page size): 8 per zero page, 8 + 4096 per other. */
uint64_t mig_ram_wire_bytes(const uint8_t *ram, uint64_t bytes);
/* A page: ZERO if it is all zeros, PAGE otherwise; *@is_zero says which. */
bool mig_put_ram_page(MigWriter *w, uint64_t gpa, const void *data,
                      bool *is_zero, Error **errp);
bool mig_put_pass(MigWriter *w, uint64_t pass, Error **errp);
bool mig_put_cpu(MigWriter *w, uint32_t cpu_index, const void *state,
                 size_t state_bytes, Error **errp);
bool mig_put_run_state(MigWriter *w, MigRunState state, Error **errp);
/* The end record and checksum, then a flush. */
bool mig_put_end(MigWriter *w, Error **errp);

/* ---- destination ----------------------------------------------------- */

/*
 * Read exactly @len bytes into @buf.  At end of stream or on an error,
 * return false with @errp set ("the stream ended early" for a short read).
 */
typedef bool (*MigReadFn)(void *opaque, void *buf, size_t len, Error **errp);

/* What the destination is: the stream must describe exactly this. */
typedef struct MigLoadTarget {
    uint64_t ram_bytes;
    uint64_t system_bytes;
    uint32_t cpu_count;
    uint32_t cpu_state_bytes;
    uint8_t *ram;               /* ram_bytes: pages land here, nowhere else */
    uint8_t *cpu_states;        /* cpu_count * cpu_state_bytes */
    /*
     * Optional: sets bit i of @untouched for each of the @n (<=
     * MIG_PROBE_PAGES) pages from @first_page that the host never backed
     * (they read as zero), or returns false knowing nothing.  A zero page
     * record for such a page, not loaded before in this stream, then
     * touches nothing: no fault, no page-table entry.
     */
    bool (*probe_untouched)(uint64_t first_page, uint64_t n,
                            uint64_t *untouched);
} MigLoadTarget;

/* Pages of one probe_untouched() call (the physmem probe's batch). */
#define MIG_PROBE_PAGES 512u

typedef struct MigLoadStats {
    uint64_t bytes;             /* read from the stream */
    uint64_t normal_pages;
    uint64_t zero_pages;
    uint64_t passes;
    MigRunState run_state;      /* what the source's run state record said */
} MigLoadStats;

/*
 * Load a whole stream: header, pages, vCPU states, run state, end and
 * checksum.
 * Every field is checked before it is used; a page is written only at a
 * checked address inside target->ram.  vCPU states are copied into
 * target->cpu_states (the caller applies them only if this returns true).
 * On any error returns false with a message naming the record and byte
 * offset.  Optional @cancelled is polled between records.
 */
bool mig_stream_load(MigReadFn read, void *opaque,
                     const MigLoadTarget *target, MigLoadStats *stats,
                     const int *cancelled, Error **errp);

/* A refusal of @reason, encoded into @out; returns its size in bytes. */
size_t mig_refusal_encode(const char *reason,
                          uint8_t out[MIG_REFUSAL_WIRE_MAX_BYTES]);
/*
 * The rest of a refusal, once its tag was read: the length (checked
 * against MIG_REFUSAL_MAX_BYTES) and the reason, returned in *@reason
 * (g_free it) with anything unprintable shown as '?'.
 */
bool mig_refusal_read(MigReadFn read, void *opaque, char **reason,
                      Error **errp);

/*
 * The record table, for whoever walks a stream without loading it (the
 * exec:/fd: relay): a record is its tag and then *@payload_bytes.  For
 * MIG_REC_END the payload is the checksum word.  False, with @errp set,
 * for a tag with reserved bits or of a type this version does not know.
 */
bool mig_record_payload_bytes(const MigStreamHeader *h, uint64_t tag,
                              size_t *payload_bytes, Error **errp);

/* The checks of a header against a target, alone (for tests). */
bool mig_header_check(const MigStreamHeader *h, const MigLoadTarget *target,
                      Error **errp);
void mig_header_encode(const MigStreamHeader *h,
                       uint8_t out[MIG_STREAM_HEADER_BYTES]);
void mig_header_decode(const uint8_t in[MIG_STREAM_HEADER_BYTES],
                       MigStreamHeader *h);

#endif /* MIGRATION_STREAM_H */
