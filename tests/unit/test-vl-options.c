/*
 * Command-line parsing: every accepted spelling and every refusal.
 */
#include "qemu/osdep.h"

#include "sysemu/vl-options.h"

typedef struct BadCase {
    const char *args;           /* space-separated */
    const char *want_error;     /* a fragment of the message */
} BadCase;

static const BadCase bad_cases[] = {
    { "-m", "-m: requires an argument" },
    { "-m lots", "-m lots: not a size" },
    { "-m 1", "between 18 MiB and 249 GiB" },
    { "-m 512T", "between 18 MiB and 249 GiB" },
    { "-m 99999999999999999999", "not a size" },
    { "-m 1025K", "between 18 MiB" },
    { "-m 33M", "multiple of 2 MiB" },
    { "-m size=64M,slots=2", "unknown parameter 'slots'" },
    { "-smp 0", "from 1 to 1024" },
    { "-smp 1025", "from 1 to 1024" },
    { "-smp -1", "from 1 to 1024" },
    { "-smp two", "from 1 to 1024" },
    { "-smp cpus=2,maxcpus=4", "unknown parameter 'maxcpus'" },
    { "-accel tcg", "supports only 'kvm'" },
    { "-accel kvm,dirty-ring-size=1000", "power of two >= 1024" },
    { "-accel kvm,dirty-ring-size=512", "power of two >= 1024" },
    { "-accel kvm,dirty-ring-size=-4", "not an integer" },
    { "-accel kvm,dirty-ring-size=4096x", "not an integer" },
    { "-accel kvm,dirty-ring-size=99999999999", "not an integer" },
    { "-accel kvm,dirty-ring-size=4096,dirty-ring-size=1024", "given twice" },
    { "-accel kvm,ring=4096", "unknown parameter 'ring'" },
    { "-accel kvm,x-manual-protect=maybe", "must be on or off" },
    { "-accel kvm,x-reaper-period-ms=0", "from 1 to 1000" },
    { "-accel kvm,x-reaper-period-ms=5000", "from 1 to 1000" },
    { "-workload kind=write", "cpu=I is required" },
    { "-workload cpu=1024,kind=write", "cpu=I is required" },
    { "-workload cpu=0,kind=dance", "kind must be idle" },
    { "-workload cpu=0,kind=write,pattern=zigzag", "pattern must be seq" },
    { "-workload cpu=0,kind=write,size=1000", "multiple of 4 KiB" },
    { "-workload cpu=0,kind=write,size=0", "multiple of 4 KiB" },
    { "-workload cpu=0,kind=write,rate=fast", "rate must be an integer" },
    { "-workload cpu=0,kind=write,rate=-1", "rate must be an integer" },
    { "-workload cpu=0,kind=write,color=red", "unknown parameter 'color'" },
    { "-workload cpu=0,kind=write -workload cpu=0,kind=read",
      "already has a workload" },
    { "-workload cpu=1,kind=write", "there are only 1 vCPUs" },
    { "-kernel /x.elf -workload cpu=0,kind=write", "built-in guest only" },
    { "-incoming ftp:host", "expected tcp:HOST:PORT" },
    { "-frobnicate 1", "-frobnicate: unknown option" },
    { "stray", "'stray': not an option" },
};

static char **split_args(const char *args)
{
    g_autofree char *line = g_strconcat("restraint ", args, NULL);

    return g_strsplit(line, " ", -1);
}

static void test_bad_option(gconstpointer data)
{
    const BadCase *c = data;
    g_auto(GStrv) argv = split_args(c->args);
    g_autoptr(VLOptions) opts = vl_options_new();
    Error *err = NULL;

    g_assert_false(vl_parse_args(opts, g_strv_length(argv), argv, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), c->want_error)) {
        g_test_message("args '%s': got '%s', want '%s'", c->args,
                       error_get_pretty(err), c->want_error);
        g_test_fail();
    }
    error_free(err);
}

static void test_defaults(void)
{
    char *argv[] = { "restraint", NULL };
    g_autoptr(VLOptions) opts = vl_options_new();

    Error *err = NULL;

    g_assert_true(vl_parse_args(opts, 1, argv, &err));
    g_assert_null(err);
    g_assert_cmpuint(opts->ram_bytes, ==, VL_DEFAULT_RAM_BYTES);
    g_assert_cmpint(opts->smp_cpus, ==, 1);
    g_assert_cmpuint(opts->accel.dirty_ring_entries, ==, 0);
    g_assert_false(opts->start_paused);
}

