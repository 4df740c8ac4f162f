/*
 * The Prometheus exposition text (format 0.0.4) that -metrics serves;
 * the HTTP side is metrics-http.c.
 *
 * What is exported comes from the same places QMP reads: the live
 * statistics (monitor/live-stats.c: per-vCPU rates measured and
 * ground truth, quota, sleep share), the dirty-tracking harvest counters
 * (memory_dirty_tracking_stats) and query-migrate's own handler.  Names
 * follow Prometheus's conventions: base units in the name (_bytes,
 * _seconds, _bytes_per_second, _ratio), _total for counters.
 */
#include "qemu/osdep.h"

#include "monitor/live-stats.h"
#include "monitor/metrics.h"
#include "qapi/qapi-commands.h"
#include "sysemu/memory.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

#define METRICS_PAGE_BYTES 4096

/* ---- the exposition text */

static void metrics_head(GString *s, const char *name, const char *type,
                         const char *help)
{
    g_string_append_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}

static void metrics_u64(GString *s, const char *name, const char *labels,
                        uint64_t value)
{
    g_string_append_printf(s, "%s%s %" PRIu64 "\n", name, labels, value);
}

static void metrics_double(GString *s, const char *name, const char *labels,
                           double value)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];

    /* Locale-independent, shortest exact form. */
    g_ascii_dtostr(num, sizeof(num), value);
    g_string_append_printf(s, "%s%s %s\n", name, labels, num);
}

/* A metric without labels: its HELP, TYPE and one sample. */
static void metrics_single_u64(GString *s, const char *name,
                               const char *type, const char *help,
                               uint64_t value)
{
    metrics_head(s, name, type, help);
    metrics_u64(s, name, "", value);
}

/* One gauge or counter per vCPU, from @field of each LiveVcpuStats. */
typedef enum MetricsVcpuField {
    MV_MEASURED_RATE,
    MV_DIRTY_PAGES,
    MV_GUEST_WRITE_RATE,
    MV_GUEST_READ_RATE,
    MV_GUEST_WRITTEN,
    MV_GUEST_READ,
    MV_QUOTA,
    MV_LIMITER_RATE,
    MV_SLEEP,
} MetricsVcpuField;

static const struct {
    MetricsVcpuField field;
    const char *name;
    const char *type;
    const char *help;
} metrics_vcpu_table[] = {
    { MV_MEASURED_RATE, "restraint_vcpu_dirty_rate_bytes_per_second", "gauge",
      "Memory the vCPU dirtied per second over the last second, as "
      "restraint measured it: dirty-ring entries harvested for it times "
      "4 KiB (a page written again after a harvest counts again)." },
    { MV_DIRTY_PAGES, "restraint_vcpu_dirty_pages_total", "counter",
      "Dirty-ring entries harvested for the vCPU while counting was on." },
    { MV_GUEST_WRITE_RATE,
      "restraint_vcpu_guest_write_rate_bytes_per_second", "gauge",
      "Ground truth: bytes of pages the built-in guest stored to per "
      "second over the last second, from its own counters." },
    { MV_GUEST_READ_RATE, "restraint_vcpu_guest_read_rate_bytes_per_second",
      "gauge", "Ground truth: bytes the built-in guest read per second "
      "over the last second, from its own counters." },
    { MV_GUEST_WRITTEN, "restraint_vcpu_guest_written_bytes_total", "counter",
      "Ground truth: bytes of pages the built-in guest stored to." },
    { MV_GUEST_READ, "restraint_vcpu_guest_read_bytes_total", "counter",
      "Ground truth: bytes the built-in guest read." },
    { MV_QUOTA, "restraint_vcpu_dirty_limit_bytes_per_second", "gauge",
      "The vCPU's dirty page rate quota (set-vcpu-dirty-limit); 0 when "
      "it has none." },
    { MV_LIMITER_RATE, "restraint_vcpu_dirty_limit_rate_bytes_per_second",
      "gauge", "The dirty rate the limiter measured over its last "
      "report window (limited vCPUs only)." },
    { MV_SLEEP, "restraint_vcpu_sleep_ratio", "gauge",
      "Share of the vCPU's time spent asleep by a throttle (dirty limit "
      "or auto-converge), 0 to 1." },
};

