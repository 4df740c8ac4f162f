/*
 * HMP commands of migration (migration/migration-hmp-cmds.c), each a
 * thin wrapper over its qmp_ function; listed in monitor/hmp-commands.c.
 */
#ifndef MIGRATION_MIGRATION_HMP_H
#define MIGRATION_MIGRATION_HMP_H

#include "monitor/hmp.h"

void hmp_migrate(Monitor *mon, int argc, char **argv);
void hmp_migrate_cancel(Monitor *mon, int argc, char **argv);
void hmp_migrate_incoming(Monitor *mon, int argc, char **argv);
void hmp_migrate_continue(Monitor *mon, int argc, char **argv);
void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv);
void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv);
void hmp_info_migrate(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv);

#endif /* MIGRATION_MIGRATION_HMP_H */
