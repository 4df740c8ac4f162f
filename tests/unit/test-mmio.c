/*
 * MMIO dispatch (hw/core/mmio.c): each access reaches the device whose
 * window holds it, at its offset; an address nobody owns is unassigned;
 * windows never overlap.
 */
#include "qemu/osdep.h"

#include "hw/core/mmio.h"
#include "test-cases.h"

typedef struct TestDevice {
    int accesses;
    uint64_t last_offset;
    uint32_t last_len;
    bool last_write;
    CPUState *last_cpu;
} TestDevice;

static void test_device_access(void *opaque, CPUState *cpu, uint64_t offset,
                               uint8_t *data, uint32_t len, bool is_write)
{
    TestDevice *dev = opaque;

    dev->accesses++;
    dev->last_offset = offset;
    dev->last_len = len;
    dev->last_write = is_write;
    dev->last_cpu = cpu;
    if (!is_write) {
        memset(data, 0xa5, len);
    }
}

static void test_an_access_reaches_its_window_at_its_offset(void)
{
    TestDevice a = { 0 }, b = { 0 };
    CPUState cpu = { .cpu_index = 3 };
    uint8_t data[8] = { 0 };

    g_assert_true(mmio_region_add(0x1000, 0x1000, test_device_access, &a,
                                  NULL));
    g_assert_true(mmio_region_add(0x3000, 0x10, test_device_access, &b,
                                  NULL));

    g_assert_true(mmio_dispatch(&cpu, 0x1ff8, data, 8, true));
    g_assert_cmpint(a.accesses, ==, 1);
    g_assert_cmpuint(a.last_offset, ==, 0xff8);
    g_assert_cmpuint(a.last_len, ==, 8);
    g_assert_true(a.last_write);
    g_assert_true(a.last_cpu == &cpu);

    g_assert_true(mmio_dispatch(&cpu, 0x300f, data, 1, false));
    g_assert_cmpint(b.accesses, ==, 1);
    g_assert_cmpuint(b.last_offset, ==, 0xf);
    g_assert_false(b.last_write);
    g_assert_cmpuint(data[0], ==, 0xa5);
    g_assert_cmpint(a.accesses, ==, 1);

    mmio_region_del(0x1000);
    mmio_region_del(0x3000);
}

static void test_an_address_nobody_owns_is_unassigned(void)
{
    TestDevice a = { 0 };
    CPUState cpu = { 0 };
    uint8_t data[4] = { 0 };
    /* Just below, just past the end, far away. */
    static const uint64_t outside[] = { 0xfff, 0x2000, 0xfee00000 };

    g_assert_true(mmio_region_add(0x1000, 0x1000, test_device_access, &a,
                                  NULL));
    for (size_t i = 0; i < G_N_ELEMENTS(outside); i++) {
        g_assert_false(mmio_dispatch(&cpu, outside[i], data, 4, true));
    }
    g_assert_cmpint(a.accesses, ==, 0);

    mmio_region_del(0x1000);
    g_assert_false(mmio_dispatch(&cpu, 0x1000, data, 4, true));
    g_assert_cmpint(a.accesses, ==, 0);
}

typedef struct BadWindow {
    const char *why;
    uint64_t gpa;
    uint64_t size;
} BadWindow;

static void test_overlapping_or_empty_windows_are_refused(void)
{
    TestDevice a = { 0 };
    static const BadWindow bad[] = {
        { "same start", 0x1000, 0x10 },
        { "ends inside", 0x800, 0x801 },
        { "starts inside", 0x1fff, 0x100 },
        { "covers it", 0x0, 0x10000 },
        { "empty", 0x8000, 0 },
        { "wraps", UINT64_MAX - 0xf, 0x20 },
    };

    g_assert_true(mmio_region_add(0x1000, 0x1000, test_device_access, &a,
                                  NULL));
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        Error *err = NULL;

        g_test_message("%s", bad[i].why);
        g_assert_false(mmio_region_add(bad[i].gpa, bad[i].size,
                                       test_device_access, &a, &err));
        g_assert_nonnull(err);
        error_free(err);
    }
    /* Touching is not overlapping. */
    g_assert_true(mmio_region_add(0x800, 0x800, test_device_access, &a,
                                  NULL));
    g_assert_true(mmio_region_add(0x2000, 0x800, test_device_access, &a,
                                  NULL));
    mmio_region_del(0x800);
    mmio_region_del(0x1000);
    mmio_region_del(0x2000);
}

static void test_the_table_has_a_bound(void)
{
    TestDevice a = { 0 };
    Error *err = NULL;

    for (int i = 0; i < MMIO_MAX_REGIONS; i++) {
        g_assert_true(mmio_region_add(0x1000 * (i + 1), 0x1000,
                                      test_device_access, &a, NULL));
    }
    g_assert_false(mmio_region_add(0x100000, 0x1000, test_device_access, &a,
                                   &err));
    g_assert_nonnull(err);
    error_free(err);
    for (int i = 0; i < MMIO_MAX_REGIONS; i++) {
        mmio_region_del(0x1000 * (i + 1));
    }
}

static const TestCase cases[] = {
    { "an-access-reaches-its-window-at-its-offset",
      test_an_access_reaches_its_window_at_its_offset },
    { "an-address-nobody-owns-is-unassigned",
      test_an_address_nobody_owns_is_unassigned },
    { "overlapping-or-empty-windows-are-refused",
      test_overlapping_or_empty_windows_are_refused },
    { "the-table-has-a-bound", test_the_table_has_a_bound },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return test_run_cases(&argc, &argv, "/mmio/", cases);
}
