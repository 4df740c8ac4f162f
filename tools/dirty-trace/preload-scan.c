/*
 * The preloaded library's interval pass: walk /proc/self/maps, register
 * new mappings, collect the written pages, append the record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "preload.h"

uint64_t dt_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool dt_write_all(int fd, struct iovec *iov, int iov_count)
{
    while (iov_count > 0) {
        ssize_t n = writev(fd, iov, iov_count);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        while (iov_count > 0 && (size_t)n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            iov_count--;
        }
        if (iov_count > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return true;
}

static void dt_read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

    buf[n > 0 ? n : 0] = '\0';
    if (fd >= 0) {
        close(fd);
    }
}

/* Append the filled record and start a new one (same seq: a long
 * interval continues). */
static void dt_flush_record(DtState *s, uint32_t flags)
{
    char statm[128];
    char comm[DT_RAW_COMM_BYTES + 1];
    struct iovec iov[2];
    unsigned long size_pages = 0, rss_pages = 0;

    dt_read_small("/proc/self/statm", statm, sizeof(statm));
    if (sscanf(statm, "%lu %lu", &size_pages, &rss_pages) != 2) {
        rss_pages = 0;
    }
    dt_read_small("/proc/self/comm", comm, sizeof(comm));
    comm[strcspn(comm, "\n")] = '\0';
    s->rec.magic = DT_RAW_INTERVAL_MAGIC;
    s->rec.seq = s->seq;
    s->rec.start_ns = s->interval_start_ns;
    s->rec.end_ns = dt_now_ns();
    s->rec.rss_pages = rss_pages;
    s->rec.flags = flags;
    memset(s->rec.comm, 0, sizeof(s->rec.comm));
    memcpy(s->rec.comm, comm, strnlen(comm, DT_RAW_COMM_BYTES));
    iov[0] = (struct iovec) { &s->rec, sizeof(s->rec) };
    iov[1] = (struct iovec) { s->ranges,
                              s->rec.range_count * sizeof(DtRawRange) };
    if (s->out_fd >= 0 && !dt_write_all(s->out_fd, iov, 2)) {
        /* The spool is gone (disk full, fd closed): stop recording
         * rather than disturb the program. */
        close(s->out_fd);
        s->out_fd = -1;
    }
    s->rec.range_count = 0;
}

static void dt_add_range(void *opaque, uint64_t first_page,
                         uint64_t page_count)
{
    DtState *s = opaque;

    if (s->rec.range_count == DT_RANGE_CAPACITY) {
        dt_flush_record(s, 0);
    }
    s->ranges[s->rec.range_count++] = (DtRawRange) { first_page, page_count };
}

/* Scan [start, end), registering it first if it is new to us. */
static void dt_track_range(DtState *s, uint64_t start, uint64_t end,
                           bool sweep_new)
{
    int ret = uffd_wp_scan(&s->wp, start, end, UFFD_WP_SCAN_WRITTEN, s->vec,
                           DT_SCAN_VEC_ENTRIES, dt_add_range, s);

    if (ret != -EPERM) {
        return;                 /* tracked already (or vanished meanwhile) */
    }
    if (uffd_wp_register(&s->wp, start, end) < 0 ||
        uffd_wp_protect(&s->wp, start, end) < 0) {
        return;                 /* a kind of mapping uffd-wp cannot watch */
    }
    /*
     * Pages written before we saw the mapping count for this interval:
     * the ones present now.  Swept after protecting, so a write racing
     * with us is counted twice (here and at the next scan), never lost.
     */
    if (sweep_new) {
        uffd_wp_scan(&s->wp, start, end, UFFD_WP_SCAN_POPULATED, s->vec,
                     DT_SCAN_VEC_ENTRIES, dt_add_range, s);
    }
}

