/*
 * HMP commands of migration: parse the words, call the qmp_ function,
 * print.  Output follows QEMU's "info migrate" lines.
 */
#include "qemu/osdep.h"

#include "monitor/hmp.h"
#include "qapi/qapi-commands.h"

/* HMP's max-bandwidth without a suffix is MiB/s, as in QEMU. */
#define HMP_BANDWIDTH_DEFAULT_UNIT MiB

/*
 * Without -d, HMP migrate returns when the migration leaves setup and
 * active, as QEMU's does, printing the error if it failed.
 */
static bool hmp_migrate_wait(Monitor *mon)
{
    g_autoptr(MigrationInfo) info = qmp_query_migrate(NULL);

    if (!info->has_status || info->status == MIGRATION_STATUS_SETUP ||
        info->status == MIGRATION_STATUS_ACTIVE ||
        info->status == MIGRATION_STATUS_DEVICE) {
        return false;
    }
    if (info->status == MIGRATION_STATUS_FAILED) {
        monitor_printf(mon, "Error: migration failed: %s\n",
                       info->error_desc ? info->error_desc : "unknown error");
    }
    return true;
}

/* migrate [-d] uri */
void hmp_migrate(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;
    bool detach = argc > 1 && !strcmp(argv[1], "-d");
    int first = detach ? 2 : 1;

    if (!hmp_check_args(mon, argc - (detach ? 1 : 0), argv, 1, 1)) {
        return;
    }
    qmp_migrate(argv[first], false, false, false, false, true, detach,
                false, false, &err);
    if (!hmp_handle_error(mon, err) && !detach) {
        hmp_wait_until(mon, hmp_migrate_wait);
    }
}

void hmp_migrate_cancel(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;

    if (hmp_check_args(mon, argc, argv, 0, 0)) {
        qmp_migrate_cancel(&err);
        hmp_handle_error(mon, err);
    }
}

void hmp_migrate_incoming(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;

    if (hmp_check_args(mon, argc, argv, 1, 1)) {
        qmp_migrate_incoming(argv[1], &err);
        hmp_handle_error(mon, err);
    }
}

void hmp_migrate_continue(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;
    int state;

    if (!hmp_check_args(mon, argc, argv, 1, 1)) {
        return;
    }
    state = MigrationStatus_parse(argv[1]);
    if (state < 0) {
        monitor_printf(mon, "Error: '%s' is not a migration state\n",
                       argv[1]);
        return;
    }
    qmp_migrate_continue(state, &err);
    hmp_handle_error(mon, err);
}

/* migrate_set_capability CAPABILITY on|off */
void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv)
{
    MigrationCapabilityStatus status;
    MigrationCapabilityStatusList list = { .next = NULL, .value = &status };
    Error *err = NULL;
    int cap;

    if (!hmp_check_args(mon, argc, argv, 2, 2)) {
        return;
    }
    cap = MigrationCapability_parse(argv[1]);
    if (cap < 0) {
        monitor_printf(mon, "Error: unknown capability '%s' (see info "
                       "migrate_capabilities)\n", argv[1]);
        return;
    }
    if (strcmp(argv[2], "on") && strcmp(argv[2], "off")) {
        monitor_printf(mon, "Error: expected on or off, not '%s'\n",
                       argv[2]);
        return;
    }
    status.capability = cap;
    status.state = !strcmp(argv[2], "on");
    qmp_migrate_set_capabilities(&list, &err);
    hmp_handle_error(mon, err);
}

static bool hmp_parse_bool(const char *str, bool *out, Error **errp)
{
    if (!strcmp(str, "on") || !strcmp(str, "true")) {
        *out = true;
    } else if (!strcmp(str, "off") || !strcmp(str, "false")) {
        *out = false;
    } else {
        error_setg(errp, "expected on or off, not '%s'", str);
        return false;
    }
    return true;
}

