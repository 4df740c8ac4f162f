/*
 * The preloaded library's state (one per traced process).  It lives in a
 * mapping of its own, which the library never tracks, so that the
 * recorder's bookkeeping never shows up in the program's trace.
 */
#ifndef DIRTY_TRACE_PRELOAD_H
#define DIRTY_TRACE_PRELOAD_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "raw.h"
#include "uffd-wp.h"

/* Ranges kept for one record before it is written out (1 MiB). */
#define DT_RANGE_CAPACITY       65536
/* PAGEMAP_SCAN output buffer entries per ioctl. */
#define DT_SCAN_VEC_ENTRIES     4096
/* /proc/self/maps is read in chunks of this size. */
#define DT_MAPS_CHUNK_BYTES     65536
/*
 * Larger private writable mappings are sparse reservations (sanitizer
 * shadows, runtime heaps): protecting every unpopulated page of one
 * would build page tables for all of it (2 MiB of them per GiB), so they
 * are left untracked, with a warning.
 */
#define DT_MAX_TRACKED_MAPPING_BYTES (16ull << 30)
/* Mappings the library owns and never tracks: the state, the helper
 * thread's stack. */
#define DT_OWN_REGIONS          2

typedef struct DtOwnRegion {
    uint64_t start;
    uint64_t end;
} DtOwnRegion;

typedef struct DtState {
    pthread_mutex_t lock;       /* one tick at a time; held across fork */
    UffdWp wp;
    int out_fd;
    uint64_t out_dev;           /* what out_fd must still be */
    uint64_t out_ino;
    /* The helper thread sleeps on wake_cond (CLOCK_MONOTONIC) until the
     * next tick or stop: no fd, so a program closing fds cannot wake it. */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond;
    bool stop;
    pid_t pid;                  /* whose address space we track */
    bool warned_huge;           /* about an untracked huge mapping */
    bool thread_running;
    pthread_t thread;
    uint64_t interval_ns;
    uint64_t interval_start_ns;
    uint32_t seq;
    DtOwnRegion own[DT_OWN_REGIONS];   /* in address order */
    void *stack;                /* the helper thread's */
    size_t stack_bytes;
    char out_path[PATH_MAX];
    /* The record being filled. */
    DtRawInterval rec;
    DtRawRange ranges[DT_RANGE_CAPACITY];
    struct page_region vec[DT_SCAN_VEC_ENTRIES];
    char maps[DT_MAPS_CHUNK_BYTES + 1];
} DtState;

uint64_t dt_now_ns(void);
/* Record the spool fd's identity, to notice when the program takes it. */
void dt_note_spool(DtState *s);
/*
 * One pass over this process's private writable mappings: register the
 * ones not seen before (adding their already-written pages when
 * sweep_new), collect the pages written since the last pass and
 * re-protect them.  When emit, end the interval and append its record.
 */
void dt_tick_locked(DtState *s, bool sweep_new, bool emit, uint32_t flags);

#endif /* DIRTY_TRACE_PRELOAD_H */
