/*
 * MMIO dispatch: which device answers a guest access to an address that
 * no memslot backs (kvmtool's kvm__register_mmio, much reduced).
 *
 * The machine registers each device's window at start-up, before the
 * vCPU threads exist, and removes it after they ended; the accelerator
 * hands each MMIO exit to mmio_dispatch() without knowing the devices.
 */
#ifndef HW_CORE_MMIO_H
#define HW_CORE_MMIO_H

#include "hw/core/cpu.h"

/* Windows the machine may register at once. */
#define MMIO_MAX_REGIONS 8

/*
 * One access to a device, on @cpu's own thread: @offset from the start
 * of its window, @len bytes at @data (read: fill @data; write: it holds
 * the value, little-endian).
 */
typedef void MMIOHandler(void *opaque, CPUState *cpu, uint64_t offset,
                         uint8_t *data, uint32_t len, bool is_write);

/*
 * Route [@gpa, @gpa + @size) to @fn(@opaque, ...).  Fails when the window
 * is empty, wraps, overlaps another or the table is full.  No vCPU thread
 * may be running.
 */
bool mmio_region_add(uint64_t gpa, uint64_t size, MMIOHandler *fn,
                     void *opaque, Error **errp);
/* Remove the window that starts at @gpa (nothing if none).  Same rule. */
void mmio_region_del(uint64_t gpa);

/*
 * Hand an access at @gpa to the device whose window holds @gpa.  False
 * when none does: the caller treats it as unassigned memory.
 */
bool mmio_dispatch(CPUState *cpu, uint64_t gpa, uint8_t *data, uint32_t len,
                   bool is_write);

#endif /* HW_CORE_MMIO_H */
