/*
 * restraint guest ABI: shared by the VMM and the freestanding guest build.
 *
 * This header must stay freestanding: <stdint.h> only, no GLib, no libc.
 * See docs/guest-abi.md for the prose version of this contract.
 *
 * Guest-physical layout (VA == GPA, identity mapped by the VMM):
 *
 *   0x0000_0000  RS_PT_BASE     page tables (PML4 first), built by hw/pagetable.c
 *   0x0010_0000  RS_CTL_BASE    one 1 KiB control block per vCPU (struct rs_ctl)
 *   0x0020_0000  RS_IMAGE_BASE  the guest program (ELF PT_LOAD segments)
 *   0x0080_0000  RS_STACK_BASE  per-vCPU stacks, RS_STACK_SIZE each, growing down
 *   0x0100_0000  RS_SYS_SIZE    end of the system area; workload regions lie above
 *   RS_DOORBELL_GPA             the doorbell MMIO page, outside RAM (no memslot)
 *
 * The system area is its own memslot and is never dirty-logged: the
 * guest's counters and stacks would otherwise count as dirty pages in every
 * measurement.  Migration copies it whole at switchover.
 */
#ifndef HW_GUEST_ABI_H
#define HW_GUEST_ABI_H

#include <stdint.h>

#define RS_ABI_MAGIC        0x52535452u /* "RTSR" little-endian "RSTR" */
#define RS_ABI_VERSION      2u  /* 2: 1024 vCPUs, RS_DB_WAIT_GEN */

#define RS_PAGE_SIZE        UINT64_C(4096)
#define RS_PT_BASE          UINT64_C(0x00000000)
#define RS_PT_SIZE          UINT64_C(0x00100000)   /* room for 256 tables */
/* CR3: the PML4 is the second page (GPA 0 stays unused, a null guard). */
#define RS_PML4_GPA         (RS_PT_BASE + UINT64_C(0x1000))
#define RS_CTL_BASE         UINT64_C(0x00100000)
/* 1 KiB per vCPU: the 1 MiB area holds RS_MAX_CPUS control blocks. */
#define RS_CTL_SIZE         UINT64_C(1024)
/* The layout's limit (control blocks and stacks), KVM's own is checked
 * at start (KVM_CAP_MAX_VCPUS). */
#define RS_MAX_CPUS         1024
#define RS_IMAGE_BASE       UINT64_C(0x00200000)
#define RS_IMAGE_END        UINT64_C(0x00800000)   /* 6 MiB for the program */
#define RS_STACK_BASE       UINT64_C(0x00800000)
/* 8 KiB per vCPU: the built-in guest uses < 1 KiB (-fstack-usage). */
#define RS_STACK_SIZE       UINT64_C(0x00002000)
#define RS_SYS_SIZE         UINT64_C(0x01000000)   /* 16 MiB: end of system area */
/* First GPA of workload memory: everything from here to the end of RAM. */
#define RS_WORK_BASE        RS_SYS_SIZE
/* At 512 GiB: its own PML4 entry, far above any RAM we accept. */
#define RS_DOORBELL_GPA     UINT64_C(0x8000000000)
#define RS_MAX_RAM          UINT64_C(0x4000000000) /* 256 GiB */

/* Doorbell registers: 8-byte guest stores at RS_DOORBELL_GPA + offset. */
#define RS_DB_SLEEP_US      0x00    /* value: microseconds to yield the CPU */
#define RS_DB_EVENT         0x08    /* value: an event code, reported */
#define RS_DB_PANIC         0x10    /* value: a panic code; the vCPU stops */
/* value: the generation the guest runs; the vCPU sleeps until the VMM
 * publishes another (or pauses it).  An idle guest's only exit. */
#define RS_DB_WAIT_GEN      0x18

/* Workload kinds (rs_ctl.kind). */
enum rs_workload_kind {
    RS_WL_IDLE = 0,
    RS_WL_WRITE = 1,   /* one store per 4 KiB page, changes its content */
    RS_WL_READ = 2,    /* streams through the region, counting bytes */
    RS_WL_MIXED = 3,   /* writes at the target rate, reads otherwise */
    RS_WL_STAMP = 4,   /* stores the sweep number into every page */
    RS_WL_REPLAY = 5,  /* replays a recorded schedule (rs_replay_schedule) */
    RS_WL__MAX
};

enum rs_workload_pattern {
    RS_PAT_SEQ = 0,
    RS_PAT_RANDOM = 1,
    RS_PAT__MAX
};

/*
 * What the guest made of the workload it last read (rs_ctl.workload_status).
 * Anything but OK: the guest runs `idle` until the next generation.
 */
