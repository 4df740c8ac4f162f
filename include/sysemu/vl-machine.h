/*
 * The start-up's machine: guest RAM, the machine's layout of it and the
 * vCPUs, put together in order and taken apart in reverse.  Called by
 * main() and by the tests' VMs.
 */
#ifndef SYSEMU_VL_MACHINE_H
#define SYSEMU_VL_MACHINE_H

#include "sysemu/vl-options.h"

bool machine_init(const VLOptions *opts, Error **errp);
void machine_cleanup(void);

#endif /* SYSEMU_VL_MACHINE_H */
