/*
 * The incoming side of a migration (migration/incoming.c): listen on the
 * main loop, load the stream on the `migration-incoming` thread, then
 * hand the guest over (resume, or stay paused after -S).
 */
#ifndef MIGRATION_INCOMING_H
#define MIGRATION_INCOMING_H

#include "qapi/qapi-types.h"

/* MIGRATION_STATUS_NONE when this process never received. */
MigrationStatus migration_incoming_status(void);
/* query-migrate on a destination. */
MigrationInfo *migration_incoming_query(void);
void migration_incoming_shutdown(void);

#endif /* MIGRATION_INCOMING_H */
