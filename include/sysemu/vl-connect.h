/*
 * The start-up's wiring of the layers (softmmu/vl-connect.c).
 */
#ifndef SYSEMU_VL_CONNECT_H
#define SYSEMU_VL_CONNECT_H

/*
 * Hand softmmu/cpus.c the accelerator's ops, the before-run hooks and the
 * halt notifier.  Before machine_init(), with no vCPU; again for each VM
 * a process creates (it is idempotent).
 */
void vl_connect(void);

#endif /* SYSEMU_VL_CONNECT_H */
