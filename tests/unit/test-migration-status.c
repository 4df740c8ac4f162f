/*
 * The migration status under two writers: migrate_cancel (main thread)
 * and the migration thread both move it by compare-and-swap.  The other
 * writer is played between the load and the swap, deterministically.
 */
#include "qemu/osdep.h"

#include "migration/migration.h"
#include "qemu/atomic.h"

/* migrate_cancel's step, with the migration thread moving the status to
 * @thread_moves_to the first time the step looks (after the load). */
typedef struct Interleaving {
    int *status;
    MigrationStatus thread_moves_to;
    int looks;
} Interleaving;

static MigrationStatus cancel_while_the_thread_moves(MigrationStatus now,
                                                     void *opaque)
{
    Interleaving *il = opaque;

    if (il->looks++ == 0) {
        qatomic_set_seq(il->status, il->thread_moves_to);
    }
    return migration_status_next_cancel(now, NULL);
}

static const struct {
    const char *name;
    MigrationStatus before, thread_moves_to, after;
} race_cases[] = {
    { "active, the thread enters device: cancelling",
      MIGRATION_STATUS_ACTIVE, MIGRATION_STATUS_DEVICE,
      MIGRATION_STATUS_CANCELLING },
    { "setup, the thread goes active: cancelling",
      MIGRATION_STATUS_SETUP, MIGRATION_STATUS_ACTIVE,
      MIGRATION_STATUS_CANCELLING },
    { "active, the thread pauses before switchover: cancelling",
      MIGRATION_STATUS_ACTIVE, MIGRATION_STATUS_PRE_SWITCHOVER,
      MIGRATION_STATUS_CANCELLING },
    { "device, the thread completes: completed stays",
      MIGRATION_STATUS_DEVICE, MIGRATION_STATUS_COMPLETED,
      MIGRATION_STATUS_COMPLETED },
    { "active, the thread fails: failed stays",
      MIGRATION_STATUS_ACTIVE, MIGRATION_STATUS_FAILED,
      MIGRATION_STATUS_FAILED },
};

static void test_cancel_is_not_lost_when_the_thread_moves_the_status(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(race_cases); i++) {
        int status = race_cases[i].before;
        Interleaving il = {
            .status = &status,
            .thread_moves_to = race_cases[i].thread_moves_to,
        };

        migration_status_update(&status, cancel_while_the_thread_moves, &il);
        if (status != (int)race_cases[i].after) {
            g_test_message("%s: ended %s", race_cases[i].name,
                           MigrationStatus_str(status));
            g_test_fail();
        }
    }
}

static void test_cancel_moves_only_active_statuses(void)
{
    for (int from = 0; from < MIGRATION_STATUS__MAX; from++) {
        int status = from;
        MigrationStatus want = migration_status_is_active(from) ?
                               MIGRATION_STATUS_CANCELLING : from;

        g_assert_cmpint(migration_status_update(&status,
                                                migration_status_next_cancel,
                                                NULL), ==, from);
        g_assert_cmpstr(MigrationStatus_str(status), ==,
                        MigrationStatus_str(want));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/status/cancel-is-not-lost-when-the-thread-"
                    "moves-the-status",
                    test_cancel_is_not_lost_when_the_thread_moves_the_status);
    g_test_add_func("/migration/status/cancel-moves-only-active-statuses",
                    test_cancel_moves_only_active_statuses);
    return g_test_run();
}