static void metrics_vcpu_family(GString *s, const LiveStats *st, int t)
{
    bool any = false;

    for (int i = 0; i < st->nr_cpus; i++) {
        const LiveVcpuStats *v = &st->vcpu[i];
        g_autofree char *labels = g_strdup_printf("{cpu=\"%d\"}",
                                                  v->cpu_index);
        const char *name = metrics_vcpu_table[t].name;

        if (!any) {
            metrics_head(s, name, metrics_vcpu_table[t].type,
                         metrics_vcpu_table[t].help);
            any = true;
        }
        switch (metrics_vcpu_table[t].field) {
        case MV_MEASURED_RATE:
            if (v->has_measured) {
                metrics_double(s, name, labels, v->measured_bytes_per_s);
            }
            break;
        case MV_DIRTY_PAGES:
            metrics_u64(s, name, labels, v->measured_dirty_pages);
            break;
        case MV_GUEST_WRITE_RATE:
            if (v->has_guest) {
                metrics_double(s, name, labels, v->guest_write_bytes_per_s);
            }
            break;
        case MV_GUEST_READ_RATE:
            if (v->has_guest) {
                metrics_double(s, name, labels, v->guest_read_bytes_per_s);
            }
            break;
        case MV_GUEST_WRITTEN:
            metrics_u64(s, name, labels,
                        v->guest_pages_written * METRICS_PAGE_BYTES);
            break;
        case MV_GUEST_READ:
            metrics_u64(s, name, labels, v->guest_bytes_read);
            break;
        case MV_QUOTA:
            metrics_u64(s, name, labels, v->quota_mbps * MiB);
            break;
        case MV_LIMITER_RATE:
            if (v->quota_mbps) {
                metrics_double(s, name, labels, v->limiter_rate_bytes_per_s);
            }
            break;
        case MV_SLEEP:
            metrics_double(s, name, labels, v->sleep_share);
            break;
        }
    }
}

static void metrics_vcpus(GString *s)
{
    const LiveStats *st = live_stats_get();

    metrics_head(s, "restraint_vcpu_workload_info", "gauge",
                 "The built-in guest's workload on each vCPU (always 1).");
    for (int i = 0; i < st->nr_cpus; i++) {
        g_autofree char *labels = g_strdup_printf(
            "{cpu=\"%d\",kind=\"%s\"}", i, st->vcpu[i].workload_kind);

        metrics_u64(s, "restraint_vcpu_workload_info", labels, 1);
    }
    for (size_t t = 0; t < G_N_ELEMENTS(metrics_vcpu_table); t++) {
        metrics_vcpu_family(s, st, t);
    }
    metrics_head(s, "restraint_cpu_throttle_ratio", "gauge",
                 "auto-converge's throttle: share of every vCPU's time "
                 "asleep, 0 to 1.");
    metrics_double(s, "restraint_cpu_throttle_ratio", "",
                   st->cpu_throttle_pct / 100.0);
}

static void metrics_dirty_tracking(GString *s)
{
    DirtyTrackingStats st;

    vm_lock();
    memory_dirty_tracking_stats(&st);
    vm_unlock();

    metrics_head(s, "restraint_dirty_ring_entries", "gauge",
                 "Dirty-ring entries per vCPU; 0 in dirty-bitmap mode.");
    metrics_u64(s, "restraint_dirty_ring_entries", "", st.ring_entries);
    metrics_head(s, "restraint_dirty_tracking_user_active", "gauge",
                 "1 while this user has global dirty tracking on.");
    for (unsigned int flag = 1; flag & GLOBAL_DIRTY_MASK; flag <<= 1) {
        g_autofree char *labels = g_strdup_printf(
            "{user=\"%s\"}", memory_dirty_user_name(flag));

        metrics_u64(s, "restraint_dirty_tracking_user_active", labels,
                    !!(st.users & flag));
    }
    const struct {
        const char *name;
        const char *help;
        uint64_t value;
    } counters[] = {
        { "restraint_dirty_tracking_syncs_total",
          "Harvests done on behalf of a consumer.", st.syncs },
        { "restraint_dirty_ring_reaper_runs_total",
          "Periodic harvests by the kvm-reaper thread.", st.reaper_runs },
        { "restraint_dirty_ring_harvested_entries_total",
          "Dirty-ring entries harvested, all vCPUs.", st.ring_harvested },
        { "restraint_dirty_ring_dropped_entries_total",
          "Dirty-ring entries dropped (outside guest RAM).", st.ring_dropped },
        { "restraint_dirty_ring_full_exits_total",
          "KVM_EXIT_DIRTY_RING_FULL exits, all vCPUs.", st.ring_full_exits },
        { "restraint_dirty_ring_reset_mismatches_total",
          "Ring resets where KVM reset another count than was harvested.",
          st.ring_reset_mismatches },
        { "restraint_dirty_bitmap_pages_total",
          "Dirty pages reported by KVM_GET_DIRTY_LOG (bitmap mode).",
          st.bitmap_pages },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(counters); i++) {
        metrics_single_u64(s, counters[i].name, "counter", counters[i].help,
                           counters[i].value);
    }
    metrics_head(s, "restraint_dirty_ring_harvest_seconds_total", "counter",
                 "Time spent harvesting and resetting the dirty rings.");
    metrics_double(s, "restraint_dirty_ring_harvest_seconds_total", "",
                   st.ring_harvest_ns / 1e9);
}

