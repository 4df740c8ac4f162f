/*
 * HMP commands of softmmu, each a thin wrapper over its qmp_ function;
 * listed in monitor/hmp-commands.c.  They stand next to the code they
 * print (softmmu/NAME-hmp-cmds.c) and belong to the monitor's layer.
 */
#ifndef SYSEMU_SYSEMU_HMP_H
#define SYSEMU_SYSEMU_HMP_H

#include "monitor/hmp.h"

/* softmmu/dirtylimit-hmp-cmds.c */
void hmp_set_vcpu_dirty_limit(Monitor *mon, int argc, char **argv);
void hmp_cancel_vcpu_dirty_limit(Monitor *mon, int argc, char **argv);
void hmp_info_vcpu_dirty_limit(Monitor *mon, int argc, char **argv);
void hmp_x_dirty_limit_policy(Monitor *mon, int argc, char **argv);

/* softmmu/memory-hmp-cmds.c */
void hmp_info_dirty_tracking(Monitor *mon, int argc, char **argv);

#endif /* SYSEMU_SYSEMU_HMP_H */
