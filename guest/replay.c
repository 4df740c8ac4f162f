/*
 * Replay of a recorded dirty-page schedule in the built-in guest.
 *
 * Interval k's page j of n is due at the recorded time
 * pass_start + start_us + duration_us * j / n; recorded time runs at
 * speed_milli / 1000 of the TSC's.  Pages due are written at once (one
 * 8-byte store each, the running store count, so every store changes the
 * page); when none is due the guest sleeps until the next one.  A guest
 * held back (throttled, descheduled) writes what is due as fast as it can
 * and reports how far behind the recording it is: replay_lag_us.
 */
#include "replay.h"

/* Pages per step: a step is a few microseconds, as the write workload's. */
#define REPLAY_BATCH_PAGES 256
/* Sleeps, as the write workload's pacer: each is an exit (~30 us here). */
#define REPLAY_MIN_SLEEP_US 1000
#define REPLAY_MAX_SLEEP_US 10000
#define REPLAY_KHZ_PER_MHZ 1000

static inline uint64_t replay_rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void replay_sleep_us(uint64_t sleep_us)
{
    *(volatile uint64_t *)(uintptr_t)(RS_DOORBELL_GPA + RS_DB_SLEEP_US) =
        sleep_us;
}

/* Recorded microseconds since the replay began (no overflow for a day at
 * 1000x: 8.6e10 us * 1e6 < 2^64). */
static inline uint64_t replay_now_us(const struct guest_replay *r)
{
    uint64_t wall_us = (replay_rdtsc() - r->start_tsc) / r->tsc_per_us;

    return wall_us * r->speed_milli / RS_REPLAY_SPEED_ONE;
}

static void replay_finish(struct guest_replay *r, struct rs_ctl *ctl,
                          uint32_t status)
{
    r->finished = true;
    ctl->replay_lag_us = 0;
    if (status != RS_WLS_OK) {
        ctl->workload_status = status;
    }
}

/* The schedule's header and interval table, against RAM and the region. */
static uint32_t replay_check(const struct rs_replay_schedule *s,
                             uint64_t gpa, uint64_t ram_size,
                             uint64_t region_gpa, uint64_t region_size)
{
    const struct rs_replay_interval *iv = (const void *)(s + 1);
    uint64_t bytes, entries = 0, end_us = 0, used_end;

    if (s->magic != RS_REPLAY_MAGIC || s->interval_count == 0 ||
        s->distinct_pages == 0 ||
        s->distinct_pages > region_size / RS_PAGE_SIZE ||
        s->page_entries > ram_size / sizeof(uint32_t)) {
        return RS_WLS_BAD_REPLAY;
    }
    bytes = rs_replay_schedule_bytes(s->interval_count, s->page_entries);
    used_end = region_gpa + (uint64_t)s->distinct_pages * RS_PAGE_SIZE;
    if (bytes > ram_size - gpa ||
        (gpa < used_end && gpa + bytes > region_gpa)) {
        /* Past RAM, or where the replay itself writes. */
        return RS_WLS_BAD_REPLAY;
    }
    for (uint32_t k = 0; k < s->interval_count; k++) {
        if (iv[k].start_us < end_us ||
            iv[k].page_count > s->distinct_pages) {
            return RS_WLS_BAD_REPLAY;
        }
        end_us = iv[k].start_us + iv[k].duration_us;
        entries += iv[k].page_count;
    }
    if (entries != s->page_entries || s->period_us < end_us) {
        return RS_WLS_BAD_REPLAY;
    }
    return RS_WLS_OK;
}