enum rs_workload_status {
    RS_WLS_OK = 0,
    RS_WLS_BAD_KIND = 1,     /* kind >= RS_WL__MAX */
    RS_WLS_BAD_PATTERN = 2,  /* pattern >= RS_PAT__MAX */
    RS_WLS_BAD_REGION = 3,   /* empty, unaligned, below work area, past RAM */
    RS_WLS_BAD_RATE = 4,     /* nonzero but below RS_MIN_RATE_BYTES_PER_S */
    RS_WLS_BAD_TSC = 5,      /* a paced workload needs tsc_khz in range */
    RS_WLS_BAD_REPLAY = 6,   /* replay: schedule or speed out of bounds */
    RS_WLS__MAX
};

/* Panic codes the built-in guest stores to RS_DB_PANIC. */
enum rs_panic_code {
    RS_PANIC_BAD_ABI = 1,    /* rs_ctl magic or abi_version mismatch */
};

/* Slowest pacing: one page per second, so pacing arithmetic cannot overflow. */
#define RS_MIN_RATE_BYTES_PER_S RS_PAGE_SIZE
/* TSC frequencies the guest can pace with: 1 MHz .. 10 GHz. */
#define RS_MIN_TSC_KHZ          UINT64_C(1000)
#define RS_MAX_TSC_KHZ          UINT64_C(10000000)

/* Replay speed, thousandths of the recorded speed: 0.001x .. 1000x. */
#define RS_REPLAY_SPEED_ONE       1000u
#define RS_REPLAY_MIN_SPEED_MILLI 1u
#define RS_REPLAY_MAX_SPEED_MILLI 1000000u
/* rs_ctl.replay_flags */
#define RS_REPLAY_F_LOOP          (1u << 0)

/*
 * A replay schedule, laid out by the VMM in guest RAM at rs_ctl.replay_gpa
 * (8-byte aligned) and only read by the guest: this header, then
 * interval_count struct rs_replay_interval, then page_entries uint32_t
 * page indices, interval after interval (interval k's pages follow those
 * of intervals 0..k-1).  Index i names page i of the vCPU's region; every
 * index is < distinct_pages and distinct_pages pages fit the region.
 * Times are the recording's microseconds from the start of the replayed
 * process; interval k's page j of n is due at
 * start_us + duration_us * j / n, scaled by the speed.
 */
#define RS_REPLAY_MAGIC 0x59504c52u /* "RLPY" */

struct rs_replay_interval {
    uint64_t start_us;          /* ascending, intervals do not overlap */
    uint32_t duration_us;
    uint32_t page_count;        /* distinct pages, ascending indices */
};

struct rs_replay_schedule {
    uint32_t magic;             /* RS_REPLAY_MAGIC */
    uint32_t interval_count;    /* >= 1 */
    uint32_t distinct_pages;    /* >= 1 */
    uint32_t reserved;
    uint64_t period_us;         /* one pass, >= the last interval's end */
    uint64_t page_entries;      /* sum of page_count */
    /* struct rs_replay_interval intervals[interval_count]; */
    /* uint32_t pages[page_entries]; */
};

/* Bytes a schedule takes in guest RAM. */
static inline uint64_t rs_replay_schedule_bytes(uint64_t interval_count,
                                                uint64_t page_entries)
{
    return sizeof(struct rs_replay_schedule) +
           interval_count * sizeof(struct rs_replay_interval) +
           page_entries * sizeof(uint32_t);
}

/*
 * One per vCPU at RS_CTL_BASE + cpu_index * RS_CTL_SIZE (1 KiB apart).
 *
 * The VMM writes the workload under a sequence count: it makes
 * `generation` odd, writes the workload fields, then makes it even again
 * (release).  The guest reads generation, the fields, generation again,
 * and retries if they differ or are odd.  It then stores the generation it
 * runs in `seen_generation`.
 *
 * The counters below are written only by the guest, with plain aligned
 * 8-byte stores, and read by the VMM without exits.
 */
struct rs_ctl {
    /* Set by the VMM at load time. */
    uint32_t magic;
    uint32_t abi_version;
    uint32_t cpu_index;
    uint32_t cpu_count;
    uint64_t tsc_khz;
    uint64_t doorbell_gpa;
    uint64_t ram_size;          /* bytes of RAM from GPA 0 */

    /* Workload, written by the VMM under the sequence count. */
    volatile uint64_t generation;
    uint32_t kind;              /* enum rs_workload_kind */
    uint32_t pattern;           /* enum rs_workload_pattern */
    uint64_t region_gpa;        /* page aligned, inside RAM above RS_WORK_BASE */
    uint64_t region_size;       /* bytes, a multiple of RS_PAGE_SIZE */
    uint64_t rate_bytes_per_s;  /* 0 = full speed */
    uint64_t seed;              /* random pattern seed */
    uint64_t replay_gpa;        /* replay: its struct rs_replay_schedule */
    uint32_t replay_speed_milli;  /* replay: RS_REPLAY_SPEED_ONE = 1x */
    uint32_t replay_flags;      /* replay: RS_REPLAY_F_* */
    uint64_t reserved0[1];

