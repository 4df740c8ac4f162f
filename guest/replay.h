/*
 * The built-in guest's replay workload: writes a recorded schedule's
 * pages (struct rs_replay_schedule, docs/guest-abi.md) on the recorded
 * timeline, scaled by the speed, and publishes its progress.
 */
#ifndef GUEST_REPLAY_H
#define GUEST_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/guest-abi.h"

struct guest_replay {
    const struct rs_replay_interval *intervals;
    const uint32_t *pages;
    uint8_t *region;
    uint32_t interval_count;
    uint32_t distinct_pages;
    uint64_t page_entries;
    uint64_t period_us;
    uint32_t speed_milli;
    bool loop;
    uint64_t tsc_per_us;

    uint64_t start_tsc;         /* the replay's time 0 */
    uint64_t pass_start_us;     /* recorded time at which this pass began */
    uint32_t interval;          /* current interval */
    uint32_t interval_pages;    /* of it written */
    uint64_t page_entry;        /* next entry of pages[] */
    uint64_t stores;            /* published as rs_ctl.visits */
    uint64_t intervals_done;
    uint64_t loops;
    bool finished;
};

/*
 * Check the schedule at @replay_gpa (the fields as read under the
 * workload's sequence count) and start replaying it.
 * Returns an enum rs_workload_status; anything but RS_WLS_OK leaves the
 * replay finished (the guest idles).
 */
uint32_t guest_replay_adopt(struct guest_replay *r, struct rs_ctl *ctl,
                            uint64_t region_gpa, uint64_t region_size,
                            uint64_t replay_gpa, uint32_t speed_milli,
                            uint32_t flags);

/*
 * Write the pages due now (at most one batch), or sleep until the next
 * one is due.  *pages_written counts every store.  Returns false when the
 * schedule turned out bad (rs_ctl.workload_status says so): run idle.
 */
bool guest_replay_step(struct guest_replay *r, struct rs_ctl *ctl,
                       uint64_t *pages_written);

#endif /* GUEST_REPLAY_H */
