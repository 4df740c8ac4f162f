/*
 * The guest ABI's workload rule (rs_workload_check), shared by the VMM and
 * the guest: a table of workloads and the verdict each must get.
 */
#include "qemu/osdep.h"

#include "hw/guest-abi.h"

#define TEST_RAM_SIZE   (1 * GiB)
#define TEST_TSC_KHZ    2600000ull

typedef struct WorkloadCase {
    const char *name;
    uint32_t kind;
    uint32_t pattern;
    uint64_t region_gpa;
    uint64_t region_size;
    uint64_t rate_bytes_per_s;
    uint64_t tsc_khz;
    uint32_t want;
} WorkloadCase;

static const WorkloadCase cases[] = {
    { "idle-ignores-the-region", RS_WL_IDLE, RS_PAT_SEQ, 0, 0, 0, 0,
      RS_WLS_OK },
    { "write-whole-work-area", RS_WL_WRITE, RS_PAT_RANDOM, RS_WORK_BASE,
      TEST_RAM_SIZE - RS_WORK_BASE, 0, 0, RS_WLS_OK },
    { "paced-stamp", RS_WL_STAMP, RS_PAT_SEQ, RS_WORK_BASE, 64 * MiB,
      100 * MiB, TEST_TSC_KHZ, RS_WLS_OK },
    { "mixed-at-full-speed-needs-no-tsc", RS_WL_MIXED, RS_PAT_SEQ,
      RS_WORK_BASE, MiB, 0, 0, RS_WLS_OK },
    { "unknown-kind", RS_WL__MAX, RS_PAT_SEQ, RS_WORK_BASE, MiB, 0, 0,
      RS_WLS_BAD_KIND },
    { "unknown-pattern", RS_WL_READ, RS_PAT__MAX, RS_WORK_BASE, MiB, 0, 0,
      RS_WLS_BAD_PATTERN },
    { "empty-region", RS_WL_READ, RS_PAT_SEQ, RS_WORK_BASE, 0, 0, 0,
      RS_WLS_BAD_REGION },
    { "unaligned-start", RS_WL_WRITE, RS_PAT_SEQ, RS_WORK_BASE + 8, MiB, 0, 0,
      RS_WLS_BAD_REGION },
    { "unaligned-size", RS_WL_WRITE, RS_PAT_SEQ, RS_WORK_BASE, MiB + 8, 0, 0,
      RS_WLS_BAD_REGION },
    { "in-system-area", RS_WL_WRITE, RS_PAT_SEQ, RS_WORK_BASE - MiB, 2 * MiB,
      0, 0, RS_WLS_BAD_REGION },
    { "past-ram", RS_WL_WRITE, RS_PAT_SEQ, TEST_RAM_SIZE - MiB, 2 * MiB, 0, 0,
      RS_WLS_BAD_REGION },
    { "start-past-ram", RS_WL_WRITE, RS_PAT_SEQ, 2 * TEST_RAM_SIZE,
      RS_PAGE_SIZE, 0, 0, RS_WLS_BAD_REGION },
    { "size-wraps", RS_WL_WRITE, RS_PAT_SEQ, RS_WORK_BASE,
      UINT64_MAX - RS_PAGE_SIZE + 1, 0, 0, RS_WLS_BAD_REGION },
    { "rate-below-a-page-per-second", RS_WL_WRITE, RS_PAT_SEQ, RS_WORK_BASE,
      MiB, RS_PAGE_SIZE - 1, TEST_TSC_KHZ, RS_WLS_BAD_RATE },
    { "paced-without-tsc", RS_WL_WRITE, RS_PAT_SEQ, RS_WORK_BASE, MiB, MiB, 0,
      RS_WLS_BAD_TSC },
    { "paced-with-absurd-tsc", RS_WL_WRITE, RS_PAT_SEQ, RS_WORK_BASE, MiB,
      MiB, RS_MAX_TSC_KHZ + 1, RS_WLS_BAD_TSC },
};

static void test_check(gconstpointer opaque)
{
    const WorkloadCase *c = opaque;

    g_assert_cmpuint(rs_workload_check(c->kind, c->pattern, c->region_gpa,
                                       c->region_size, c->rate_bytes_per_s,
                                       c->tsc_khz, TEST_RAM_SIZE),
                     ==, c->want);
}

static void test_layout(void)
{
    /* The system area holds its parts in order, and RAM above it. */
    g_assert_cmphex(RS_PT_BASE + RS_PT_SIZE, <=, RS_CTL_BASE);
    g_assert_cmphex(rs_ctl_gpa(RS_MAX_CPUS - 1) + RS_CTL_SIZE, <=,
                    RS_IMAGE_BASE);
    g_assert_cmphex(RS_IMAGE_END, <=, RS_STACK_BASE);
    g_assert_cmphex(rs_stack_top(RS_MAX_CPUS - 1), <=, RS_SYS_SIZE);
    g_assert_cmphex(rs_stack_top(0) % 16, ==, 0);
    g_assert_cmphex(RS_MAX_RAM, <, RS_DOORBELL_GPA);
    g_assert_cmpuint(sizeof(struct rs_ctl), <=, RS_CTL_SIZE);
}

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/guest-abi/workload-check/%s",
                                                cases[i].name);

        g_test_add_data_func(path, &cases[i], test_check);
    }
    g_test_add_func("/guest-abi/system-area-layout", test_layout);
    return g_test_run();
}
