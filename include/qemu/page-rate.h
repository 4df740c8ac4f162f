/*
 * Guest pages and MB/s: the one conversion between a count of guest
 * pages (RS_PAGE_SIZE bytes each) and a rate in MB/s, MB = 2^20 bytes,
 * the unit of every dirty rate and limit in QMP and HMP (as in QEMU).
 */
#ifndef QEMU_PAGE_RATE_H
#define QEMU_PAGE_RATE_H

#include "hw/guest-abi.h"
#include "qemu/osdep.h"

/* Guest pages in one MB: 256 with 4 KiB pages. */
#define PAGES_PER_MB (MiB / RS_PAGE_SIZE)

/* @pages_per_s guest pages a second, in MB/s. */
static inline double pages_per_s_to_mbps(double pages_per_s)
{
    return pages_per_s * RS_PAGE_SIZE / MiB;
}

#endif /* QEMU_PAGE_RATE_H */