static void test_qemu_spellings(void)
{
    g_auto(GStrv) argv = split_args(
        "-m 1G -smp cpus=2 -accel kvm,dirty-ring-size=65536 -S "
        "-name guest=vm1 -workload cpu=1,kind=write,size=256M,rate=50,"
        "pattern=random -qmp unix:/tmp/x,server=on,wait=off "
        "-monitor stdio -incoming defer --trace kvm_*");
    g_autoptr(VLOptions) opts = vl_options_new();
    Error *err = NULL;

    g_assert_true(vl_parse_args(opts, g_strv_length(argv), argv, &err));
    g_assert_null(err);
    g_assert_cmpuint(opts->ram_bytes, ==, 1 * GiB);
    g_assert_cmpint(opts->smp_cpus, ==, 2);
    g_assert_cmpuint(opts->accel.dirty_ring_entries, ==, 65536);
    g_assert_true(opts->start_paused);
    g_assert_cmpstr(opts->name, ==, "vm1");
    g_assert_cmpstr(opts->incoming, ==, "defer");
    g_assert_false(opts->workload_given[0]);
    g_assert_true(opts->workload_given[1]);
    g_assert_cmpint(opts->workloads[1].kind, ==, RS_WL_WRITE);
    g_assert_cmpint(opts->workloads[1].pattern, ==, RS_PAT_RANDOM);
    g_assert_cmpuint(opts->workloads[1].size_bytes, ==, 256 * MiB);
    g_assert_cmpuint(opts->workloads[1].rate_mbps, ==, 50);
    g_assert_cmpuint(opts->qmp_specs->len, ==, 1);
    g_assert_cmpuint(opts->monitor_specs->len, ==, 1);
    g_assert_cmpuint(opts->trace_patterns->len, ==, 1);
}

static void test_scale_limits(void)
{
    g_auto(GStrv) argv = split_args("-smp 1024 -m 249G -mem-prealloc");
    g_autoptr(VLOptions) opts = vl_options_new();
    Error *err = NULL;

    g_assert_true(vl_parse_args(opts, g_strv_length(argv), argv, &err));
    g_assert_null(err);
    g_assert_cmpint(opts->smp_cpus, ==, RS_MAX_CPUS);
    g_assert_cmpuint(opts->ram_bytes, ==, VL_MAX_RAM_BYTES);
    g_assert_true(opts->mem_prealloc);
}

static void test_sizes(void)
{
    static const struct {
        const char *arg;
        uint64_t bytes;
    } cases[] = {
        { "512", 512 * MiB }, { "512M", 512 * MiB }, { "2G", 2 * GiB },
        { "2GiB", 2 * GiB }, { "65536K", 64 * MiB }, { "size=64M", 64 * MiB },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *argv[] = { "restraint", "-m", (char *)cases[i].arg, NULL };
        g_autoptr(VLOptions) opts = vl_options_new();
        Error *err = NULL;

        g_assert_true(vl_parse_args(opts, 3, argv, &err));
        g_assert_cmpuint(opts->ram_bytes, ==, cases[i].bytes);
    }
}

static void test_bitmap_by_default(void)
{
    char *argv[] = { "restraint", "-accel", "kvm", NULL };
    g_autoptr(VLOptions) opts = vl_options_new();
    Error *err = NULL;

    g_assert_true(vl_parse_args(opts, 3, argv, &err));
    g_assert_cmpuint(opts->accel.dirty_ring_entries, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vl-options/defaults", test_defaults);
    g_test_add_func("/vl-options/qemu-spellings", test_qemu_spellings);
    g_test_add_func("/vl-options/sizes-take-qemu-suffixes", test_sizes);
    g_test_add_func("/vl-options/largest-smp-and-ram-with-prealloc",
                    test_scale_limits);
    g_test_add_func("/vl-options/accel-kvm-alone-means-dirty-bitmap",
                    test_bitmap_by_default);
    for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *path = g_strdup_printf("/vl-options/refuses/%zu",
                                                i);
        g_test_add_data_func(path, &bad_cases[i], test_bad_option);
    }
    return g_test_run();
}
