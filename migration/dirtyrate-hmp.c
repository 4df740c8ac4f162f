/*
 * HMP calc_dirty_rate and info dirty_rate: thin wrappers over the QMP
 * commands, printing QEMU's lines (then restraint's extra figures).
 */
#include "qemu/osdep.h"

#include "migration/dirtyrate.h"
#include "qapi/qapi-commands.h"

char *dirtyrate_format_info(const DirtyRateInfo *info)
{
    GString *s = g_string_new(NULL);

    /* QEMU's lines, in QEMU's order. */
    g_string_append_printf(s, "Status: %s\n",
                           DirtyRateStatus_str(info->status));
    /* QEMU labels this "(ms)" but prints seconds; we say what it is. */
    g_string_append_printf(s, "Start Time: %" PRId64 " (s)\n",
                           info->start_time);
    if (info->mode == DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING) {
        g_string_append_printf(s, "Sample Pages: %" PRIu64 " (per GB)\n",
                               info->sample_pages);
    }
    g_string_append_printf(s, "Period: %" PRId64 " (sec)\n", info->calc_time);
    g_string_append_printf(s, "Mode: %s\n",
                           DirtyRateMeasureMode_str(info->mode));
    g_string_append(s, "Dirty rate: ");
    if (!info->has_dirty_rate) {
        g_string_append(s, "(not ready)\n");
        return g_string_free(s, false);
    }
    g_string_append_printf(s, "%" PRId64 " (MB/s)\n", info->dirty_rate);
    for (DirtyRateVcpuList *l = info->vcpu_dirty_rate; l; l = l->next) {
        g_string_append_printf(s, "vcpu[%" PRId64 "], Dirty rate: %" PRId64
                               " (MB/s)\n", l->value->id,
                               l->value->dirty_rate);
    }

    /* restraint's own figures, after QEMU's. */
    if (info->has_x_dirty_pages) {
        g_string_append_printf(s, "Dirty pages: %" PRIu64 "\n",
                               info->x_dirty_pages);
    }
    if (info->has_x_dirty_rate_low && info->has_x_dirty_rate_high) {
        g_string_append_printf(s, "Dirty rate 95%% interval: %" PRId64
                               " to %" PRId64 " (MB/s)\n",
                               info->x_dirty_rate_low,
                               info->x_dirty_rate_high);
    }
    if (info->has_x_write_fault_rate) {
        g_string_append_printf(s, "Write-fault rate: %" PRId64 " (MB/s)\n",
                               info->x_write_fault_rate);
    }
    for (DirtyRateVcpuList *l = info->vcpu_dirty_rate; l; l = l->next) {
        if (l->value->has_x_write_fault_rate) {
            g_string_append_printf(s, "vcpu[%" PRId64 "], Write-fault rate: %"
                                   PRId64 " (MB/s)\n", l->value->id,
                                   l->value->x_write_fault_rate);
        }
    }
    return g_string_free(s, false);
}

void hmp_info_dirty_rate(Monitor *mon, int argc, char **argv)
{
    g_autoptr(DirtyRateInfo) info = NULL;
    g_autofree char *text = NULL;

    if (!hmp_check_args(mon, argc, argv, 0, 0)) {
        return;
    }
    info = qmp_query_dirty_rate(false, TIME_UNIT_SECOND, NULL);
    text = dirtyrate_format_info(info);
    monitor_printf(mon, "%s", text);
}

/* calc_dirty_rate [-r] [-b] seconds [sample_pages_per_GB] */
void hmp_calc_dirty_rate(Monitor *mon, int argc, char **argv)
{
    bool dirty_ring = false, dirty_bitmap = false;
    int64_t seconds = 0, sample_pages = 0;
    bool has_sample_pages = false;
    DirtyRateMeasureMode mode = DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING;
    Error *err = NULL;
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-r")) {
            dirty_ring = true;
        } else if (!strcmp(argv[i], "-b")) {
            dirty_bitmap = true;
        } else {
            monitor_printf(mon, "calc_dirty_rate: unknown option '%s' "
                           "(-r: dirty ring, -b: dirty bitmap)\n", argv[i]);
            return;
        }
    }
    if (i < argc &&
        !hmp_parse_int(argv[i], "seconds", INT64_MIN, INT64_MAX, &seconds,
                       &err)) {
        hmp_handle_error(mon, err);
        return;
    }
    if (i + 1 < argc) {
        if (!hmp_parse_int(argv[i + 1], "sample_pages_per_GB", INT64_MIN,
                           INT64_MAX, &sample_pages, &err)) {
            hmp_handle_error(mon, err);
            return;
        }
        has_sample_pages = true;
    }
    if (i + 2 < argc) {
        monitor_printf(mon, "calc_dirty_rate: too many arguments\n");
        return;
    }
    if (!seconds) {
        monitor_printf(mon, "Incorrect period length specified!\n");
        return;
    }
    if (dirty_ring && dirty_bitmap) {
        monitor_printf(mon, "Either dirty ring or dirty bitmap "
                       "can be specified!\n");
        return;
    }
    if (dirty_bitmap) {
        mode = DIRTY_RATE_MEASURE_MODE_DIRTY_BITMAP;
    } else if (dirty_ring) {
        mode = DIRTY_RATE_MEASURE_MODE_DIRTY_RING;
    }
    qmp_calc_dirty_rate(seconds, false, TIME_UNIT_SECOND, has_sample_pages,
                        sample_pages, true, mode, &err);
    if (hmp_handle_error(mon, err)) {
        return;
    }
    monitor_printf(mon, "Starting dirty rate measurement with period %"
                   PRId64 " seconds\n", seconds);
    monitor_printf(mon, "[Please use 'info dirty_rate' to check results]\n");
}