uint32_t guest_replay_adopt(struct guest_replay *r, struct rs_ctl *ctl,
                            uint64_t region_gpa, uint64_t region_size,
                            uint64_t replay_gpa, uint32_t speed_milli,
                            uint32_t flags)
{
    const struct rs_replay_schedule *s = (const void *)(uintptr_t)replay_gpa;
    uint32_t status;

    r->finished = true;
    r->stores = 0;
    r->intervals_done = 0;
    r->loops = 0;
    ctl->replay_intervals = 0;
    ctl->replay_loops = 0;
    ctl->replay_interval_pages = 0;
    ctl->replay_lag_us = 0;
    status = rs_replay_check(replay_gpa, speed_milli, ctl->ram_size);
    if (status == RS_WLS_OK) {
        status = replay_check(s, replay_gpa, ctl->ram_size, region_gpa,
                              region_size);
    }
    if (status != RS_WLS_OK) {
        return status;
    }
    r->intervals = (const void *)(s + 1);
    r->pages = (const uint32_t *)(r->intervals + s->interval_count);
    r->region = (uint8_t *)(uintptr_t)region_gpa;
    r->interval_count = s->interval_count;
    r->distinct_pages = s->distinct_pages;
    r->page_entries = s->page_entries;
    r->period_us = s->period_us;
    r->speed_milli = speed_milli;
    r->loop = flags & RS_REPLAY_F_LOOP;
    r->tsc_per_us = ctl->tsc_khz / REPLAY_KHZ_PER_MHZ;
    r->start_tsc = replay_rdtsc();
    r->pass_start_us = 0;
    r->interval = 0;
    r->interval_pages = 0;
    r->page_entry = 0;
    r->finished = false;
    return RS_WLS_OK;
}

/* Interval done: count it, move to the next one or the next pass. */
static void replay_next_interval(struct guest_replay *r, struct rs_ctl *ctl)
{
    r->intervals_done++;
    r->interval_pages = 0;
    ctl->replay_interval_pages = 0;
    ctl->replay_intervals = r->intervals_done;
    if (++r->interval < r->interval_count) {
        return;
    }
    r->loops++;
    ctl->replay_loops = r->loops;
    if (!r->loop) {
        replay_finish(r, ctl, RS_WLS_OK);
        return;
    }
    r->interval = 0;
    r->page_entry = 0;
    r->pass_start_us += r->period_us;
}

static inline uint64_t replay_due_us(const struct guest_replay *r,
                                     const struct rs_replay_interval *iv)
{
    return r->pass_start_us + iv->start_us +
           (uint64_t)iv->duration_us * r->interval_pages / iv->page_count;
}

bool guest_replay_step(struct guest_replay *r, struct rs_ctl *ctl,
                       uint64_t *pages_written)
{
    uint64_t now_us, due_us = 0, sleep_us;
    uint32_t batch = 0;

    if (r->finished) {
        replay_sleep_us(REPLAY_MAX_SLEEP_US);
        return true;
    }
    now_us = replay_now_us(r);
    while (!r->finished && batch < REPLAY_BATCH_PAGES) {
        const struct rs_replay_interval *iv = &r->intervals[r->interval];
        uint32_t index;

        if (r->interval_pages >= iv->page_count) {
            /* An empty interval ends no earlier than it starts. */
            due_us = r->pass_start_us + iv->start_us;
            if (due_us > now_us) {
                break;
            }
            replay_next_interval(r, ctl);
            continue;
        }
        due_us = replay_due_us(r, iv);
        if (due_us > now_us) {
            break;
        }
        index = r->page_entry < r->page_entries ? r->pages[r->page_entry]
                                                 : r->distinct_pages;
        if (index >= r->distinct_pages) {
            /* The schedule changed under us (it is guest memory). */
            replay_finish(r, ctl, RS_WLS_BAD_REPLAY);
            return false;
        }
        ++*pages_written;
        *(volatile uint64_t *)(r->region + (uint64_t)index * RS_PAGE_SIZE) =
            *pages_written;
        ctl->pages_written = *pages_written;
        /* The one exact position in any snapshot (guest-abi.h). */
        ctl->visits = ++r->stores;
        r->page_entry++;
        ctl->replay_interval_pages = ++r->interval_pages;
        batch++;
    }
    if (r->finished) {
        return true;
    }
    /* due_us is the next page's (or interval end's) recorded time. */
    ctl->replay_lag_us = now_us > due_us ? now_us - due_us : 0;
    if (batch == 0) {
        sleep_us = (due_us - now_us) * RS_REPLAY_SPEED_ONE / r->speed_milli;
        if (sleep_us < REPLAY_MIN_SLEEP_US) {
            sleep_us = REPLAY_MIN_SLEEP_US;
        } else if (sleep_us > REPLAY_MAX_SLEEP_US) {
            sleep_us = REPLAY_MAX_SLEEP_US;
        }
        replay_sleep_us(sleep_us);
    }
    return true;
}
