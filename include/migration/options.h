/*
 * Migration's capabilities and parameters (migration/options.c): their
 * values, defaults, limits and checks.  The rest of migration/ reads
 * them here; QMP changes them (migrate-set-capabilities asks the
 * outgoing and incoming migrations first: migration-qmp-cmds.c).
 *
 * Threads: written by the main thread with the VM lock held.  The
 * bandwidth and downtime limits may change during a migration and are
 * atomics; capabilities and the convergence parameters change only
 * while no migration runs.
 */
#ifndef MIGRATION_OPTIONS_H
#define MIGRATION_OPTIONS_H

#include "migration/convergence.h"
#include "qapi/qapi-types.h"

/* QEMU 8.1's defaults and limits. */
#define MIGRATION_DEFAULT_MAX_BANDWIDTH  (128 * MiB)    /* bytes/s */
#define MIGRATION_DEFAULT_DOWNTIME_MS    300
#define MIGRATION_MAX_DOWNTIME_MS        2000000        /* 2000 s */
#define MIGRATION_DEFAULT_THROTTLE_INITIAL_PCT   20
#define MIGRATION_DEFAULT_THROTTLE_INCREMENT_PCT 10
#define MIGRATION_DEFAULT_MAX_THROTTLE_PCT       99
#define MIGRATION_DEFAULT_TRIGGER_THRESHOLD_PCT  50
#define MIGRATION_DEFAULT_DIRTY_LIMIT_PERIOD_MS  1000
#define MIGRATION_MAX_DIRTY_LIMIT_PERIOD_MS      1000
#define MIGRATION_DEFAULT_VCPU_DIRTY_LIMIT_MBPS  1

/* Is capability @cap on? */
bool migrate_cap(MigrationCapability cap);
/* The events capability: send MIGRATION and MIGRATION_PASS. */
bool migrate_events(void);
/* max-bandwidth, bytes/s (0: unlimited); any thread. */
uint64_t migrate_max_bandwidth(void);
/* downtime-limit, ms; any thread. */
uint64_t migrate_downtime_limit_ms(void);
/* The convergence policies' parameters. */
const ConvergenceParams *migrate_convergence_params(void);

/* Pure: are these capabilities allowed together (and with the ring)? */
bool migration_caps_check(const bool *caps, bool dirty_ring, Error **errp);
/*
 * Apply @changes to the capabilities: all of them, checked together, or
 * none (false, @errp set).  The caller has made sure no migration runs.
 */
bool migrate_caps_apply(MigrationCapabilityStatusList *changes,
                        Error **errp);

#endif /* MIGRATION_OPTIONS_H */
