/*
 * What the rest of restraint calls in migration: start-up for -incoming
 * and the end of the process.  Main thread.
 */
#ifndef MIGRATION_MISC_H
#define MIGRATION_MISC_H

/*
 * -incoming URI|defer: with a URI, listen now (errors end start-up);
 * with "defer", wait for migrate-incoming.  @autostart: run the guest
 * once the migration completes (no -S).  VM lock not held.
 */
bool migration_incoming_init(const char *uri, bool autostart, Error **errp);

/*
 * The process is ending: cancel an outgoing migration, abort an
 * incoming one, and join their threads.  VM lock not held.
 */
void migration_shutdown(void);

#endif /* MIGRATION_MISC_H */
