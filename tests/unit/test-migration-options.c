/*
 * Migration's capabilities and parameters (migration/options.c): QEMU's
 * defaults, and that a rejected change changes nothing, whether it is a
 * list of capabilities, a set of parameters or a change while a
 * migration runs.  No KVM here: the dirty ring is absent.
 */
#include "qemu/osdep.h"

#include "migration/migration.h"
#include "migration/options.h"
#include "qapi/qapi-commands.h"

/* Where a call that must succeed puts its error: checked by ok(). */
static Error *unexpected;

static void ok(void)
{
    if (unexpected) {
        g_error("unexpected error: %s", error_get_pretty(unexpected));
    }
}

static MigrationCapabilityStatusList *caps_list(MigrationCapabilityStatusList
                                                *next, MigrationCapability c,
                                                bool state)
{
    MigrationCapabilityStatusList *l = g_new0(MigrationCapabilityStatusList,
                                              1);

    l->value = g_new0(MigrationCapabilityStatus, 1);
    l->value->capability = c;
    l->value->state = state;
    l->next = next;
    return l;
}

static void caps_list_free(MigrationCapabilityStatusList *l)
{
    while (l) {
        MigrationCapabilityStatusList *next = l->next;

        g_free(l->value);
        g_free(l);
        l = next;
    }
}

/* Turn every capability off again (succeeds without the ring). */
static void caps_reset(void)
{
    MigrationCapabilityStatusList *l = NULL;

    for (int c = 0; c < MIGRATION_CAPABILITY__MAX; c++) {
        l = caps_list(l, c, false);
    }
    g_assert_true(migrate_caps_apply(l, &unexpected));
    ok();
    caps_list_free(l);
}

static void test_parameters_start_at_qemus_defaults(void)
{
    MigrationParameters *mp = qmp_query_migrate_parameters(&unexpected);

    ok();
    g_assert_cmpuint(migrate_max_bandwidth(), ==, 128 * MiB);
    g_assert_cmpuint(migrate_downtime_limit_ms(), ==, 300);
    g_assert_cmpuint(mp->max_bandwidth, ==, 128 * MiB);
    g_assert_cmpuint(mp->downtime_limit, ==, 300);
    g_assert_cmpuint(mp->cpu_throttle_initial, ==, 20);
    g_assert_cmpuint(mp->cpu_throttle_increment, ==, 10);
    g_assert_cmpuint(mp->max_cpu_throttle, ==, 99);
    g_assert_cmpuint(mp->throttle_trigger_threshold, ==, 50);
    g_assert_cmpuint(mp->x_vcpu_dirty_limit_period, ==, 1000);
    g_assert_cmpuint(mp->vcpu_dirty_limit, ==, 1);
    g_assert_cmpuint(migrate_convergence_params()->throttle_initial_pct, ==,
                     20);
    qapi_free_MigrationParameters(mp);
}

static void test_a_bad_parameter_changes_none(void)
{
    Error *err = NULL;

    /* A good max-bandwidth beside a bad cpu-throttle-initial. */
    qmp_migrate_set_parameters(true, 1 * MiB, true, 50, true, 0, false, 0,
                               false, false, false, 0, false, 0, false, 0,
                               false, 0, &err);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "cpu-throttle-initial"));
    error_free(err);
    err = NULL;
    g_assert_cmpuint(migrate_max_bandwidth(), ==, 128 * MiB);
    g_assert_cmpuint(migrate_downtime_limit_ms(), ==, 300);

    qmp_migrate_set_parameters(true, 1 * MiB, true, 50, true, 30, false, 0,
                               false, false, false, 0, false, 0, false, 0,
                               false, 0, &unexpected);
    ok();
    g_assert_cmpuint(migrate_max_bandwidth(), ==, 1 * MiB);
    g_assert_cmpuint(migrate_downtime_limit_ms(), ==, 50);
    g_assert_cmpuint(migrate_convergence_params()->throttle_initial_pct, ==,
                     30);
}

static void test_a_bad_capability_list_changes_none(void)
{
    MigrationCapabilityStatusList *l;
    Error *err = NULL;

    caps_reset();
    l = caps_list(NULL, MIGRATION_CAPABILITY_AUTO_CONVERGE, true);
    l = caps_list(l, MIGRATION_CAPABILITY_EVENTS, true);
    g_assert_true(migrate_caps_apply(l, &unexpected));
    ok();
    caps_list_free(l);
    g_assert_true(migrate_cap(MIGRATION_CAPABILITY_AUTO_CONVERGE));
    g_assert_true(migrate_events());

    /* events off beside a second convergence method: refused whole. */
    l = caps_list(NULL, MIGRATION_CAPABILITY_EVENTS, false);
    l = caps_list(l, MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE, true);
    g_assert_false(migrate_caps_apply(l, &err));
    caps_list_free(l);
    g_assert_nonnull(strstr(error_get_pretty(err), "choose one"));
    error_free(err);
    err = NULL;
    g_assert_true(migrate_events());
    g_assert_false(migrate_cap(MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE));

    /* Without the dirty ring, dirty-limit is refused. */
    l = caps_list(NULL, MIGRATION_CAPABILITY_AUTO_CONVERGE, false);
    l = caps_list(l, MIGRATION_CAPABILITY_DIRTY_LIMIT, true);
    g_assert_false(migrate_caps_apply(l, &err));
    caps_list_free(l);
    g_assert_nonnull(strstr(error_get_pretty(err), "dirty ring"));
    error_free(err);
    err = NULL;
    g_assert_true(migrate_cap(MIGRATION_CAPABILITY_AUTO_CONVERGE));
    caps_reset();
}

static void test_capabilities_are_refused_while_migrating(void)
{
    MigrationState *s = migrate_get_current();
    MigrationCapabilityStatusList *l;
    MigrationCapabilityStatusList *q;
    Error *err = NULL;

    caps_reset();
    l = caps_list(NULL, MIGRATION_CAPABILITY_EVENTS, true);
    s->status = MIGRATION_STATUS_ACTIVE;
    qmp_migrate_set_capabilities(l, &err);
    s->status = MIGRATION_STATUS_NONE;
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "in progress"));
    error_free(err);
    err = NULL;
    g_assert_false(migrate_events());

    qmp_migrate_set_capabilities(l, &unexpected);
    ok();
    caps_list_free(l);
    g_assert_true(migrate_events());
    q = qmp_query_migrate_capabilities(&unexpected);
    ok();
    for (MigrationCapabilityStatusList *e = q; e; e = e->next) {
        g_assert_cmpint(e->value->state, ==,
                        e->value->capability == MIGRATION_CAPABILITY_EVENTS);
    }
    qapi_free_MigrationCapabilityStatusList(q);
    caps_reset();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* First: the others change the parameters. */
    g_test_add_func("/migration/options/parameters-start-at-qemus-defaults",
                    test_parameters_start_at_qemus_defaults);
    g_test_add_func("/migration/options/a-bad-parameter-changes-none",
                    test_a_bad_parameter_changes_none);
    g_test_add_func("/migration/options/a-bad-capability-list-changes-none",
                    test_a_bad_capability_list_changes_none);
    g_test_add_func("/migration/options/capabilities-are-refused-while-"
                    "migrating",
                    test_capabilities_are_refused_while_migrating);
    return g_test_run();
}
