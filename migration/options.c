/*
 * Migration's capabilities and parameters: their values and defaults,
 * the checks that keep them consistent, and the QMP commands that show
 * and set them (migrate-set-capabilities itself is in
 * migration-qmp-cmds.c: it first asks whether a migration runs).
 */
#include "qemu/osdep.h"

#include "migration/options.h"
#include "qapi/qapi-commands.h"
#include "qemu/atomic.h"
#include "sysemu/kvm.h"

/*
 * QEMU's and libvirt's "unlimited" (libvirt sends 9223372036853727232);
 * the pacing arithmetic is in double, so any value up to here is safe.
 */
#define MIGRATION_MAX_BANDWIDTH ((uint64_t)INT64_MAX)

typedef struct MigrationParams {
    uint64_t max_bandwidth_bytes_per_s;     /* (atomic) 0: unlimited */
    uint64_t downtime_limit_ms;             /* (atomic) */
    ConvergenceParams conv;
} MigrationParams;

static bool migration_caps[MIGRATION_CAPABILITY__MAX];

static MigrationParams migration_params = {
    .max_bandwidth_bytes_per_s = MIGRATION_DEFAULT_MAX_BANDWIDTH,
    .downtime_limit_ms = MIGRATION_DEFAULT_DOWNTIME_MS,
    .conv = {
        .throttle_initial_pct = MIGRATION_DEFAULT_THROTTLE_INITIAL_PCT,
        .throttle_increment_pct = MIGRATION_DEFAULT_THROTTLE_INCREMENT_PCT,
        .throttle_tailslow = false,
        .max_throttle_pct = MIGRATION_DEFAULT_MAX_THROTTLE_PCT,
        .trigger_threshold_pct = MIGRATION_DEFAULT_TRIGGER_THRESHOLD_PCT,
        .dirty_limit_period_ms = MIGRATION_DEFAULT_DIRTY_LIMIT_PERIOD_MS,
        .vcpu_dirty_limit_mbps = MIGRATION_DEFAULT_VCPU_DIRTY_LIMIT_MBPS,
    },
};

bool migrate_cap(MigrationCapability cap)
{
    return migration_caps[cap];
}

bool migrate_events(void)
{
    return migration_caps[MIGRATION_CAPABILITY_EVENTS];
}

uint64_t migrate_max_bandwidth(void)
{
    return qatomic_read(&migration_params.max_bandwidth_bytes_per_s);
}

uint64_t migrate_downtime_limit_ms(void)
{
    return qatomic_read(&migration_params.downtime_limit_ms);
}

const ConvergenceParams *migrate_convergence_params(void)
{
    return &migration_params.conv;
}

static const MigrationCapability migration_exclusive_caps[] = {
    MIGRATION_CAPABILITY_AUTO_CONVERGE,
    MIGRATION_CAPABILITY_DIRTY_LIMIT,
    MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE,
};

bool migration_caps_check(const bool *caps, bool dirty_ring, Error **errp)
{
    int on = -1;

    for (size_t i = 0; i < G_N_ELEMENTS(migration_exclusive_caps); i++) {
        MigrationCapability c = migration_exclusive_caps[i];

        if (!caps[c]) {
            continue;
        }
        if (on >= 0) {
            error_setg(errp, "capability '%s' cannot be on together with "
                       "'%s': choose one convergence method",
                       MigrationCapability_str(c),
                       MigrationCapability_str(on));
            return false;
        }
        on = c;
    }
    for (int c = MIGRATION_CAPABILITY_DIRTY_LIMIT;
         c <= MIGRATION_CAPABILITY_X_ADAPTIVE_CONVERGE; c++) {
        if (caps[c] && c != MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER &&
            !dirty_ring) {
            error_setg(errp, "capability '%s' needs the dirty ring: start "
                       "restraint with -accel kvm,dirty-ring-size=N",
                       MigrationCapability_str(c));
            return false;
        }
    }
    return true;
}

bool migrate_caps_apply(MigrationCapabilityStatusList *changes,
                        Error **errp)
{
    bool caps[MIGRATION_CAPABILITY__MAX];

    memcpy(caps, migration_caps, sizeof(caps));
    for (MigrationCapabilityStatusList *l = changes; l; l = l->next) {
        caps[l->value->capability] = l->value->state;
    }
    if (!migration_caps_check(caps, kvm_state &&
                              kvm_state->dirty_ring_entries, errp)) {
        return false;
    }
    memcpy(migration_caps, caps, sizeof(caps));
    return true;
}

MigrationCapabilityStatusList *qmp_query_migrate_capabilities(Error **errp)
{
    MigrationCapabilityStatusList *head = NULL, **tail = &head;

    for (int c = 0; c < MIGRATION_CAPABILITY__MAX; c++) {
        MigrationCapabilityStatusList *e = g_new0(MigrationCapabilityStatusList,
                                                  1);

        e->value = g_new0(MigrationCapabilityStatus, 1);
        e->value->capability = c;
        e->value->state = migration_caps[c];
        *tail = e;
        tail = &e->next;
    }
    return head;
}

/* A range check that names the parameter, its value, range and unit. */
static bool migration_param_check(bool has, uint64_t value, const char *name,
                                  uint64_t min, uint64_t max,
                                  const char *unit, Error **errp)
{
    if (has && (value < min || value > max)) {
        error_setg(errp, "parameter '%s' is %" PRIu64 ", expected %" PRIu64
                   " to %" PRIu64 " %s", name, value, min, max, unit);
        return false;
    }
    return true;
}

