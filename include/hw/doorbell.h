/*
 * The doorbell MMIO device: how the built-in guest talks to the VMM
 * (sleep, event, panic).  One page at RS_DOORBELL_GPA, no memslot.
 */
#ifndef HW_DOORBELL_H
#define HW_DOORBELL_H

#include "hw/core/cpu.h"

/* Longest sleep one doorbell store may ask for: bounds a bad guest. */
#define DOORBELL_MAX_SLEEP_US 1000000

/*
 * Handle a KVM_EXIT_MMIO on @cpu's thread.  Returns false when the access
 * is not the doorbell's (the caller treats it as unassigned memory).
 */
bool doorbell_mmio(CPUState *cpu, uint64_t gpa, uint8_t *data, uint32_t len,
                   bool is_write);

#endif /* HW_DOORBELL_H */
