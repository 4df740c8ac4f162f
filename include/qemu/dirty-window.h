/*
 * Distinct pages per window: one vCPU's set of the pages it dirtied in
 * the current window of time, and how many there were.
 *
 * Migration sends a page once per pass however often the guest rewrote
 * it, but the dirty ring logs a page again after every harvest re-protects
 * it (every 10 ms): a vCPU rewriting a 2 MiB hot set pushes ~200 MB/s of
 * ring entries and dirties 2 MB/s of distinct pages per second.  Fed the
 * page numbers a harvest finds, this counts each page once per window, so
 * the dirty limiter holds what migration pays for.
 *
 * Windows are fixed spans of the clock: window n is
 * [n x window_ns, (n + 1) x window_ns), so every vCPU's windows line up.
 * A page counts in the window of the harvest that found it (within one
 * harvest period of when it was written).
 *
 * Carried pages: a page new in this window that was also dirtied in the
 * window before it (a hot set's page, re-counted at every window start)
 * is counted again in carried_pages, so the dirty limiter can tell a hot
 * set's re-count from a sequential writer's fresh pages
 * (docs/devel/dirty-limit.md, "Carried pages").
 *
 * Memory: two bits per page of RAM (this window's and the previous
 * one's), in chunks of 128 MiB of RAM (8 KiB) allocated when the vCPU
 * first dirties a page in them, and a table of them (8 bytes per 128 MiB
 * of RAM) allocated with the first chunk: a vCPU that never dirtied a
 * page costs only the struct.  A chunk left over from an older window is
 * updated when next used (lazily, so a window change costs nothing for
 * memory the vCPU no longer touches): first used in the window after
 * its own, its bits become the previous window's; later, both are
 * cleared.
 *
 * Threads: one writer at a time (the caller serialises: the dirty ring's
 * slots lock), any number of lock-free readers.  A reader racing with
 * the writer may see a page as not yet counted when it just was: readers
 * can undercount for an instant, never overcount.
 *
 * Pure: no clock of its own, no KVM; tests/unit/test-dirty-window.c
 * links only this file.
 */
#ifndef QEMU_DIRTY_WINDOW_H
#define QEMU_DIRTY_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The window: 1 s, the span of QEMU's current-rate and of the dirty
 * limiter's report, and ten of the dirty-rate calculator's default
 * 100 ms periods.
 */
#define DIRTY_WINDOW_DEFAULT_NS 1000000000LL

/* 2^15 pages (128 MiB of RAM) per chunk: 4 KiB of bits per window. */
#define DIRTY_WINDOW_CHUNK_SHIFT 15
#define DIRTY_WINDOW_CHUNK_PAGES (UINT64_C(1) << DIRTY_WINDOW_CHUNK_SHIFT)
#define DIRTY_WINDOW_CHUNK_WORDS (DIRTY_WINDOW_CHUNK_PAGES / 64)

/*
 * Two banks of bits: epoch e's bits are in bank e % 2, so the window
 * before is in the other bank and a window change moves no bits.
 */
typedef struct DirtyWindowChunk {
    uint64_t epoch;     /* (atomic) the window of bank epoch % 2 */
    uint64_t words[2][DIRTY_WINDOW_CHUNK_WORDS];   /* (atomic) */
} DirtyWindowChunk;

/* The last complete window: what a rate over it reports. */
typedef struct DirtyWindowReport {
    uint64_t pages;     /* distinct pages dirtied in it */
    int64_t start_ns;
    int64_t end_ns;
} DirtyWindowReport;

typedef struct DirtyWindow {
    uint64_t nr_pages;
    int64_t window_ns;
    uint64_t nr_chunks;
    /* (atomic) the table, and each chunk, NULL until first used */
    DirtyWindowChunk **chunks;

    /* Window n is epoch n + 1; 0: not advanced yet (one long window). */
    uint64_t epoch;             /* (atomic) */
    uint64_t window_pages;      /* (atomic) distinct pages in it so far */
    uint64_t total_pages;       /* (atomic) monotonic: sum over windows */
    /* (atomic) monotonic: those of total_pages dirtied the window before */
    uint64_t carried_pages;

    uint32_t last_seq;          /* (atomic) odd while last is written */
    DirtyWindowReport last;     /* (atomic fields) */
} DirtyWindow;

/* A set over @nr_pages pages with windows of @window_ns (> 0). */
DirtyWindow *dirty_window_new(uint64_t nr_pages, int64_t window_ns);
void dirty_window_free(DirtyWindow *w);

/*
 * Writer side (serialised by the caller).
 *
 * Move to the window holding @now_ns; a window that ended is reported by
 * dirty_window_last().  Call it before adding what a harvest at @now_ns
 * found.  A time in the current or an earlier window changes nothing.
 * True when a window ended (a new report).
 */
bool dirty_window_advance(DirtyWindow *w, int64_t now_ns);
/*
 * @page was dirtied: true when it is new in this window (and counted;
 * in carried_pages too if the previous window had it).  A page outside
 * the set (>= nr_pages) is ignored (false).
 */
bool dirty_window_add(DirtyWindow *w, uint64_t page);

/* Reader side (any thread, no lock). */

/* Monotonic: the distinct pages of every window so far, summed. */
uint64_t dirty_window_total(const DirtyWindow *w);
/*
 * Monotonic: of dirty_window_total(), the pages that were dirtied in the
 * window before theirs too.  Read it before the total: the pair then
 * never has more carried pages than pages.
 */
uint64_t dirty_window_carried(const DirtyWindow *w);
/* Whether @page is already counted in the current window. */
bool dirty_window_seen(const DirtyWindow *w, uint64_t page);
/* Whether @page was counted in the window before the current one. */
bool dirty_window_seen_prev(const DirtyWindow *w, uint64_t page);
/* The last complete window; false before one has ended. */
bool dirty_window_last(const DirtyWindow *w, DirtyWindowReport *out);
/* Bytes of memory the set uses (table and chunks). */
uint64_t dirty_window_bytes(const DirtyWindow *w);

#endif /* QEMU_DIRTY_WINDOW_H */