void qmp_migrate_set_parameters(bool has_max_bandwidth,
                                uint64_t max_bandwidth,
                                bool has_downtime_limit,
                                uint64_t downtime_limit,
                                bool has_cpu_throttle_initial,
                                uint8_t cpu_throttle_initial,
                                bool has_cpu_throttle_increment,
                                uint8_t cpu_throttle_increment,
                                bool has_cpu_throttle_tailslow,
                                bool cpu_throttle_tailslow,
                                bool has_max_cpu_throttle,
                                uint8_t max_cpu_throttle,
                                bool has_throttle_trigger_threshold,
                                uint8_t throttle_trigger_threshold,
                                bool has_x_vcpu_dirty_limit_period,
                                uint64_t x_vcpu_dirty_limit_period,
                                bool has_vcpu_dirty_limit,
                                uint64_t vcpu_dirty_limit, Error **errp)
{
    MigrationParams *p = &migration_params;

    /* Check everything first: an error changes nothing. */
    if (!migration_param_check(has_max_bandwidth, max_bandwidth,
                               "max-bandwidth", 0, MIGRATION_MAX_BANDWIDTH,
                               "bytes/s", errp) ||
        !migration_param_check(has_downtime_limit, downtime_limit,
                               "downtime-limit", 0,
                               MIGRATION_MAX_DOWNTIME_MS, "ms", errp) ||
        !migration_param_check(has_cpu_throttle_initial, cpu_throttle_initial,
                               "cpu-throttle-initial", 1, 99, "%", errp) ||
        !migration_param_check(has_cpu_throttle_increment,
                               cpu_throttle_increment,
                               "cpu-throttle-increment", 1, 99, "%", errp) ||
        !migration_param_check(has_max_cpu_throttle, max_cpu_throttle,
                               "max-cpu-throttle", 1, 99, "%", errp) ||
        !migration_param_check(has_throttle_trigger_threshold,
                               throttle_trigger_threshold,
                               "throttle-trigger-threshold", 1, 100, "%",
                               errp) ||
        !migration_param_check(has_x_vcpu_dirty_limit_period,
                               x_vcpu_dirty_limit_period,
                               "x-vcpu-dirty-limit-period", 1,
                               MIGRATION_MAX_DIRTY_LIMIT_PERIOD_MS, "ms",
                               errp) ||
        !migration_param_check(has_vcpu_dirty_limit, vcpu_dirty_limit,
                               "vcpu-dirty-limit", 1, UINT32_MAX, "MB/s",
                               errp)) {
        return;
    }
    if (has_max_bandwidth) {
        qatomic_set(&p->max_bandwidth_bytes_per_s, max_bandwidth);
    }
    if (has_downtime_limit) {
        qatomic_set(&p->downtime_limit_ms, downtime_limit);
    }
    if (has_cpu_throttle_initial) {
        p->conv.throttle_initial_pct = cpu_throttle_initial;
    }
    if (has_cpu_throttle_increment) {
        p->conv.throttle_increment_pct = cpu_throttle_increment;
    }
    if (has_cpu_throttle_tailslow) {
        p->conv.throttle_tailslow = cpu_throttle_tailslow;
    }
    if (has_max_cpu_throttle) {
        p->conv.max_throttle_pct = max_cpu_throttle;
    }
    if (has_throttle_trigger_threshold) {
        p->conv.trigger_threshold_pct = throttle_trigger_threshold;
    }
    if (has_x_vcpu_dirty_limit_period) {
        p->conv.dirty_limit_period_ms = x_vcpu_dirty_limit_period;
    }
    if (has_vcpu_dirty_limit) {
        p->conv.vcpu_dirty_limit_mbps = vcpu_dirty_limit;
    }
}

MigrationParameters *qmp_query_migrate_parameters(Error **errp)
{
    const MigrationParams *p = &migration_params;
    MigrationParameters *mp = g_new0(MigrationParameters, 1);

    mp->has_max_bandwidth = true;
    mp->max_bandwidth = p->max_bandwidth_bytes_per_s;
    mp->has_downtime_limit = true;
    mp->downtime_limit = p->downtime_limit_ms;
    mp->has_cpu_throttle_initial = true;
    mp->cpu_throttle_initial = p->conv.throttle_initial_pct;
    mp->has_cpu_throttle_increment = true;
    mp->cpu_throttle_increment = p->conv.throttle_increment_pct;
    mp->has_cpu_throttle_tailslow = true;
    mp->cpu_throttle_tailslow = p->conv.throttle_tailslow;
    mp->has_max_cpu_throttle = true;
    mp->max_cpu_throttle = p->conv.max_throttle_pct;
    mp->has_throttle_trigger_threshold = true;
    mp->throttle_trigger_threshold = p->conv.trigger_threshold_pct;
    mp->has_x_vcpu_dirty_limit_period = true;
    mp->x_vcpu_dirty_limit_period = p->conv.dirty_limit_period_ms;
    mp->has_vcpu_dirty_limit = true;
    mp->vcpu_dirty_limit = p->conv.vcpu_dirty_limit_mbps;
    return mp;
}