/* migrate_set_parameter PARAMETER VALUE */
void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv)
{
    MigrationParameters p = { 0 };
    const char *name, *value;
    Error *err = NULL;
    int64_t n = 0;

    if (!hmp_check_args(mon, argc, argv, 2, 2)) {
        return;
    }
    name = argv[1];
    value = argv[2];
    if (!strcmp(name, "max-bandwidth")) {
        uint64_t bytes;

        if (g_ascii_isdigit(value[strlen(value) - 1])) {
            /* A bare number is MiB/s, as QEMU's HMP reads it. */
            if (hmp_parse_int(value, name, 0, INT64_MAX / MiB, &n, &err)) {
                p.has_max_bandwidth = true;
                p.max_bandwidth = n * HMP_BANDWIDTH_DEFAULT_UNIT;
            }
        } else if (hmp_parse_size(value, &bytes, &err)) {
            p.has_max_bandwidth = true;
            p.max_bandwidth = bytes;
        }
    } else if (!strcmp(name, "cpu-throttle-tailslow")) {
        p.has_cpu_throttle_tailslow = hmp_parse_bool(
            value, &p.cpu_throttle_tailslow, &err);
    } else if (hmp_parse_int(value, name, 0, INT64_MAX, &n, &err)) {
        if (!strcmp(name, "downtime-limit")) {
            p.has_downtime_limit = true;
            p.downtime_limit = n;
        } else if (!strcmp(name, "x-vcpu-dirty-limit-period")) {
            p.has_x_vcpu_dirty_limit_period = true;
            p.x_vcpu_dirty_limit_period = n;
        } else if (!strcmp(name, "vcpu-dirty-limit")) {
            p.has_vcpu_dirty_limit = true;
            p.vcpu_dirty_limit = n;
        } else if (n > UINT8_MAX) {
            error_setg(&err, "%s: %" PRId64 " is out of range", name, n);
        } else if (!strcmp(name, "cpu-throttle-initial")) {
            p.has_cpu_throttle_initial = true;
            p.cpu_throttle_initial = n;
        } else if (!strcmp(name, "cpu-throttle-increment")) {
            p.has_cpu_throttle_increment = true;
            p.cpu_throttle_increment = n;
        } else if (!strcmp(name, "max-cpu-throttle")) {
            p.has_max_cpu_throttle = true;
            p.max_cpu_throttle = n;
        } else if (!strcmp(name, "throttle-trigger-threshold")) {
            p.has_throttle_trigger_threshold = true;
            p.throttle_trigger_threshold = n;
        } else {
            error_setg(&err, "unknown parameter '%s' (see info "
                       "migrate_parameters)", name);
        }
    }
    if (!err) {
        qmp_migrate_set_parameters(
            p.has_max_bandwidth, p.max_bandwidth, p.has_downtime_limit,
            p.downtime_limit, p.has_cpu_throttle_initial,
            p.cpu_throttle_initial, p.has_cpu_throttle_increment,
            p.cpu_throttle_increment, p.has_cpu_throttle_tailslow,
            p.cpu_throttle_tailslow, p.has_max_cpu_throttle,
            p.max_cpu_throttle, p.has_throttle_trigger_threshold,
            p.throttle_trigger_threshold, p.has_x_vcpu_dirty_limit_period,
            p.x_vcpu_dirty_limit_period, p.has_vcpu_dirty_limit,
            p.vcpu_dirty_limit, &err);
    }
    hmp_handle_error(mon, err);
}

/*
 * The optional figures of MigrationInfo that info migrate prints as
 * "LABEL: VALUE[ UNIT]" when present, in QEMU's order: one table each for
 * the times (before the RAM figures) and the throttling (after them).
 */
typedef struct MigrateInfoField {
    const char *label;
    const char *unit;           /* with its leading space, or "" */
    size_t has;                 /* offsetof the has_ flag */
    size_t value;               /* offsetof the 64-bit value */
    bool is_signed;             /* int64_t, else uint64_t */
} MigrateInfoField;

