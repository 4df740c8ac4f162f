/*
 * userfaultfd async write-protect + PAGEMAP_SCAN: the kernel side of
 * the recorder, shared by the preloaded library and the front end's
 * probe.  See uffd-wp.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd-wp.h"

#define UFFD_WP_PAGE_BYTES 4096u

static int uffd_wp_syscall_open(void)
{
    int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

    if (fd < 0 && errno == EPERM) {
        /* Unprivileged users may still watch their own user-mode faults. */
        fd = syscall(SYS_userfaultfd,
                     O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    }
    return fd < 0 ? -errno : fd;
}

int uffd_wp_open(UffdWp *wp, const char **what)
{
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_WP_FEATURES };
    struct stat st;
    int ret;

    wp->uffd = uffd_wp_syscall_open();
    wp->pagemap_fd = -1;
    if (wp->uffd < 0) {
        *what = "userfaultfd";
        return wp->uffd;
    }
    if (ioctl(wp->uffd, UFFDIO_API, &api) < 0 ||
        (api.features & UFFD_WP_FEATURES) != UFFD_WP_FEATURES) {
        ret = errno ? -errno : -EINVAL;
        *what = "UFFDIO_API with UFFD_FEATURE_WP_ASYNC";
        goto fail;
    }
    wp->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (wp->pagemap_fd < 0 || fstat(wp->pagemap_fd, &st) < 0) {
        ret = -errno;
        *what = "/proc/self/pagemap";
        goto fail;
    }
    wp->pagemap_dev = st.st_dev;
    wp->pagemap_ino = st.st_ino;
    return 0;

fail:
    close(wp->uffd);
    wp->uffd = -1;
    return ret;
}

void uffd_wp_close(UffdWp *wp)
{
    if (wp->uffd >= 0) {
        close(wp->uffd);
    }
    if (wp->pagemap_fd >= 0) {
        close(wp->pagemap_fd);
    }
    wp->uffd = wp->pagemap_fd = -1;
}

unsigned uffd_wp_check_fds(const UffdWp *wp)
{
    static const char uffd_link[] = "anon_inode:[userfaultfd]";
    char path[64], link[sizeof(uffd_link) + 1];
    unsigned lost = 0;
    struct stat st;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", wp->uffd);
    n = readlink(path, link, sizeof(link) - 1);
    if (n != (ssize_t)sizeof(uffd_link) - 1 ||
        memcmp(link, uffd_link, n) != 0) {
        lost |= UFFD_WP_LOST_UFFD;
    }
    if (fstat(wp->pagemap_fd, &st) < 0 || st.st_dev != wp->pagemap_dev ||
        st.st_ino != wp->pagemap_ino) {
        lost |= UFFD_WP_LOST_PAGEMAP;
    }
    return lost;
}

void uffd_wp_forget(UffdWp *wp)
{
    wp->uffd = wp->pagemap_fd = -1;
}

