/*
 * MMIO dispatch: a short table of device windows, looked up on each
 * MMIO exit.  The table only changes while no vCPU thread exists
 * (machine start-up and teardown), so the lookup takes no lock.
 */
#include "qemu/osdep.h"

#include "hw/core/mmio.h"

typedef struct MMIORegion {
    uint64_t gpa;
    uint64_t size;
    MMIOHandler *fn;
    void *opaque;
} MMIORegion;

typedef struct MMIOTable {
    MMIORegion regions[MMIO_MAX_REGIONS];
    int n;
} MMIOTable;

static MMIOTable mmio;

bool mmio_region_add(uint64_t gpa, uint64_t size, MMIOHandler *fn,
                     void *opaque, Error **errp)
{
    if (size == 0 || gpa + size < gpa) {
        error_setg(errp, "mmio: bad window [0x%" PRIx64 ", +0x%" PRIx64 ")",
                   gpa, size);
        return false;
    }
    for (int i = 0; i < mmio.n; i++) {
        const MMIORegion *r = &mmio.regions[i];

        if (gpa < r->gpa + r->size && r->gpa < gpa + size) {
            error_setg(errp, "mmio: window [0x%" PRIx64 ", +0x%" PRIx64
                       ") overlaps [0x%" PRIx64 ", +0x%" PRIx64 ")",
                       gpa, size, r->gpa, r->size);
            return false;
        }
    }
    if (mmio.n == MMIO_MAX_REGIONS) {
        error_setg(errp, "mmio: more than %d windows", MMIO_MAX_REGIONS);
        return false;
    }
    mmio.regions[mmio.n++] = (MMIORegion) {
        .gpa = gpa, .size = size, .fn = fn, .opaque = opaque,
    };
    return true;
}

void mmio_region_del(uint64_t gpa)
{
    for (int i = 0; i < mmio.n; i++) {
        if (mmio.regions[i].gpa == gpa) {
            mmio.regions[i] = mmio.regions[--mmio.n];
            return;
        }
    }
}

bool mmio_dispatch(CPUState *cpu, uint64_t gpa, uint8_t *data, uint32_t len,
                   bool is_write)
{
    for (int i = 0; i < mmio.n; i++) {
        const MMIORegion *r = &mmio.regions[i];

        if (gpa >= r->gpa && gpa - r->gpa < r->size) {
            r->fn(r->opaque, cpu, gpa - r->gpa, data, len, is_write);
            return true;
        }
    }
    return false;
}
