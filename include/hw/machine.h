/*
 * The machine: RAM, page tables, the guest program, control blocks and
 * vCPUs, put together in order and taken apart in reverse.
 */
#ifndef HW_MACHINE_H
#define HW_MACHINE_H

#include "sysemu/vl-options.h"

bool machine_init(const VLOptions *opts, Error **errp);
void machine_cleanup(void);

/* Workload memory each vCPU owns: [region_base, region_base + slice). */
uint64_t machine_slice_bytes(void);
uint64_t machine_slice_base(int cpu_index);
/* The rs_ctl of @cpu_index, in guest RAM. */
struct rs_ctl *machine_ctl(int cpu_index);

#endif /* HW_MACHINE_H */
