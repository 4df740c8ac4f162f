/*
 * The doorbell MMIO device: how the built-in guest talks to the VMM
 * (sleep, event, panic).  One page at RS_DOORBELL_GPA, no memslot.
 */
#ifndef HW_DOORBELL_H
#define HW_DOORBELL_H

#include "hw/core/cpu.h"

/* Longest sleep one doorbell store may ask for: bounds a bad guest. */
#define DOORBELL_MAX_SLEEP_US 1000000

/* The guest's control block of vCPU @cpu_index (the machine knows). */
typedef struct rs_ctl *DoorbellCtlFn(int cpu_index);

/*
 * Put the doorbell's page in the MMIO dispatch table (machine start-up,
 * before the vCPU threads exist) and take it out (after they ended).
 * @ctl_of finds the control block a RS_DB_WAIT_GEN store waits on.
 */
bool doorbell_init(DoorbellCtlFn *ctl_of, Error **errp);
void doorbell_cleanup(void);

#endif /* HW_DOORBELL_H */