    /* Written by the guest. */
    volatile uint64_t seen_generation;
    volatile uint64_t iterations;     /* loop iterations, any workload */
    volatile uint64_t pages_written;  /* one per page store */
    volatile uint64_t bytes_read;
    volatile uint64_t sweeps;         /* completed passes over the region */
    volatile uint64_t last_tsc;       /* rdtsc at the last counter update */
    volatile uint64_t stamp;          /* stamp: sweep number being written */
    /*
     * Pages visited (stored to or read) since the workload was adopted,
     * stored right after each visit: the one counter that is exact in any
     * snapshot.  sweeps == visits / region_pages once the guest has
     * published the wrap; for seq and stamp, the next page is
     * visits % region_pages.  replay: page stores since adoption, so the
     * next schedule entry is visits % page_entries.
     */
    volatile uint64_t visits;
    /* enum rs_workload_status of the workload of seen_generation. */
    volatile uint64_t workload_status;
    /*
     * Replay progress, since the workload was adopted: intervals completed
     * (over all passes), passes completed, pages of the current interval
     * written (its index in replay_intervals % interval_count), and how
     * far behind the recorded schedule the guest is, in the recording's
     * microseconds (0 when on time or waiting for the next page).
     */
    volatile uint64_t replay_intervals;
    volatile uint64_t replay_loops;
    volatile uint64_t replay_interval_pages;
    volatile uint64_t replay_lag_us;
    uint64_t reserved1[2];
};

_Static_assert(sizeof(struct rs_ctl) <= RS_CTL_SIZE,
               "struct rs_ctl must fit its 1 KiB block");
_Static_assert(RS_CTL_BASE + RS_MAX_CPUS * RS_CTL_SIZE <= RS_IMAGE_BASE,
               "every vCPU's control block fits below the image");
_Static_assert(RS_STACK_BASE + RS_MAX_CPUS * RS_STACK_SIZE <= RS_SYS_SIZE,
               "every vCPU's stack fits in the system area");

/*
 * The one rule for a valid workload, used by the VMM before it writes one
 * and by the guest after it reads one.  Returns an enum rs_workload_status.
 */
static inline uint32_t rs_workload_check(uint32_t kind, uint32_t pattern,
                                         uint64_t region_gpa,
                                         uint64_t region_size,
                                         uint64_t rate_bytes_per_s,
                                         uint64_t tsc_khz, uint64_t ram_size)
{
    if (kind >= RS_WL__MAX) {
        return RS_WLS_BAD_KIND;
    }
    if (pattern >= RS_PAT__MAX) {
        return RS_WLS_BAD_PATTERN;
    }
    if (kind == RS_WL_IDLE) {
        return RS_WLS_OK;
    }
    if (region_size == 0 || region_gpa % RS_PAGE_SIZE != 0 ||
        region_size % RS_PAGE_SIZE != 0 || region_gpa < RS_WORK_BASE ||
        region_gpa > ram_size || region_size > ram_size - region_gpa) {
        return RS_WLS_BAD_REGION;
    }
    if (rate_bytes_per_s != 0 && rate_bytes_per_s < RS_MIN_RATE_BYTES_PER_S) {
        return RS_WLS_BAD_RATE;
    }
    if ((rate_bytes_per_s != 0 || kind == RS_WL_REPLAY) &&
        (tsc_khz < RS_MIN_TSC_KHZ || tsc_khz > RS_MAX_TSC_KHZ)) {
        return RS_WLS_BAD_TSC;
    }
    return RS_WLS_OK;
}

/*
 * The replay fields' rule (after rs_workload_check): the schedule header
 * lies in RAM above the system area and the speed is in range.  The guest
 * checks the schedule itself when it adopts it.
 */
static inline uint32_t rs_replay_check(uint64_t replay_gpa,
                                       uint32_t speed_milli,
                                       uint64_t ram_size)
{
    if (replay_gpa % 8 != 0 || replay_gpa < RS_WORK_BASE ||
        replay_gpa > ram_size ||
        ram_size - replay_gpa < sizeof(struct rs_replay_schedule) ||
        speed_milli < RS_REPLAY_MIN_SPEED_MILLI ||
        speed_milli > RS_REPLAY_MAX_SPEED_MILLI) {
        return RS_WLS_BAD_REPLAY;
    }
    return RS_WLS_OK;
}

/*
 * Entry state for every vCPU (see docs/guest-abi.md): 64-bit CPL3,
 * RIP = ELF entry, RDI = GPA of this vCPU's struct rs_ctl,
 * RSP = RS_STACK_BASE + (cpu_index + 1) * RS_STACK_SIZE.
 */
static inline uint64_t rs_ctl_gpa(uint32_t cpu_index)
{
    return RS_CTL_BASE + (uint64_t)cpu_index * RS_CTL_SIZE;
}

static inline uint64_t rs_stack_top(uint32_t cpu_index)
{
    return RS_STACK_BASE + ((uint64_t)cpu_index + 1) * RS_STACK_SIZE;
}

#endif /* HW_GUEST_ABI_H */
