/*
 * HMP info dirty_tracking: the QMP view of dirty tracking
 * (softmmu/memory-qmp.c) printed as text.
 */
#include "qemu/osdep.h"

#include "qapi/qapi-commands.h"
#include "sysemu/sysemu-hmp.h"

void hmp_info_dirty_tracking(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;
    g_autoptr(DirtyTrackingInfo) info = qmp_x_query_dirty_tracking(&err);

    if (hmp_handle_error(mon, err)) {
        return;
    }
    if (info->mode == DIRTY_LOG_MODE_DIRTY_RING) {
        monitor_printf(mon, "mode: dirty-ring, %u entries per vCPU\n",
                       info->ring_size);
    } else {
        monitor_printf(mon, "mode: dirty-bitmap, manual protect %s, "
                       "initially set %s\n",
                       info->manual_protect ? "on" : "off",
                       info->initially_set ? "on" : "off");
    }
    monitor_printf(mon, "users:");
    if (!info->users) {
        monitor_printf(mon, " none (tracking off)");
    }
    for (strList *u = info->users; u; u = u->next) {
        monitor_printf(mon, " %s", u->value);
    }
    monitor_printf(mon, "\nsyncs: %" PRIu64 ", reaper runs: %" PRIu64 "\n",
                   info->syncs, info->reaper_runs);
    if (info->mode == DIRTY_LOG_MODE_DIRTY_RING) {
        monitor_printf(mon, "ring entries harvested: %" PRIu64 " (dropped %"
                       PRIu64 ", reset mismatches %" PRIu64 "), %.1f ms "
                       "harvesting\n", info->ring_harvested,
                       info->ring_dropped, info->ring_reset_mismatches,
                       info->harvest_ns / 1e6);
        for (DirtyTrackingVcpuList *v = info->vcpus; v; v = v->next) {
            monitor_printf(mon, "vcpu[%" PRId64 "], dirty pages %" PRIu64
                           ", ring-full exits %" PRIu64 "\n",
                           v->value->cpu_index, v->value->dirty_pages,
                           v->value->ring_full_exits);
        }
    } else {
        monitor_printf(mon, "bitmap pages reported: %" PRIu64 "\n",
                       info->bitmap_pages);
    }
}
