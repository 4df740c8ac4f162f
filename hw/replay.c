/*
 * The VMM side of the replay workload: a recorded trace (loaded and
 * checked by the tools/dirty-trace reader) becomes a schedule in guest
 * RAM that the guest reads (struct rs_replay_schedule).
 *
 * Region layout: dense page index i of the replayed process is page i of
 * the vCPU's region, so the replay writes the region's first
 * distinct_pages pages; the schedule follows them, from the next page
 * boundary.  The guest only reads the schedule, so it is never dirty.
 */
#include "qemu/osdep.h"

#include "hw/machine.h"
#include "hw/replay.h"
#include "tools/dirty-trace/trace.h"
#include "trace.h"

typedef struct ReplayState {
    ReplayInfo info[RS_MAX_CPUS];
    bool active[RS_MAX_CPUS];
} ReplayState;

static ReplayState replay_state;

static uint32_t replay_pick_process(const DirtyTrace *t)
{
    uint32_t best = 0;

    for (uint32_t i = 1; i < t->process_count; i++) {
        if (t->processes[i].distinct_pages >
            t->processes[best].distinct_pages) {
            best = i;
        }
    }
    return best;
}

static bool replay_find_process(const DirtyTrace *t, const char *path,
                                int64_t pid, uint32_t *index, Error **errp)
{
    if (t->process_count == 0) {
        error_setg(errp, "replay: trace %s has no process", path);
        return false;
    }
    if (pid < 0) {
        *index = replay_pick_process(t);
        return true;
    }
    for (uint32_t i = 0; i < t->process_count; i++) {
        if (t->processes[i].pid == pid) {
            *index = i;
            return true;
        }
    }
    error_setg(errp, "replay: trace %s has no process %" PRId64 " (see "
               "dirty-trace-info --processes %s)", path, pid, path);
    return false;
}

bool replay_plan(const char *path, int64_t pid, uint64_t region_gpa,
                 uint64_t region_size, ReplayPlan *plan, Error **errp)
{
    g_autoptr(DirtyTrace) t = NULL;
    const DirtyTraceProcess *p;
    uint64_t pages_bytes, need_bytes, last_end_us = 0;

    memset(plan, 0, sizeof(*plan));
    if (t = dirty_trace_load(path, errp), !t) {
        error_prepend(errp, "replay: ");
        return false;
    }
    if (t->page_bytes != RS_PAGE_SIZE) {
        error_setg(errp, "replay: trace %s has %u-byte pages; the guest "
                   "replays 4096-byte pages", path, t->page_bytes);
        return false;
    }
    if (!replay_find_process(t, path, pid, &plan->process, errp)) {
        return false;
    }
    p = &t->processes[plan->process];
    if (p->interval_count == 0 || p->distinct_pages == 0) {
        error_setg(errp, "replay: process %d of trace %s wrote no page",
                   p->pid, path);
        return false;
    }
    for (uint32_t k = 0; k < p->interval_count; k++) {
        plan->page_writes += p->intervals[k].page_count;
        last_end_us = p->intervals[k].start_us - p->start_us +
                      p->intervals[k].duration_us;
    }
    pages_bytes = (uint64_t)p->distinct_pages * RS_PAGE_SIZE;
    if (pages_bytes > region_size) {
        error_setg(errp, "replay: process %d of trace %s wrote %u distinct "
                   "pages (%" PRIu64 " MiB); the region holds %" PRIu64
                   " pages: give size= at least %" PRIu64 " MiB", p->pid, path,
                   p->distinct_pages, pages_bytes / MiB,
                   region_size / RS_PAGE_SIZE,
                   DIV_ROUND_UP(pages_bytes, MiB));
        return false;
    }
    plan->schedule_bytes = rs_replay_schedule_bytes(p->interval_count,
                                                    plan->page_writes);
    need_bytes = pages_bytes + QEMU_ALIGN_UP(plan->schedule_bytes,
                                             RS_PAGE_SIZE);
    if (need_bytes > region_size) {
        error_setg(errp, "replay: the region holds process %d's %u pages "
                   "but not its schedule (%" PRIu64 " KiB more): give size= "
                   "at least %" PRIu64 " MiB", p->pid, p->distinct_pages,
                   DIV_ROUND_UP(plan->schedule_bytes, 1024),
                   DIV_ROUND_UP(need_bytes, MiB));
        return false;
    }
    plan->pid = p->pid;
    plan->interval_count = p->interval_count;
    plan->distinct_pages = p->distinct_pages;
    plan->period_us = MAX(p->end_us - p->start_us, last_end_us);
    plan->schedule_gpa = region_gpa + pages_bytes;
    plan->trace = g_steal_pointer(&t);
    return true;
}