int uffd_wp_register(UffdWp *wp, uint64_t start, uint64_t end)
{
    struct uffdio_register reg = {
        .range = { .start = start, .len = end - start },
        .mode = UFFDIO_REGISTER_MODE_WP,
    };

    return ioctl(wp->uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

int uffd_wp_protect(UffdWp *wp, uint64_t start, uint64_t end)
{
    struct uffdio_writeprotect protect = {
        .range = { .start = start, .len = end - start },
        .mode = UFFDIO_WRITEPROTECT_MODE_WP,
    };

    return ioctl(wp->uffd, UFFDIO_WRITEPROTECT, &protect) < 0 ? -errno : 0;
}

int uffd_wp_scan(UffdWp *wp, uint64_t start, uint64_t end,
                 UffdWpScanKind kind, struct page_region *vec,
                 uint64_t vec_len, UffdWpRangeFn *fn, void *opaque)
{
    struct pm_scan_arg arg = {
        .size = sizeof(arg),
        .vec = (uintptr_t)vec,
        .vec_len = vec_len,
    };

    if (kind == UFFD_WP_SCAN_WRITTEN) {
        arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        arg.category_mask = PAGE_IS_WRITTEN;
        arg.return_mask = PAGE_IS_WRITTEN;
    } else {
        /* Private anonymous contents: present, not a page cache page
         * and not the shared zero page (a read).  Not swapped: once the
         * range is protected, an empty page holds a marker, which reads
         * as swapped. */
        arg.flags = PM_SCAN_CHECK_WPASYNC;
        arg.category_mask = PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_PFNZERO;
        arg.category_inverted = PAGE_IS_FILE | PAGE_IS_PFNZERO;
        arg.return_mask = PAGE_IS_PRESENT;
    }
    while (start < end) {
        long n;

        arg.start = start;
        arg.end = end;
        arg.walk_end = 0;
        n = ioctl(wp->pagemap_fd, PAGEMAP_SCAN, &arg);
        if (n < 0) {
            return -errno;
        }
        for (long i = 0; i < n; i++) {
            fn(opaque, vec[i].start / UFFD_WP_PAGE_BYTES,
               (vec[i].end - vec[i].start) / UFFD_WP_PAGE_BYTES);
        }
        if (arg.walk_end <= start) {
            return -EIO;        /* no progress: never spin */
        }
        start = arg.walk_end;
    }
    return 0;
}

typedef struct UffdWpProbeCount {
    uint64_t base_page;
    uint64_t pages;
    uint64_t mask;              /* bit i: page base + i reported */
} UffdWpProbeCount;

static void uffd_wp_probe_range(void *opaque, uint64_t first_page,
                                uint64_t page_count)
{
    UffdWpProbeCount *c = opaque;

    for (uint64_t p = first_page; p < first_page + page_count; p++) {
        c->pages++;
        if (p >= c->base_page && p - c->base_page < 64) {
            c->mask |= 1ull << (p - c->base_page);
        }
    }
}

static const char *uffd_wp_probe_why(const char *what, int err)
{
    if (strcmp(what, "userfaultfd") == 0) {
        return err == -ENOSYS ? "the kernel has no userfaultfd"
            : "userfaultfd is not permitted here (see "
              "vm.unprivileged_userfaultfd)";
    }
    if (strcmp(what, "/proc/self/pagemap") == 0) {
        return "cannot open /proc/self/pagemap";
    }
    return "the kernel's userfaultfd lacks asynchronous write-protect "
           "(UFFD_FEATURE_WP_ASYNC, Linux >= 6.7)";
}

int uffd_wp_probe(const char **why)
{
    enum { PROBE_PAGES = 8 };
    const uint64_t written_mask = (1u << 1) | (1u << 4) | (1u << 5);
    struct page_region vec[PROBE_PAGES];
    UffdWpProbeCount count = { 0 };
    const char *what = "";
    UffdWp wp;
    uint8_t *mem;
    uint64_t start, end;
    int ret;

    mem = mmap(NULL, PROBE_PAGES * UFFD_WP_PAGE_BYTES, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        *why = "cannot map a scratch area";
        return -errno;
    }
    start = (uintptr_t)mem;
    end = start + PROBE_PAGES * UFFD_WP_PAGE_BYTES;
    ret = uffd_wp_open(&wp, &what);
    if (ret < 0) {
        *why = uffd_wp_probe_why(what, ret);
        goto out_unmap;
    }
    ret = uffd_wp_register(&wp, start, end);
    if (ret == 0) {
        ret = uffd_wp_protect(&wp, start, end);
    }
    if (ret < 0) {
        *why = "cannot register memory for userfaultfd write-protect";
        goto out;
    }
    for (int i = 0; i < PROBE_PAGES; i++) {
        if (written_mask & (1u << i)) {
            mem[i * UFFD_WP_PAGE_BYTES] = 1;
        }
    }
    count.base_page = start / UFFD_WP_PAGE_BYTES;
    ret = uffd_wp_scan(&wp, start, end, UFFD_WP_SCAN_WRITTEN, vec,
                       PROBE_PAGES, uffd_wp_probe_range, &count);
    if (ret == -ENOTTY || ret == -EINVAL) {
        *why = "the kernel has no PAGEMAP_SCAN ioctl (Linux >= 6.7)";
        goto out;
    }
    if (ret < 0 || count.mask != written_mask || count.pages != 3) {
        *why = "PAGEMAP_SCAN did not report exactly the pages written";
        ret = ret < 0 ? ret : -EIO;
        goto out;
    }
    count = (UffdWpProbeCount) { .base_page = start / UFFD_WP_PAGE_BYTES };
    ret = uffd_wp_scan(&wp, start, end, UFFD_WP_SCAN_WRITTEN, vec,
                       PROBE_PAGES, uffd_wp_probe_range, &count);
    if (ret == 0 && count.pages != 0) {
        *why = "PAGEMAP_SCAN did not re-protect the pages it reported";
        ret = -EIO;
    }
out:
    uffd_wp_close(&wp);
out_unmap:
    munmap(mem, PROBE_PAGES * UFFD_WP_PAGE_BYTES);
    return ret;
}
