/*
 * restraint's built-in workload guest.
 *
 * Freestanding 64-bit code that runs at CPL3 on identity-mapped user pages
 * (VA == GPA, see docs/guest-abi.md).  Every vCPU enters _start with
 * RDI = its struct rs_ctl and RSP = the top of its own stack.  All state
 * lives on that stack and the image has no writable globals, so any number
 * of vCPUs run this one copy.
 *
 * One pass of the main loop does one bounded batch of the current
 * workload, publishes the counters and compares the workload generation,
 * so a change is picked up within one batch (a few microseconds) or one
 * sleep (GUEST_MAX_SLEEP_US).  An idle vCPU waits in the VMM until the
 * generation moves (RS_DB_WAIT_GEN): no polling.
 *
 * Built with its own flags (guest/meson.build): no SSE, no red zone, no
 * libc; whatever the compiler cannot do without a library fails to link.
 */
#include <stdbool.h>
#include <stdint.h>

#include "hw/guest-abi.h"
#include "replay.h"

/* write/stamp at full speed: 256 pages take ~3 us, so the per-batch rdtsc
 * and generation check cost well under 1%. */
#define GUEST_WRITE_BATCH_PAGES 256
/* read/mixed: 16 pages (64 KiB) per batch, a few microseconds. */
#define GUEST_READ_BATCH_PAGES 16
/* No sleep lasts longer: bounds how late a workload change is noticed. */
#define GUEST_MAX_SLEEP_US 10000
/* A paced vCPU sleeps at least this long.  Each sleep is an MMIO exit
 * (~30 us here); sleeping once per page at 100 MB/s would spend most of
 * the time exiting.  The pages that fall due meanwhile go out together. */
#define GUEST_MIN_SLEEP_US 1000
/* A paced vCPU that fell behind (paused, throttled, descheduled) catches
 * up at most this much time's worth of pages, so the ground truth never
 * shows a burst the target rate would not have allowed. */
#define GUEST_MAX_LAG_US 10000
/* mixed at full speed (rate 0): one visited page in this many is written. */
#define GUEST_MIXED_WRITE_EVERY 10
/* Pacing keeps TSC ticks per page in fixed point with this many fraction
 * bits: drift under 2^-16 tick per page, and no overflow (guest-abi.h
 * bounds tsc_khz and the rate). */
#define GUEST_PACE_FRAC_BITS 16
#define GUEST_PAGE_WORDS (RS_PAGE_SIZE / sizeof(uint64_t))
#define GUEST_KHZ_PER_MHZ 1000
#define GUEST_HZ_PER_KHZ 1000

/*
 * Entry.  The C ABI wants RSP 16-byte aligned at a call; the VMM's stack
 * top already is, the `and` makes sure.  guest_main never returns; if it
 * did, ud2 raises #UD, which (no IDT) is a triple fault: a guest crash.
 */
__asm__(".pushsection .text.entry, \"ax\", @progbits\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    andq $-16, %rsp\n"
        "    callq guest_main\n"
        "    ud2\n"
        ".size _start, . - _start\n"
        ".popsection\n");

void guest_main(struct rs_ctl *ctl) __attribute__((noreturn, used));

/* Paces page stores to a target rate with TSC deadlines. */
struct pacer {
    uint64_t tsc_per_page_fp; /* ticks per page << FRAC_BITS; 0 = no pacing */
    uint64_t tsc_per_page;    /* integer part, >= 1 when pacing */
    uint64_t due_tsc;         /* the next page may be stored from here on */
    uint64_t due_frac;        /* fraction of a tick carried to due_tsc */
    uint64_t max_lag_tsc;     /* GUEST_MAX_LAG_US in ticks */
    uint64_t tsc_per_us;
};

struct guest {
    struct rs_ctl *ctl;

    /* The workload adopted at `generation`, already validated. */
    uint64_t generation;
    uint32_t kind;
    uint32_t pattern;
    uint8_t *region;
    uint64_t region_pages;
    struct pacer pacer;

    /* Progress in this workload. */
    uint64_t visits;            /* published as rs_ctl.visits */
    uint64_t sweep_pages;       /* visits % region_pages */
    uint64_t sweeps;
    uint64_t stamp;
    uint64_t rng;               /* xorshift64 state, never 0 */
    uint64_t mixed_countdown;   /* visits until the next unpaced write */
    uint64_t read_sum;          /* keeps the reads observable */
    struct guest_replay replay;

    /* Since the guest started. */
    uint64_t iterations;
    uint64_t pages_written;
    uint64_t bytes_read;
};

