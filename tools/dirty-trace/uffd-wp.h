/*
 * Watching a process's own writes: userfaultfd in asynchronous
 * write-protect mode plus the PAGEMAP_SCAN ioctl (Linux >= 6.7).
 *
 * Debian 12's kernel headers (6.1) predate both, so the few UAPI
 * definitions needed are spelled out here with the kernel's ABI values
 * (Documentation/admin-guide/mm/pagemap.rst, "PAGEMAP_SCAN", and
 * userfaultfd.rst), each guarded so newer headers win.
 *
 * No GLib and no allocation: this file is also built into the preloaded
 * library, which runs inside arbitrary programs.  Functions return 0 or
 * -errno.
 */
#ifndef DIRTY_TRACE_UFFD_WP_H
#define DIRTY_TRACE_UFFD_WP_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED     (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC           (1 << 15)
#endif

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED               (1 << 0)
#define PAGE_IS_WRITTEN                 (1 << 1)
#define PAGE_IS_FILE                    (1 << 2)
#define PAGE_IS_PRESENT                 (1 << 3)
#define PAGE_IS_SWAPPED                 (1 << 4)
#define PAGE_IS_PFNZERO                 (1 << 5)
#define PAGE_IS_HUGE                    (1 << 6)

struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};

#define PM_SCAN_WP_MATCHING             (1 << 0)
#define PM_SCAN_CHECK_WPASYNC           (1 << 1)

struct pm_scan_arg {
    __u64 size;
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};

#define PAGEMAP_SCAN                    _IOWR('f', 16, struct pm_scan_arg)
#endif /* PAGEMAP_SCAN */

/* The features the recorder cannot work without. */
#define UFFD_WP_FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)

/* One process's tracker: its userfaultfd and its own pagemap file. */
typedef struct UffdWp {
    int uffd;
    int pagemap_fd;
    uint64_t pagemap_dev;       /* what pagemap_fd must still be */
    uint64_t pagemap_ino;
} UffdWp;

/* Which of the tracker's fds the program took (closed, or reused). */
#define UFFD_WP_LOST_UFFD       (1u << 0)
#define UFFD_WP_LOST_PAGEMAP    (1u << 1)

/* What a scan wants: pages written since the last re-protection, or
 * (once, when a mapping is first seen) pages already written to. */
typedef enum UffdWpScanKind {
    UFFD_WP_SCAN_WRITTEN,
    UFFD_WP_SCAN_POPULATED,
} UffdWpScanKind;

/* Called with each range [first_page, first_page + page_count) found. */
typedef void UffdWpRangeFn(void *opaque, uint64_t first_page,
                           uint64_t page_count);

/* Open a userfaultfd with UFFD_WP_FEATURES and this process's pagemap.
 * *what names the step that failed. */
int uffd_wp_open(UffdWp *wp, const char **what);
void uffd_wp_close(UffdWp *wp);
/* A program may close every fd it did not open (daemons do), and reuse
 * the numbers: which of ours are no longer ours (UFFD_WP_LOST_*). */
unsigned uffd_wp_check_fds(const UffdWp *wp);
/* Forget the fds without closing them: they are the program's now. */
void uffd_wp_forget(UffdWp *wp);
/* Register [start, end) for async write-protect; then protect it (every
 * page, populated or not, reports its next write). */
int uffd_wp_register(UffdWp *wp, uint64_t start, uint64_t end);
int uffd_wp_protect(UffdWp *wp, uint64_t start, uint64_t end);
/*
 * Report the pages of [start, end) matching kind through fn, using vec
 * (vec_len entries) as the kernel's buffer; UFFD_WP_SCAN_WRITTEN
 * re-protects each page it reports in the same call.  -EPERM when part of
 * the range is not registered.  UFFD_WP_SCAN_POPULATED reports present
 * anonymous pages only (swapped-out ones look like protected empty
 * pages); run it after protecting, so no write falls between the two.
 */
int uffd_wp_scan(UffdWp *wp, uint64_t start, uint64_t end,
                 UffdWpScanKind kind, struct page_region *vec,
                 uint64_t vec_len, UffdWpRangeFn *fn, void *opaque);
/*
 * Prove the mechanism on a scratch mapping: write 3 of 8 pages, expect
 * exactly those 3 back, then none.  0 when it works, else -errno and a
 * sentence for the user in *why.
 */
int uffd_wp_probe(const char **why);

#endif /* DIRTY_TRACE_UFFD_WP_H */
