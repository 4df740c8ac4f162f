/*
 * The QMP view of dirty tracking (x-query-dirty-tracking); HMP's
 * info dirty_tracking is in softmmu/memory-hmp-cmds.c.
 */
#include "qemu/osdep.h"

#include "hw/core/cpu.h"
#include "qapi/qapi-commands.h"
#include "qemu/atomic.h"
#include "sysemu/cpus.h"
#include "sysemu/memory.h"

DirtyTrackingInfo *qmp_x_query_dirty_tracking(Error **errp)
{
    DirtyTrackingInfo *info = g_new0(DirtyTrackingInfo, 1);
    DirtyTrackingStats st;
    strList **users_tail = &info->users;
    DirtyTrackingVcpuList **vcpus_tail = &info->vcpus;

    memory_dirty_tracking_stats(&st);
    info->mode = st.mode == DIRTY_TRACKING_RING ? DIRTY_LOG_MODE_DIRTY_RING
                                                : DIRTY_LOG_MODE_DIRTY_BITMAP;
    info->ring_size = st.ring_entries;
    info->manual_protect = st.manual_protect;
    info->initially_set = st.initially_set;
    for (unsigned int flag = 1; flag & GLOBAL_DIRTY_MASK; flag <<= 1) {
        if (st.users & flag) {
            strList *elem = g_new0(strList, 1);

            elem->value = g_strdup(memory_dirty_user_name(flag));
            *users_tail = elem;
            users_tail = &elem->next;
        }
    }
    info->syncs = st.syncs;
    info->reaper_runs = st.reaper_runs;
    info->ring_harvested = st.ring_harvested;
    info->ring_dropped = st.ring_dropped;
    info->ring_reset_mismatches = st.ring_reset_mismatches;
    info->harvest_ns = st.ring_harvest_ns;
    info->bitmap_pages = st.bitmap_pages;
    for (int i = 0; i < cpus_count(); i++) {
        CPUState *cpu = cpus_get(i);
        DirtyTrackingVcpu *v = g_new0(DirtyTrackingVcpu, 1);
        DirtyTrackingVcpuList *elem = g_new0(DirtyTrackingVcpuList, 1);

        v->cpu_index = i;
        v->dirty_pages = qatomic_read(&cpu->dirty_pages);
        v->ring_full_exits = qatomic_read(&cpu->dirty_ring_full_count);
        elem->value = v;
        *vcpus_tail = elem;
        vcpus_tail = &elem->next;
    }
    return info;
}
