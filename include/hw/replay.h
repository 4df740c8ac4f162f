/*
 * Replay of a recorded dirty-page trace by the built-in guest: the VMM
 * side.  replay_plan() loads and checks a trace and picks the process;
 * replay_lay_out() writes its schedule into guest RAM (docs/guest-abi.md,
 * "The replay workload").
 */
#ifndef HW_REPLAY_H
#define HW_REPLAY_H

#include <stdint.h>
#include "hw/guest-abi.h"

typedef struct DirtyTrace DirtyTrace;

/* What a vCPU replays, and the trace's own figures for one pass. */
typedef struct ReplayPlan {
    DirtyTrace *trace;          /* owned until replay_plan_clear() */
    uint32_t process;           /* index in trace->processes */
    int32_t pid;                /* that process's recorded pid */
    uint32_t interval_count;
    uint32_t distinct_pages;
    uint64_t page_writes;       /* sum of the intervals' page counts */
    uint64_t period_us;         /* the process's recorded lifetime */
    uint64_t schedule_gpa;      /* where the schedule goes */
    uint64_t schedule_bytes;
} ReplayPlan;

/* What a vCPU's replay came from, kept for x-query-workload. */
typedef struct ReplayInfo {
    char *trace_path;
    int32_t pid;
    uint32_t speed_milli;
    bool loop;
    uint32_t interval_count;
    uint32_t distinct_pages;
    uint64_t page_writes;
    uint64_t period_us;
} ReplayInfo;

/*
 * Load @path, pick the process with recorded pid @pid (or, if @pid < 0,
 * the one with the most distinct pages), and check that its pages and its
 * schedule fit the region [@region_gpa, +@region_size).  Nothing in the
 * guest changes.
 */
bool replay_plan(const char *path, int64_t pid, uint64_t region_gpa,
                 uint64_t region_size, ReplayPlan *plan, Error **errp);
/* Write @plan's schedule into guest RAM; the plan is cleared after. */
void replay_lay_out(ReplayPlan *plan);
void replay_plan_clear(ReplayPlan *plan);

/*
 * Exact ground truth: the distinct pages the replay on vCPU @cpu_index
 * wrote between two snapshots of its rs_ctl.visits (page stores since the
 * replay was adopted), read from the schedule in guest RAM.  Every index
 * of a pass is written in it, so a span of a whole pass or more is all
 * distinct_pages.  False (with @errp) when the vCPU does not replay or its
 * schedule is no longer intact.
 */
bool replay_distinct_pages_between(int cpu_index, uint64_t visits_from,
                                   uint64_t visits_to, uint64_t *pages,
                                   Error **errp);

/* What vCPU @cpu_index replays (NULL when it does not). */
const ReplayInfo *replay_info(int cpu_index);
void replay_info_set(int cpu_index, const char *path,
                     const ReplayPlan *plan, uint32_t speed_milli, bool loop);
void replay_info_clear(int cpu_index);

#endif /* HW_REPLAY_H */
