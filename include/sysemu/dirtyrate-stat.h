/*
 * The per-vCPU dirty-rate calculator thread (softmmu/dirtyrate-stat.c).
 *
 * Every period it reads each vCPU's monotonic dirty-page counter
 * (CPUState.dirty_pages: dirty-ring entries harvested for that vCPU, i.e.
 * write faults after a harvest) and publishes, lock-free, the rate over
 * the last period.  Users (the dirty limiter, HMP/QMP views) start and
 * stop it independently; it runs while any user needs it.  Its clock is
 * injected so unit tests step a fake clock.
 */
#ifndef SYSEMU_DIRTYRATE_STAT_H
#define SYSEMU_DIRTYRATE_STAT_H

#include <stdint.h>

typedef struct VcpuDirtyStat {
    uint64_t dirty_pages;           /* counter value at measured_ns */
    uint64_t rate_pages_per_s;      /* over the last period */
    int64_t measured_ns;            /* the clock's time of the sample */
    uint64_t period_ns;             /* length of the window measured */
} VcpuDirtyStat;

/* Called on the calculator thread after each period, with no lock held. */
typedef void (*DirtyRateStatListener)(void *opaque);

bool dirtyrate_stat_start(Error **errp);    /* refcounted */
void dirtyrate_stat_stop(void);
bool dirtyrate_stat_running(void);
/* Latest published sample of @cpu_index; false if none yet. */
bool dirtyrate_stat_get(int cpu_index, VcpuDirtyStat *out);
void dirtyrate_stat_set_period_ms(uint32_t period_ms);
uint32_t dirtyrate_stat_period_ms(void);
void dirtyrate_stat_add_listener(DirtyRateStatListener fn, void *opaque);
void dirtyrate_stat_remove_listener(DirtyRateStatListener fn, void *opaque);

#endif /* SYSEMU_DIRTYRATE_STAT_H */