void replay_lay_out(ReplayPlan *plan)
{
    const DirtyTraceProcess *p = &plan->trace->processes[plan->process];
    struct rs_replay_schedule *s = machine_ram_ptr(plan->schedule_gpa,
                                                   plan->schedule_bytes);
    struct rs_replay_interval *iv = (void *)(s + 1);
    uint32_t *pages = (uint32_t *)(iv + p->interval_count);

    s->magic = RS_REPLAY_MAGIC;
    s->interval_count = p->interval_count;
    s->distinct_pages = p->distinct_pages;
    s->reserved = 0;
    s->period_us = plan->period_us;
    s->page_entries = plan->page_writes;
    for (uint32_t k = 0; k < p->interval_count; k++) {
        const DirtyTraceInterval *in = &p->intervals[k];

        iv[k].start_us = in->start_us - p->start_us;
        iv[k].duration_us = in->duration_us;
        iv[k].page_count = in->page_count;
        if (in->page_count) {
            /* An empty interval may have no page array at all. */
            memcpy(pages, in->pages, in->page_count * sizeof(uint32_t));
            pages += in->page_count;
        }
    }
    trace_replay_lay_out(plan->pid, plan->interval_count,
                         plan->distinct_pages, plan->page_writes,
                         plan->schedule_gpa, plan->schedule_bytes);
    replay_plan_clear(plan);
}

void replay_plan_clear(ReplayPlan *plan)
{
    dirty_trace_free(plan->trace);
    plan->trace = NULL;
}

/* The schedule vCPU @cpu_index reads, if it is still the VMM's. */
static const struct rs_replay_schedule *replay_schedule(int cpu_index,
                                                       Error **errp)
{
    const ReplayInfo *info = replay_info(cpu_index);
    struct rs_ctl *ctl = machine_ctl(cpu_index);
    const struct rs_replay_schedule *s;
    uint64_t bytes;

    if (!info) {
        error_setg(errp, "replay: cpu %d does not replay a trace", cpu_index);
        return NULL;
    }
    bytes = rs_replay_schedule_bytes(info->interval_count, info->page_writes);
    s = machine_ram_ptr(ctl->replay_gpa, bytes);
    if (!s || s->magic != RS_REPLAY_MAGIC ||
        s->interval_count != info->interval_count ||
        s->distinct_pages != info->distinct_pages ||
        s->page_entries != info->page_writes) {
        error_setg(errp, "replay: cpu %d's schedule in guest RAM was "
                   "overwritten", cpu_index);
        return NULL;
    }
    return s;
}

bool replay_distinct_pages_between(int cpu_index, uint64_t visits_from,
                                   uint64_t visits_to, uint64_t *pages,
                                   Error **errp)
{
    const struct rs_replay_schedule *s = replay_schedule(cpu_index, errp);
    const struct rs_replay_interval *iv;
    const uint32_t *entries;
    g_autofree uint8_t *seen = NULL;

    if (!s) {
        return false;
    }
    if (visits_to < visits_from) {
        error_setg(errp, "replay: visits went back (%" PRIu64 " to %"
                   PRIu64 ")", visits_from, visits_to);
        return false;
    }
    if (visits_to - visits_from >= s->page_entries) {
        *pages = s->distinct_pages;
        return true;
    }
    iv = (const void *)(s + 1);
    entries = (const uint32_t *)(iv + s->interval_count);
    seen = g_malloc0(s->distinct_pages);
    *pages = 0;
    for (uint64_t v = visits_from; v < visits_to; v++) {
        uint32_t index = entries[v % s->page_entries];

        if (index >= s->distinct_pages) {
            error_setg(errp, "replay: cpu %d's schedule in guest RAM was "
                       "overwritten", cpu_index);
            return false;
        }
        *pages += !seen[index];
        seen[index] = 1;
    }
    return true;
}

const ReplayInfo *replay_info(int cpu_index)
{
    return replay_state.active[cpu_index] ? &replay_state.info[cpu_index]
                                          : NULL;
}

void replay_info_set(int cpu_index, const char *path,
                     const ReplayPlan *plan, uint32_t speed_milli, bool loop)
{
    ReplayInfo *info = &replay_state.info[cpu_index];

    replay_info_clear(cpu_index);
    info->trace_path = g_strdup(path);
    info->pid = plan->pid;
    info->speed_milli = speed_milli;
    info->loop = loop;
    info->interval_count = plan->interval_count;
    info->distinct_pages = plan->distinct_pages;
    info->page_writes = plan->page_writes;
    info->period_us = plan->period_us;
    replay_state.active[cpu_index] = true;
}

void replay_info_clear(int cpu_index)
{
    g_free(replay_state.info[cpu_index].trace_path);
    memset(&replay_state.info[cpu_index], 0, sizeof(ReplayInfo));
    replay_state.active[cpu_index] = false;
}