static void metrics_migration(GString *s)
{
    g_autoptr(MigrationInfo) info = NULL;
    MigrationStats *ram;

    /* query-migrate's handler: exactly what QMP clients see. */
    vm_lock();
    info = qmp_query_migrate(NULL);
    vm_unlock();
    ram = info ? info->ram : NULL;

    metrics_head(s, "restraint_migration_status", "gauge",
                 "1 for the current (or last) migration's status, 0 for "
                 "the others; status none before any migration.");
    for (int i = 0; i < MIGRATION_STATUS__MAX; i++) {
        g_autofree char *labels = g_strdup_printf(
            "{status=\"%s\"}", MigrationStatus_str(i));
        bool cur = info && info->has_status ? (int)info->status == i :
                   i == MIGRATION_STATUS_NONE;

        metrics_u64(s, "restraint_migration_status", labels, cur);
    }
    if (!ram) {
        return;
    }
    metrics_head(s, "restraint_migration_remaining_bytes", "gauge",
                 "RAM still to send: dirty pages not yet sent.");
    metrics_u64(s, "restraint_migration_remaining_bytes", "",
                ram->remaining);
    metrics_head(s, "restraint_migration_ram_bytes", "gauge",
                 "Guest RAM being migrated.");
    metrics_u64(s, "restraint_migration_ram_bytes", "", ram->total);
    metrics_head(s, "restraint_migration_transferred_bytes_total", "counter",
                 "Bytes sent by the current (or last) migration.");
    metrics_u64(s, "restraint_migration_transferred_bytes_total", "",
                ram->transferred);
    metrics_head(s, "restraint_migration_throughput_bits_per_second", "gauge",
                 "Stream throughput over the last period.");
    metrics_double(s, "restraint_migration_throughput_bits_per_second", "",
                   ram->mbps * 1e6);
    metrics_head(s, "restraint_migration_dirty_rate_pages_per_second",
                 "gauge", "Pages dirtied per second over the last sync "
                 "period, as migration measured it.");
    metrics_u64(s, "restraint_migration_dirty_rate_pages_per_second", "",
                ram->dirty_pages_rate);
    metrics_head(s, "restraint_migration_dirty_syncs_total", "counter",
                 "Dirty-bitmap syncs: the number of the current pass.");
    metrics_u64(s, "restraint_migration_dirty_syncs_total", "",
                ram->dirty_sync_count);
    if (info->has_expected_downtime) {
        metrics_head(s, "restraint_migration_expected_downtime_seconds",
                     "gauge", "Downtime if the switchover happened now.");
        metrics_double(s, "restraint_migration_expected_downtime_seconds",
                       "", info->expected_downtime / 1e3);
    }
    if (info->has_downtime) {
        metrics_head(s, "restraint_migration_downtime_seconds", "gauge",
                     "Time the guest was stopped at switchover.");
        metrics_double(s, "restraint_migration_downtime_seconds", "",
                       info->downtime / 1e3);
    }
    metrics_head(s, "restraint_migration_cpu_throttle_ratio", "gauge",
                 "auto-converge's throttle during the migration, 0 to 1.");
    metrics_double(s, "restraint_migration_cpu_throttle_ratio", "",
                   info->has_cpu_throttle_percentage ?
                   info->cpu_throttle_percentage / 100.0 : 0);
    if (info->has_dirty_limit_throttle_time_per_round) {
        metrics_head(s,
                     "restraint_migration_dirty_limit_throttle_seconds_per_round",
                     "gauge", "Average time each limited vCPU slept per "
                     "throttle round (dirty-limit, x-adaptive-converge).");
        metrics_double(s,
                       "restraint_migration_dirty_limit_throttle_seconds_per_round",
                       "", info->dirty_limit_throttle_time_per_round / 1e6);
    }
}

char *metrics_render(void)
{
    GString *s = g_string_new(NULL);
    g_autoptr(StatusInfo) status = NULL;

    vm_lock();
    status = qmp_query_status(NULL);
    vm_unlock();
    metrics_head(s, "restraint_info", "gauge",
                 "restraint's version (always 1).");
    metrics_u64(s, "restraint_info", "{version=\"" RESTRAINT_VERSION "\"}",
                1);
    metrics_head(s, "restraint_vm_running", "gauge",
                 "1 while the vCPUs run, 0 while the VM is paused.");
    metrics_u64(s, "restraint_vm_running", "", status && status->running);
    metrics_head(s, "restraint_live_stats_samples_total", "counter",
                 "Per-vCPU samples taken (one a second).");
    metrics_u64(s, "restraint_live_stats_samples_total", "",
                live_stats_get()->samples);
    metrics_vcpus(s);
    metrics_dirty_tracking(s);
    metrics_migration(s);
    return g_string_free(s, FALSE);
}
