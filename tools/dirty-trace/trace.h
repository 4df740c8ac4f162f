/*
 * Dirty-page traces: how a real program's processes wrote memory,
 * interval by interval (docs/devel/dirty-trace.md has the file format).
 *
 * Page numbers are per process and dense: the process's distinct written
 * pages numbered 0..distinct_pages-1 in address order, so a trace replays
 * into any region of at least distinct_pages pages.  Every index in that
 * range is written in at least one interval.
 *
 * The reader trusts nothing in a file: sizes, counts, indices and the
 * compressed body are all checked, each failure a sentence naming what
 * is wrong.  dirty_trace_check() holds the invariants; the writer refuses
 * a trace that breaks them, the reader one that decodes to such.
 */
#ifndef DIRTY_TRACE_TRACE_H
#define DIRTY_TRACE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "qapi/error.h"

#define DIRTY_TRACE_MAGIC           "RSDTRACE"
#define DIRTY_TRACE_VERSION         1
#define DIRTY_TRACE_HEADER_BYTES    40
/* Bounds a reader enforces before it allocates anything. */
#define DIRTY_TRACE_MAX_FILE_BYTES  (64u << 20)
#define DIRTY_TRACE_MAX_BODY_BYTES  (512u << 20)   /* decompressed */
#define DIRTY_TRACE_MAX_PROGRAM_BYTES 4096
#define DIRTY_TRACE_MAX_PROCESSES   65536
#define DIRTY_TRACE_MAX_PAGES       (1u << 26)     /* 256 GiB of 4 KiB */
#define DIRTY_TRACE_COMM_BYTES      16

/* Body flags. */
#define DIRTY_TRACE_F_ADDRESSES     (1u << 0)   /* page_addresses present */
#define DIRTY_TRACE_F_ALL           DIRTY_TRACE_F_ADDRESSES

typedef enum DirtyTraceOrigin {
    DIRTY_TRACE_ORIGIN_EXEC = 0,
    DIRTY_TRACE_ORIGIN_FORK = 1,
} DirtyTraceOrigin;

typedef struct DirtyTraceInterval {
    uint64_t start_us;          /* since the trace started */
    uint32_t duration_us;
    uint64_t rss_pages;         /* resident set at the interval's end */
    uint32_t page_count;
    uint32_t *pages;            /* dense indices, strictly ascending */
} DirtyTraceInterval;

typedef struct DirtyTraceProcess {
    int32_t pid;
    int32_t ppid;
    uint32_t origin;            /* DirtyTraceOrigin */
    char comm[DIRTY_TRACE_COMM_BYTES + 1];
    uint64_t start_us;
    uint64_t end_us;
    uint32_t distinct_pages;
    uint32_t interval_count;
    DirtyTraceInterval *intervals;  /* in time order, not overlapping */
    /* With DIRTY_TRACE_F_ADDRESSES: the virtual page number (address /
     * page_bytes) of each dense index, strictly ascending; else NULL. */
    uint64_t *page_addresses;
} DirtyTraceProcess;

typedef struct DirtyTrace {
    uint32_t version;
    uint32_t flags;
    uint32_t page_bytes;
    uint32_t interval_ms;       /* the nominal recording interval */
    uint64_t duration_us;
    char *program;              /* the recorded command line */
    uint32_t process_count;
    DirtyTraceProcess *processes;   /* in start order */
} DirtyTrace;

/* The invariants above; the first broken one is the error. */
bool dirty_trace_check(const DirtyTrace *t, Error **errp);

/* Encode (check, then compress) into out; save writes a file. */
bool dirty_trace_encode(const DirtyTrace *t, GByteArray *out, Error **errp);
bool dirty_trace_save(const DirtyTrace *t, const char *path, Error **errp);

/* Decode and check; NULL and an error on anything malformed. */
DirtyTrace *dirty_trace_decode(const uint8_t *data, size_t len, Error **errp);
DirtyTrace *dirty_trace_load(const char *path, Error **errp);

/* Free what a process holds (intervals, pages, addresses); zero it. */
void dirty_trace_process_clear(DirtyTraceProcess *p);
void dirty_trace_free(DirtyTrace *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DirtyTrace, dirty_trace_free)

/* A trace's figures, as dirty-trace-info prints them (trace-stats.c). */
typedef struct DirtyTraceSummary {
    uint64_t duration_us;
    uint32_t process_count;
    uint64_t interval_count;
    uint64_t distinct_pages;    /* summed over processes */
    uint64_t written_pages;     /* summed over intervals (page writes a
                                   replay at the recorded interval makes) */
    uint64_t hot_pages;         /* written in > half their process's windows */
    uint64_t peak_rss_pages;    /* largest single-interval RSS, summed over processes */
    /* Dirty rates as restraint measures them (docs/devel/dirty-rate.md):
     * distinct pages per window, MB/s with MB = 2^20 bytes. */
    double mean_mbps;           /* over the whole duration */
    double peak_mbps;           /* the busiest whole window */
    uint64_t window_us;         /* the window (> 0) */
} DirtyTraceSummary;

void dirty_trace_summarize(const DirtyTrace *t, uint64_t window_us,
                           DirtyTraceSummary *s);

#endif /* DIRTY_TRACE_TRACE_H */
