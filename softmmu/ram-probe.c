/*
 * Which pages of guest RAM the host has never backed, from
 * /proc/self/pagemap (8 bytes per host page; present and swapped bits are
 * readable without privileges).  Guest RAM is private anonymous memory,
 * so a page neither present nor swapped out has never been written and
 * reads as zero: migration's first pass sends it as a zero page without
 * touching it, which would cost a fault and a page-table entry each
 * (a mostly-empty 64 GiB guest: 16 M faults, 128 MiB of page tables).
 */
#include "qemu/osdep.h"

#include <fcntl.h>

#include "hw/guest-abi.h"
#include "sysemu/physmem.h"
#include "trace.h"

#define PAGEMAP_PRESENT (UINT64_C(1) << 63)
#define PAGEMAP_SWAPPED (UINT64_C(1) << 62)
#define PAGEMAP_ENTRY_BYTES 8

typedef struct RamProbe {
    int fd;                     /* /proc/self/pagemap, -1 before opening */
    bool unavailable;           /* opening failed once: do not retry */
} RamProbe;

static RamProbe probe = { .fd = -1 };
static GOnce probe_once = G_ONCE_INIT;

static gpointer ram_probe_open(gpointer opaque)
{
    probe.fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    probe.unavailable = probe.fd < 0;
    trace_ram_probe_open(probe.fd >= 0);
    return NULL;
}

bool ram_probe_untouched(uint64_t first_page, uint64_t n,
                         uint64_t *untouched)
{
    uint64_t entries[RAM_PROBE_MAX_PAGES];
    uintptr_t host = (uintptr_t)ram_host_base() + first_page * RS_PAGE_SIZE;
    off_t offset = (off_t)(host / RS_PAGE_SIZE) * PAGEMAP_ENTRY_BYTES;
    size_t bytes = n * PAGEMAP_ENTRY_BYTES;

    assert(n <= RAM_PROBE_MAX_PAGES && first_page + n <= ram_pages());
    g_once(&probe_once, ram_probe_open, NULL);
    if (probe.unavailable ||
        pread(probe.fd, entries, bytes, offset) != (ssize_t)bytes) {
        return false;
    }
    memset(untouched, 0, DIV_ROUND_UP(n, 64) * sizeof(uint64_t));
    for (uint64_t i = 0; i < n; i++) {
        if (!(entries[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))) {
            untouched[i / 64] |= UINT64_C(1) << (i % 64);
        }
    }
    return true;
}