static inline void compiler_barrier(void)
{
    __asm__ volatile("" : : : "memory");
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause");
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* An 8-byte store to a doorbell register: an MMIO exit to the VMM. */
static inline void doorbell_store(uint64_t reg, uint64_t value)
{
    volatile uint64_t *db = (volatile uint64_t *)(uintptr_t)(RS_DOORBELL_GPA +
                                                            reg);

    *db = value;
}

static void __attribute__((noreturn)) guest_panic(uint64_t code)
{
    doorbell_store(RS_DB_PANIC, code);
    /* The VMM stops us; should it resume us anyway, burn no CPU. */
    for (;;) {
        doorbell_store(RS_DB_SLEEP_US, GUEST_MAX_SLEEP_US);
    }
}

/* splitmix64 step: turns any seed (even 0) into a well-mixed state. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A uniformly random page index in [0, pages): xorshift64, then a
 * multiply-high range reduction (no division in the hot loop). */
static inline uint64_t random_page(uint64_t *rng, uint64_t pages)
{
    uint64_t x = *rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    return (uint64_t)(((unsigned __int128)x * pages) >> 64);
}

static void pacer_init(struct pacer *p, uint64_t rate_bytes_per_s,
                       uint64_t tsc_khz, uint64_t now_tsc)
{
    /* tsc_khz <= RS_MAX_TSC_KHZ: tsc_hz * 4096 << 16 < 2^62. */
    uint64_t tsc_hz = tsc_khz * GUEST_HZ_PER_KHZ;

    p->tsc_per_page_fp = 0;
    if (rate_bytes_per_s == 0) {
        return;
    }
    p->tsc_per_page_fp = ((tsc_hz * RS_PAGE_SIZE) << GUEST_PACE_FRAC_BITS) /
                         rate_bytes_per_s;
    p->tsc_per_page = p->tsc_per_page_fp >> GUEST_PACE_FRAC_BITS;
    if (p->tsc_per_page == 0) {
        /* More than a page per tick: nothing to pace. */
        p->tsc_per_page_fp = 0;
        return;
    }
    p->due_tsc = now_tsc;
    p->due_frac = 0;
    p->tsc_per_us = tsc_khz / GUEST_KHZ_PER_MHZ;
    p->max_lag_tsc = GUEST_MAX_LAG_US * p->tsc_per_us;
}

static inline bool pacer_active(const struct pacer *p)
{
    return p->tsc_per_page_fp != 0;
}

/* How many pages may be stored at @now_tsc, at most @max_pages. */
static inline uint64_t pacer_allowance(struct pacer *p, uint64_t now_tsc,
                                       uint64_t max_pages)
{
    uint64_t pages;

    if (!pacer_active(p)) {
        return max_pages;
    }
    if (now_tsc < p->due_tsc) {
        if (p->due_tsc - now_tsc > p->tsc_per_page + p->max_lag_tsc) {
            /* Further ahead than pacing ever puts it: the TSC went back
             * (a migration to another host).  Start again from now. */
            p->due_tsc = now_tsc;
            p->due_frac = 0;
        }
        return 0;
    }
    if (now_tsc - p->due_tsc > p->max_lag_tsc) {
        /* Forget the debt beyond the bound. */
        p->due_tsc = now_tsc - p->max_lag_tsc;
        p->due_frac = 0;
    }
    pages = (now_tsc - p->due_tsc) / p->tsc_per_page + 1;
    return pages < max_pages ? pages : max_pages;
}

/* @pages were stored: move the deadline. */
static inline void pacer_consume(struct pacer *p, uint64_t pages)
{
    /* pages <= GUEST_WRITE_BATCH_PAGES, tsc_per_page_fp < 2^50 at the
     * slowest rate: no overflow. */
    uint64_t acc = p->due_frac + pages * p->tsc_per_page_fp;

    p->due_tsc += acc >> GUEST_PACE_FRAC_BITS;
    p->due_frac = acc & ((1ull << GUEST_PACE_FRAC_BITS) - 1);
}

/* Yield until the next page is due, within [MIN, MAX]_SLEEP_US. */
static void pacer_sleep(const struct pacer *p, uint64_t now_tsc)
{
    uint64_t sleep_us = (p->due_tsc - now_tsc) / p->tsc_per_us;

    if (sleep_us < GUEST_MIN_SLEEP_US) {
        sleep_us = GUEST_MIN_SLEEP_US;
    } else if (sleep_us > GUEST_MAX_SLEEP_US) {
        sleep_us = GUEST_MAX_SLEEP_US;
    }
    doorbell_store(RS_DB_SLEEP_US, sleep_us);
}

/*
 * One visit done (its store or reads already issued): publish `visits`
 * first, the one exact counter, then the sweep counters derived from it.
 */
static inline void guest_visit_done(struct guest *g, uint64_t *visits,
                                    uint64_t *sweep_pages)
{
    struct rs_ctl *ctl = g->ctl;

    ctl->visits = ++*visits;
    if (++*sweep_pages == g->region_pages) {
        *sweep_pages = 0;
        g->sweeps++;
        ctl->sweeps = g->sweeps;
        if (g->kind == RS_WL_STAMP) {
            g->stamp++;
            ctl->stamp = g->stamp;
        }
    }
}

static inline uint64_t guest_next_page(struct guest *g, bool random,
                                       uint64_t sweep_pages)
{
    return random ? random_page(&g->rng, g->region_pages) : sweep_pages;
}

/*
 * Store to @pages pages, one 8-byte store at the start of each.  `write`
 * stores this vCPU's running store count (so every store changes the
 * page), `stamp` the sweep number.  Inlined with constant flags so each
 * variant is its own tight loop.
 */
static inline __attribute__((always_inline))
void guest_write_pages(struct guest *g, uint64_t pages, bool random,
                       bool stamp)
{
    struct rs_ctl *ctl = g->ctl;
    uint64_t written = g->pages_written;
    uint64_t visits = g->visits;
    uint64_t sweep_pages = g->sweep_pages;
    uint64_t i;

    for (i = 0; i < pages; i++) {
        uint64_t page = guest_next_page(g, random, sweep_pages);
        volatile uint64_t *word =
            (volatile uint64_t *)(g->region + page * RS_PAGE_SIZE);

        written++;
        *word = stamp ? g->stamp : written;
        ctl->pages_written = written;
        guest_visit_done(g, &visits, &sweep_pages);
    }
    g->pages_written = written;
    g->visits = visits;
    g->sweep_pages = sweep_pages;
}

/* Read every 8-byte word of a page; four sums keep the loads independent. */
static inline uint64_t guest_read_page(const uint64_t *page)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint64_t i;

    for (i = 0; i < GUEST_PAGE_WORDS; i += 4) {
        s0 += page[i];
        s1 += page[i + 1];
        s2 += page[i + 2];
        s3 += page[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

static inline void guest_read_one(struct guest *g, uint64_t page)
{
    g->read_sum += guest_read_page((const uint64_t *)(g->region +
                                                      page * RS_PAGE_SIZE));
    g->bytes_read += RS_PAGE_SIZE;
    g->ctl->bytes_read = g->bytes_read;
}

static void guest_step_write(struct guest *g)
{
    uint64_t pages = GUEST_WRITE_BATCH_PAGES;
    bool random = g->kind == RS_WL_WRITE && g->pattern == RS_PAT_RANDOM;

    if (pacer_active(&g->pacer)) {
        uint64_t now_tsc = rdtsc();

        pages = pacer_allowance(&g->pacer, now_tsc, pages);
        if (pages == 0) {
            pacer_sleep(&g->pacer, now_tsc);
            return;
        }
        pacer_consume(&g->pacer, pages);
    }
    if (g->kind == RS_WL_STAMP) {
        guest_write_pages(g, pages, false, true);
    } else if (random) {
        guest_write_pages(g, pages, true, false);
    } else {
        guest_write_pages(g, pages, false, false);
    }
}

static void guest_step_read(struct guest *g)
{
    bool random = g->pattern == RS_PAT_RANDOM;
    uint64_t visits = g->visits;
    uint64_t sweep_pages = g->sweep_pages;
    uint64_t i;

    for (i = 0; i < GUEST_READ_BATCH_PAGES; i++) {
        guest_read_one(g, guest_next_page(g, random, sweep_pages));
        guest_visit_done(g, &visits, &sweep_pages);
    }
    g->visits = visits;
    g->sweep_pages = sweep_pages;
}

/*
 * mixed: each visited page is either written (one store, as `write`) or
 * read whole.  Paced: written when a page is due, read otherwise.
 * Unpaced: one visit in GUEST_MIXED_WRITE_EVERY is a write.
 */
static void guest_step_mixed(struct guest *g)
{
    bool random = g->pattern == RS_PAT_RANDOM;
    uint64_t visits = g->visits;
    uint64_t sweep_pages = g->sweep_pages;
    uint64_t i;

    for (i = 0; i < GUEST_READ_BATCH_PAGES; i++) {
        uint64_t page = guest_next_page(g, random, sweep_pages);
        bool write;

        if (pacer_active(&g->pacer)) {
            write = pacer_allowance(&g->pacer, rdtsc(), 1) != 0;
            if (write) {
                pacer_consume(&g->pacer, 1);
            }
        } else {
            write = --g->mixed_countdown == 0;
            if (write) {
                g->mixed_countdown = GUEST_MIXED_WRITE_EVERY;
            }
        }
        if (write) {
            g->pages_written++;
            *(volatile uint64_t *)(g->region + page * RS_PAGE_SIZE) =
                g->pages_written;
            g->ctl->pages_written = g->pages_written;
        } else {
            guest_read_one(g, page);
        }
        guest_visit_done(g, &visits, &sweep_pages);
    }
    g->visits = visits;
    g->sweep_pages = sweep_pages;
}

/*
 * Read the workload under the VMM's sequence count, validate it, and
 * restart the per-workload progress.  Anything invalid runs as idle, with
 * the reason in workload_status.
 */
static void guest_adopt_workload(struct guest *g)
{
    struct rs_ctl *ctl = g->ctl;
    uint64_t generation, region_gpa, region_size, rate_bytes_per_s, seed;
    uint64_t replay_gpa;
    uint32_t kind, pattern, status, replay_speed_milli, replay_flags;

    for (;;) {
        generation = ctl->generation;
        if (generation & 1) {
            cpu_relax();
            continue;
        }
        /* x86 keeps loads in order; only the compiler must be told. */
        compiler_barrier();
        kind = ctl->kind;
        pattern = ctl->pattern;
        region_gpa = ctl->region_gpa;
        region_size = ctl->region_size;
        rate_bytes_per_s = ctl->rate_bytes_per_s;
        seed = ctl->seed;
        replay_gpa = ctl->replay_gpa;
        replay_speed_milli = ctl->replay_speed_milli;
        replay_flags = ctl->replay_flags;
        compiler_barrier();
        if (ctl->generation == generation) {
            break;
        }
    }

    status = rs_workload_check(kind, pattern, region_gpa, region_size,
                               rate_bytes_per_s, ctl->tsc_khz, ctl->ram_size);
    if (status == RS_WLS_OK && kind == RS_WL_REPLAY) {
        status = guest_replay_adopt(&g->replay, ctl, region_gpa,
                                    region_size, replay_gpa,
                                    replay_speed_milli, replay_flags);
    }
    if (status != RS_WLS_OK) {
        kind = RS_WL_IDLE;
    }
    g->generation = generation;
    g->kind = kind;
    g->pattern = pattern;
    g->region = (uint8_t *)(uintptr_t)region_gpa;
    g->region_pages = region_size / RS_PAGE_SIZE;
    g->visits = 0;
    g->sweep_pages = 0;
    g->sweeps = 0;
    g->stamp = kind == RS_WL_STAMP ? 1 : 0;
    g->rng = splitmix64(seed);
    if (g->rng == 0) {
        g->rng = 1;
    }
    g->mixed_countdown = GUEST_MIXED_WRITE_EVERY;
    pacer_init(&g->pacer, kind == RS_WL_IDLE || kind == RS_WL_READ ||
               kind == RS_WL_REPLAY ?
               0 : rate_bytes_per_s, ctl->tsc_khz, rdtsc());

    ctl->visits = 0;
    ctl->sweeps = 0;
    ctl->stamp = g->stamp;
    ctl->workload_status = status;
    /* Last: the VMM may rely on everything above once it sees this. */
    ctl->seen_generation = generation;
}

/* One pass of the main loop done: the liveness counter and its time. */
static void guest_publish_pass(struct guest *g)
{
    g->iterations++;
    g->ctl->iterations = g->iterations;
    g->ctl->last_tsc = rdtsc();
}

void guest_main(struct rs_ctl *ctl)
{
    struct guest g = { .ctl = ctl };

    if (ctl->magic != RS_ABI_MAGIC || ctl->abi_version != RS_ABI_VERSION) {
        guest_panic(RS_PANIC_BAD_ABI);
    }
    ctl->iterations = 0;
    ctl->pages_written = 0;
    ctl->bytes_read = 0;
    guest_adopt_workload(&g);

    for (;;) {
        switch (g.kind) {
        case RS_WL_WRITE:
        case RS_WL_STAMP:
            guest_step_write(&g);
            break;
        case RS_WL_READ:
            guest_step_read(&g);
            break;
        case RS_WL_MIXED:
            guest_step_mixed(&g);
            break;
        case RS_WL_REPLAY:
            if (!guest_replay_step(&g.replay, ctl, &g.pages_written)) {
                g.kind = RS_WL_IDLE;
            }
            break;
        default:
            /* Counters first: the wait lasts until the next workload.
             * The VMM compares the generation under its lock, so a
             * workload published before the store ends the wait at once:
             * none is missed, and an idle vCPU makes no other exit. */
            guest_publish_pass(&g);
            doorbell_store(RS_DB_WAIT_GEN, g.generation);
            break;
        }
        /* The reads must happen: hand their sum to an empty asm. */
        __asm__ volatile("" : : "r"(g.read_sum));
        guest_publish_pass(&g);
        if (ctl->generation != g.generation) {
            guest_adopt_workload(&g);
        }
    }
}
