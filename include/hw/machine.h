/*
 * The machine: what guest RAM holds (page tables, the guest program, the
 * control blocks) and the workload slices.  The start-up owns RAM and the
 * vCPUs (softmmu/vl-machine.c puts it all together in order) and hands the
 * machine its RAM: nothing here calls up into softmmu.
 */
#ifndef HW_MACHINE_H
#define HW_MACHINE_H

#include "sysemu/vl-options.h"

/* Check the shape (-m against -smp, the host's vCPU limit); no RAM yet. */
bool machine_configure(const VLOptions *opts, Error **errp);
/*
 * Lay out @ram (@ram_bytes, GPA 0 up) with page tables and the guest
 * program and start the doorbell.  Undoes itself when it fails.
 */
bool machine_load(const VLOptions *opts, uint8_t *ram, uint64_t ram_bytes,
                  Error **errp);
/* Where the vCPUs start: the loaded program's entry point. */
uint64_t machine_entry_rip(void);
/* With the vCPUs created: each one's control block and -workload. */
bool machine_start_ctls(const VLOptions *opts, Error **errp);
/* Stop the doorbell and forget the RAM (the start-up frees it after). */
void machine_unload(void);

/* Workload memory each vCPU owns: [region_base, region_base + slice). */
uint64_t machine_slice_bytes(void);
uint64_t machine_slice_base(int cpu_index);
/* Host pointer to [gpa, gpa + len) of the RAM handed over, or NULL. */
void *machine_ram_ptr(uint64_t gpa, uint64_t len);
/* The rs_ctl of @cpu_index, in guest RAM. */
struct rs_ctl *machine_ctl(int cpu_index);

#endif /* HW_MACHINE_H */
