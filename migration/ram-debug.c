/*
 * restraint's testing aids over guest RAM, for tests and the chaos
 * driver: x-query-ram-hash (a checksum of a range, to compare source and
 * destination) and x-check-stamp (is the stamp workload's region as its
 * visit counter says?).  Main thread, VM lock held.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"
#include "hw/machine.h"
#include "migration/incoming.h"
#include "migration/stream.h"
#include "qapi/qapi-commands.h"
#include "sysemu/cpus.h"
#include "sysemu/physmem.h"
#include "sysemu/runstate.h"

RamHashInfo *qmp_x_query_ram_hash(bool has_gpa, uint64_t gpa, bool has_size,
                                  uint64_t size, Error **errp)
{
    RamHashInfo *info;
    MigChecksum ck;
    void *host;

    gpa = has_gpa ? gpa : 0;
    size = has_size ? size : (gpa <= ram_size() ? ram_size() - gpa : 0);
    host = ram_host_ptr(gpa, size);
    if (!QEMU_IS_ALIGNED(gpa, RS_PAGE_SIZE) ||
        !QEMU_IS_ALIGNED(size, RS_PAGE_SIZE) || !host) {
        error_setg(errp, "x-query-ram-hash: [0x%" PRIx64 ", +0x%" PRIx64
                   ") is not a page-aligned range of guest RAM (0x%" PRIx64
                   " bytes)", gpa, size, ram_size());
        return NULL;
    }
    /*
     * The incoming thread writes guest RAM without the VM lock while
     * active; it ends under the lock, so a status read here is stable.
     */
    if (migration_incoming_status() == MIGRATION_STATUS_ACTIVE) {
        error_setg(errp, "x-query-ram-hash: an incoming migration is "
                   "loading guest RAM; ask again once it has ended");
        return NULL;
    }
    mig_checksum_init(&ck);
    mig_checksum_update(&ck, host, size);
    info = g_new0(RamHashInfo, 1);
    info->gpa = gpa;
    info->size = size;
    info->hash = g_strdup_printf("%016" PRIx64, mig_checksum_final(&ck));
    return info;
}

StampCheckInfo *qmp_x_check_stamp(int64_t cpu_index, Error **errp)
{
    StampCheckInfo *info;
    struct rs_ctl *ctl;
    uint64_t pages, visits, stamp, next;
    uint8_t *region;

    if (runstate_is_running()) {
        error_setg(errp, "x-check-stamp: stop the VM first");
        return NULL;
    }
    if (cpu_index < 0 || cpu_index >= cpus_count()) {
        error_setg(errp, "x-check-stamp: cpu %" PRId64 " does not exist",
                   cpu_index);
        return NULL;
    }
    ctl = machine_ctl(cpu_index);
    pages = ctl->region_size / RS_PAGE_SIZE;
    region = ram_host_ptr(ctl->region_gpa, ctl->region_size);
    if (ctl->kind != RS_WL_STAMP || ctl->pattern != RS_PAT_SEQ ||
        ctl->seen_generation != ctl->generation || !pages || !region) {
        error_setg(errp, "x-check-stamp: cpu %" PRId64 " does not run the "
                   "seq stamp workload", cpu_index);
        return NULL;
    }
    /* visits is exact in any snapshot (guest-abi.h); derive the rest. */
    visits = ctl->visits;
    stamp = 1 + visits / pages;
    next = visits % pages;
    info = g_new0(StampCheckInfo, 1);
    info->cpu_index = cpu_index;
    info->stamp = stamp;
    info->pages = pages;
    for (uint64_t p = 0; p < pages; p++) {
        uint64_t word;
        uint64_t want = p < next ? stamp : stamp - 1;

        memcpy(&word, region + p * RS_PAGE_SIZE, sizeof(word));
        /* The page being written when the vCPU stopped may hold either. */
        if (word == want || (p == next && word == stamp)) {
            continue;
        }
        if (!info->bad_pages++) {
            info->has_first_bad_page = true;
            info->first_bad_page = p;
        }
    }
    return info;
}