#define MIGRATE_FIELD(label, unit, name, is_signed) \
    { label, unit, offsetof(MigrationInfo, has_##name), \
      offsetof(MigrationInfo, name), is_signed }

static const MigrateInfoField migrate_times[] = {
    MIGRATE_FIELD("total time", " ms", total_time, true),
    MIGRATE_FIELD("expected downtime", " ms", expected_downtime, true),
    MIGRATE_FIELD("remaining time (estimate)", " ms", x_remaining_time,
                  true),
    MIGRATE_FIELD("downtime", " ms", downtime, true),
    MIGRATE_FIELD("setup", " ms", setup_time, true),
    { NULL },
};

static const MigrateInfoField migrate_throttling[] = {
    MIGRATE_FIELD("cpu throttle percentage", "", cpu_throttle_percentage,
                  true),
    MIGRATE_FIELD("dirty-limit throttle time", " us",
                  dirty_limit_throttle_time_per_round, false),
    MIGRATE_FIELD("dirty-limit ring full time", " us",
                  dirty_limit_ring_full_time, false),
    { NULL },
};

static void hmp_print_optional(Monitor *mon, const MigrationInfo *info,
                               const MigrateInfoField *fields)
{
    const char *base = (const char *)info;

    for (const MigrateInfoField *f = fields; f->label; f++) {
        if (!*(const bool *)(base + f->has)) {
            continue;
        }
        if (f->is_signed) {
            monitor_printf(mon, "%s: %" PRId64 "%s\n", f->label,
                           *(const int64_t *)(base + f->value), f->unit);
        } else {
            monitor_printf(mon, "%s: %" PRIu64 "%s\n", f->label,
                           *(const uint64_t *)(base + f->value), f->unit);
        }
    }
}

void hmp_info_migrate(Monitor *mon, int argc, char **argv)
{
    g_autoptr(MigrationInfo) info = qmp_query_migrate(NULL);
    g_autoptr(MigrationCapabilityStatusList) caps =
        qmp_query_migrate_capabilities(NULL);
    MigrationStats *ram = info->ram;

    monitor_printf(mon, "capabilities:");
    for (MigrationCapabilityStatusList *c = caps; c; c = c->next) {
        monitor_printf(mon, " %s: %s",
                       MigrationCapability_str(c->value->capability),
                       c->value->state ? "on" : "off");
    }
    monitor_printf(mon, "\n");
    if (!info->has_status) {
        return;
    }
    monitor_printf(mon, "Migration status: %s\n",
                   MigrationStatus_str(info->status));
    if (info->error_desc) {
        monitor_printf(mon, "error: %s\n", info->error_desc);
    }
    hmp_print_optional(mon, info, migrate_times);
    if (ram) {
        monitor_printf(mon, "transferred ram: %" PRId64 " kbytes\n"
                       "throughput: %0.2f mbps\n"
                       "remaining ram: %" PRId64 " kbytes\n"
                       "total ram: %" PRId64 " kbytes\n"
                       "duplicate: %" PRId64 " pages\n"
                       "normal: %" PRId64 " pages\n"
                       "normal bytes: %" PRId64 " kbytes\n"
                       "dirty sync count: %" PRId64 "\n"
                       "page size: %" PRId64 " kbytes\n"
                       "pages-per-second: %" PRIu64 "\n"
                       "precopy ram: %" PRIu64 " kbytes\n"
                       "downtime ram: %" PRIu64 " kbytes\n",
                       ram->transferred >> 10, ram->mbps,
                       ram->remaining >> 10, ram->total >> 10,
                       ram->duplicate, ram->normal, ram->normal_bytes >> 10,
                       ram->dirty_sync_count, ram->page_size >> 10,
                       ram->pages_per_second, ram->precopy_bytes >> 10,
                       ram->downtime_bytes >> 10);
        if (ram->dirty_pages_rate) {
            monitor_printf(mon, "dirty pages rate: %" PRId64 " pages\n",
                           ram->dirty_pages_rate);
        }
    }
    hmp_print_optional(mon, info, migrate_throttling);
}

void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv)
{
    g_autoptr(MigrationCapabilityStatusList) caps =
        qmp_query_migrate_capabilities(NULL);

    for (MigrationCapabilityStatusList *c = caps; c; c = c->next) {
        monitor_printf(mon, "%s: %s\n",
                       MigrationCapability_str(c->value->capability),
                       c->value->state ? "on" : "off");
    }
}

void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv)
{
    g_autoptr(MigrationParameters) p = qmp_query_migrate_parameters(NULL);

    monitor_printf(mon, "max-bandwidth: %" PRIu64 " bytes/second\n"
                   "downtime-limit: %" PRIu64 " ms\n"
                   "cpu-throttle-initial: %u\n"
                   "cpu-throttle-increment: %u\n"
                   "cpu-throttle-tailslow: %s\n"
                   "max-cpu-throttle: %u\n"
                   "throttle-trigger-threshold: %u\n"
                   "x-vcpu-dirty-limit-period: %" PRIu64 " ms\n"
                   "vcpu-dirty-limit: %" PRIu64 " MB/s\n",
                   p->max_bandwidth, p->downtime_limit,
                   p->cpu_throttle_initial, p->cpu_throttle_increment,
                   p->cpu_throttle_tailslow ? "on" : "off",
                   p->max_cpu_throttle, p->throttle_trigger_threshold,
                   p->x_vcpu_dirty_limit_period, p->vcpu_dirty_limit);
}