/* Track [start, end) minus the library's own regions. */
static void dt_track_mapping(DtState *s, uint64_t start, uint64_t end,
                             bool sweep_new)
{
    for (int i = 0; i < DT_OWN_REGIONS && start < end; i++) {
        const DtOwnRegion *own = &s->own[i];

        if (own->end <= start || own->start >= end) {
            continue;
        }
        if (own->start > start) {
            dt_track_mapping(s, start, own->start, sweep_new);
        }
        start = own->end;
    }
    if (start < end) {
        dt_track_range(s, start, end, sweep_new);
    }
}

/* One line of /proc/self/maps: track it if private and writable. */
static void dt_maps_line(DtState *s, const char *line, bool sweep_new)
{
    unsigned long long start, end;
    char perms[8];
    int name_at = 0;

    if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &start, &end, perms,
               &name_at) < 3) {
        return;
    }
    if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p') {
        return;
    }
    /* Kernel-provided pages (vdso data, vsyscall) are not the program's. */
    if (name_at > 0 && (strncmp(line + name_at, "[vvar", 5) == 0 ||
                        strncmp(line + name_at, "[vdso", 5) == 0 ||
                        strncmp(line + name_at, "[vsyscall", 9) == 0)) {
        return;
    }
    if (end - start > DT_MAX_TRACKED_MAPPING_BYTES) {
        if (!s->warned_huge) {
            fprintf(stderr, "dirty-trace: pid %d: not tracking the %llu GiB "
                    "mapping at 0x%llx (over %llu GiB)\n", (int)getpid(),
                    (end - start) >> 30, start,
                    DT_MAX_TRACKED_MAPPING_BYTES >> 30);
            s->warned_huge = true;
        }
        return;
    }
    dt_track_mapping(s, start, end, sweep_new);
}

static void dt_walk_maps(DtState *s, bool sweep_new)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t used = 0;

    if (fd < 0) {
        return;
    }
    for (;;) {
        ssize_t n = read(fd, s->maps + used, DT_MAPS_CHUNK_BYTES - used);
        char *line = s->maps, *nl;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        used += n;
        s->maps[used] = '\0';
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            dt_maps_line(s, line, sweep_new);
            line = nl + 1;
        }
        used -= line - s->maps;
        memmove(s->maps, line, used);
        if (used == DT_MAPS_CHUNK_BYTES) {
            used = 0;           /* a line longer than a chunk: drop it */
        }
    }
    close(fd);
}

void dt_note_spool(DtState *s)
{
    struct stat st;

    if (s->out_fd >= 0 && fstat(s->out_fd, &st) == 0) {
        s->out_dev = st.st_dev;
        s->out_ino = st.st_ino;
    }
}

/*
 * A daemon closes every fd it did not open and may reuse the numbers:
 * never write into its files, and take our fds back.  A new userfaultfd
 * starts with nothing registered; true then, as pages written since the
 * last tick in the old registrations cannot be told apart any more.
 */
static bool dt_recover_fds(DtState *s)
{
    struct stat st;
    unsigned lost;
    const char *what;

    if (s->out_fd >= 0 &&
        (fstat(s->out_fd, &st) < 0 || st.st_dev != s->out_dev ||
         st.st_ino != s->out_ino)) {
        s->out_fd = open(s->out_path, O_WRONLY | O_APPEND | O_CLOEXEC);
        dt_note_spool(s);
    }
    if (s->wp.uffd < 0) {
        return false;
    }
    lost = uffd_wp_check_fds(&s->wp);
    if (!lost) {
        return false;
    }
    if (!(lost & UFFD_WP_LOST_UFFD)) {
        close(s->wp.uffd);
    }
    if (!(lost & UFFD_WP_LOST_PAGEMAP)) {
        close(s->wp.pagemap_fd);
    }
    uffd_wp_forget(&s->wp);
    uffd_wp_open(&s->wp, &what);
    return true;
}

void dt_tick_locked(DtState *s, bool sweep_new, bool emit, uint32_t flags)
{
    if (dt_recover_fds(s)) {
        sweep_new = false;
    }
    if (s->wp.uffd >= 0) {
        dt_walk_maps(s, sweep_new);
    }
    if (emit) {
        dt_flush_record(s, flags);
        s->interval_start_ns = s->rec.end_ns;
        s->seq++;
    }
}
