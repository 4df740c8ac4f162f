/*
 * The recorder's raw spool: what each traced process's preloaded library
 * appends to its own file while it runs, and dirty-trace-record reads
 * back to assemble the trace (docs/devel/dirty-trace.md).  Native byte
 * order: writer and reader are the same machine, the same moment.
 *
 * File: one DtRawHeader, then records: a DtRawInterval followed by its
 * range_count DtRawRange.  A long interval may span several records with
 * the same seq.  A record cut short by the process's death is dropped.
 */
#ifndef DIRTY_TRACE_RAW_H
#define DIRTY_TRACE_RAW_H

#include <stdint.h>

#define DT_RAW_MAGIC            "RSDTRAW1"
#define DT_RAW_VERSION          1
#define DT_RAW_INTERVAL_MAGIC   0x4c415649u     /* "IVAL" */
#define DT_RAW_COMM_BYTES       16              /* TASK_COMM_LEN */
#define DT_RAW_MESSAGE_BYTES    160
/* The spool file names: <pid>-<start_ns>.raw in $DIRTY_TRACE_DIR. */
#define DT_RAW_SUFFIX           ".raw"
/* Environment the front end hands to the library. */
#define DT_ENV_DIR              "DIRTY_TRACE_DIR"
#define DT_ENV_INTERVAL_MS      "DIRTY_TRACE_INTERVAL_MS"

typedef enum DtRawOrigin {
    DT_RAW_ORIGIN_EXEC = 0,     /* a new program image (the first, or exec) */
    DT_RAW_ORIGIN_FORK = 1,     /* a copy of its parent's address space */
} DtRawOrigin;

#define DT_RAW_FINAL            (1u << 0)       /* written at exit */

typedef struct DtRawHeader {
    char magic[8];
    uint32_t version;
    uint32_t page_bytes;
    int32_t pid;
    int32_t ppid;
    uint64_t start_ns;          /* CLOCK_MONOTONIC */
    uint32_t origin;            /* DtRawOrigin */
    int32_t status;             /* 0, or -errno: this process is untracked */
    char message[DT_RAW_MESSAGE_BYTES];     /* why, when status < 0 */
} DtRawHeader;

typedef struct DtRawInterval {
    uint32_t magic;
    uint32_t seq;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t rss_pages;
    uint32_t range_count;
    uint32_t flags;
    char comm[DT_RAW_COMM_BYTES];
} DtRawInterval;

typedef struct DtRawRange {
    uint64_t first_page;        /* virtual address / page_bytes */
    uint64_t page_count;
} DtRawRange;

#endif /* DIRTY_TRACE_RAW_H */
