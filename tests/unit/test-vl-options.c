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
    { "-smp cpus=2,maxcpus=4", "cannot hot-plug vCPUs" },
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
    /* Last on the line, an unknown option is still unknown. */
    { "-m 256 -frobnicate", "-frobnicate: unknown option" },
    { "-pidfile", "-pidfile: requires an argument" },
    { "-smp 2,sockets=1,cores=1,threads=1", "must equal maxcpus (2)" },
    { "-smp 2,maxcpus=4", "cannot hot-plug vCPUs" },
    { "-smp 1,dies=0", "dies=0: must be an integer from 1 to 1024" },
    { "-smp sockets=32,cores=33", "from 1 to 1024" },
    { "-smp 2,books=2", "unknown parameter 'books'" },
    { "-machine pc", "unknown machine type 'pc'" },
    { "-machine restraint,accel=tcg", "supports only kvm" },
    { "-machine restraint,usb=on", "no USB" },
    { "-machine restraint,dump-guest-core=perhaps", "must be on or off" },
    { "-machine restraint,memory-backend=ram0", "no -object memory-backend-ram" },
    { "-m 512 -object memory-backend-ram,id=pc.ram,size=256M "
      "-machine restraint,memory-backend=pc.ram", "differs from -m" },
    { "-object memory-backend-ram,id=r,size=256M", "only RAM is the machine's" },
    { "-object memory-backend-ram,id=r,size=3M -machine memory-backend=r",
      "between 18 MiB" },
    { "-object memory-backend-ram,id=r", "size=BYTES is required" },
    { "-object memory-backend-file,id=f,mem-path=/x", "knows only" },
    { "-object secret,id=s", "exactly one of file= and data=" },
    { "-object secret,id=s,data=x,format=hex", "raw or base64" },
    { "-object secret,id=s,data=x -object secret,id=s,data=y",
      "already exists" },
    { "-object secret,data=x", "expected TYPE,id=ID" },
    { "-chardev socket,id=c,fd=3", "add server=on,wait=off" },
    { "-chardev socket,id=c,fd=3,server=on", "add server=on,wait=off" },
    { "-chardev socket,id=c,fd=3,path=/x,server=on,wait=off",
      "exactly one of fd=N" },
    { "-chardev socket,id=c,fd=x,server=on,wait=off", "exactly one of fd=N" },
    { "-chardev pty,id=c", "only the socket backend" },
    { "-chardev socket,path=/x,server=on,wait=off", "id= must be given" },
    { "-chardev socket,id=c,path=/x,server=on,wait=off "
      "-chardev socket,id=c,path=/y,server=on,wait=off", "unique" },
    { "-mon chardev=nope,mode=control", "no -chardev with that id" },
    { "-mon mode=control", "chardev=ID is required" },
    { "-chardev socket,id=c,path=/x,server=on,wait=off "
      "-mon chardev=c,mode=nonsense", "mode must be control" },
    { "-chardev socket,id=c,path=/x,server=on,wait=off "
      "-mon chardev=c,mode=control -mon chardev=c,mode=control",
      "already serves a monitor" },
    { "-uuid xyz", "not a UUID" },
    { "-display gtk", "no display" },
    { "-name guest=x,debug-threads=maybe", "must be on or off" },
    { "-machine none -workload cpu=0,kind=write", "-machine none has no vCPUs" },
    { "-machine none -kernel /x.elf", "has no guest RAM" },
    { "-machine none -incoming defer", "has no guest RAM" },
    { "-daemonize -monitor stdio", "give -monitor a socket" },
    { "-daemonize -x-live on", "would show nothing" },
    { "stray", "'stray': not an option" },
};

static char **split_args(const char *args)
{
    g_autofree char *line = g_strconcat("restraint ", args, NULL);

    return g_strsplit(line, " ", -1);
}

/* The options of the command line @args, which must parse. */
static VLOptions *parse_ok(const char *args)
{
    g_auto(GStrv) argv = split_args(args);
    VLOptions *opts = vl_options_new();
    Error *err = NULL;

    if (!vl_parse_args(opts, g_strv_length(argv), argv, &err)) {
        g_error("'%s' does not parse: %s", args, error_get_pretty(err));
    }
    return opts;
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
    g_autoptr(VLOptions) opts = parse_ok(
        "-m 1G -smp cpus=2 -accel kvm,dirty-ring-size=65536 -S "
        "-name guest=vm1 -workload cpu=1,kind=write,size=256M,rate=50,"
        "pattern=random -qmp unix:/tmp/x,server=on,wait=off "
        "-monitor stdio -incoming defer --trace kvm_*");

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

/* The command lines libvirt 9.0 ran (docs/libvirt/argv.log). */
static const char libvirt_probe_args[] =
    "-S -no-user-config -nodefaults -nographic -machine none,accel=kvm:tcg "
    "-qmp unix:/var/lib/libvirt/qemu/qmp-I3UBZ3/qmp.monitor,server=on,"
    "wait=off -pidfile /var/lib/libvirt/qemu/qmp-I3UBZ3/qmp.pid -daemonize";
static const char libvirt_start_args[] =
    "-name guest=rs1,debug-threads=on -S -object secret,id=masterKey0,"
    "format=raw,file=/var/lib/libvirt/qemu/domain-1-rs1/master-key.aes "
    "-machine restraint,usb=off,dump-guest-core=off,memory-backend=pc.ram "
    "-accel kvm,dirty-ring-size=4096 -m 256 -object memory-backend-ram,"
    "id=pc.ram,size=268435456 -overcommit mem-lock=off "
    "-smp 1,sockets=1,cores=1,threads=1 "
    "-uuid fa5285a5-2ea9-4acb-8fe3-7f3d14e7c462 -display none "
    "-no-user-config -nodefaults -chardev socket,id=charmonitor,fd=25,"
    "server=on,wait=off -mon chardev=charmonitor,id=monitor,mode=control "
    "-rtc base=utc -no-reboot -no-acpi -boot strict=on "
    "-audiodev {\"id\":\"audio1\",\"driver\":\"none\"} "
    "-incoming defer -msg timestamp=on";

static void test_libvirt_probe(void)
{
    g_autoptr(VLOptions) opts = parse_ok(libvirt_probe_args);

    g_assert_true(opts->machine_none);
    g_assert_true(opts->daemonize);
    g_assert_true(opts->start_paused);
    g_assert_cmpstr(opts->pidfile, ==,
                    "/var/lib/libvirt/qemu/qmp-I3UBZ3/qmp.pid");
    g_assert_cmpuint(opts->qmp_specs->len, ==, 1);
}

static void test_libvirt_start(void)
{
    g_autoptr(VLOptions) opts = parse_ok(libvirt_start_args);
    const VLChardev *chr;
    const VLMonitor *mon;

    g_assert_false(opts->machine_none);
    g_assert_cmpstr(opts->name, ==, "rs1");
    g_assert_true(opts->debug_threads);
    g_assert_cmpuint(opts->ram_bytes, ==, 256 * MiB);
    g_assert_cmpstr(opts->memory_backend_id, ==, "pc.ram");
    g_assert_cmpint(opts->smp_cpus, ==, 1);
    g_assert_cmpint(opts->topology.sockets, ==, 1);
    g_assert_cmpuint(opts->accel.dirty_ring_entries, ==, 4096);
    g_assert_cmpstr(opts->uuid, ==, "fa5285a5-2ea9-4acb-8fe3-7f3d14e7c462");
    g_assert_cmpuint(opts->objects->len, ==, 2);
    chr = vl_find_chardev(opts, "charmonitor");
    g_assert_nonnull(chr);
    g_assert_cmpint(chr->fd, ==, 25);
    g_assert_null(chr->path);
    g_assert_cmpuint(opts->mons->len, ==, 1);
    mon = g_ptr_array_index(opts->mons, 0);
    g_assert_cmpstr(mon->chardev_id, ==, "charmonitor");
    g_assert_true(mon->control);
    g_assert_cmpstr(opts->incoming, ==, "defer");
}

static void test_smp_topology(void)
{
    static const struct {
        const char *arg;
        int cpus, sockets, dies, cores, threads;
    } cases[] = {
        { "2,sockets=2,cores=1,threads=1", 2, 2, 1, 1, 1 },
        { "sockets=2,cores=2", 4, 2, 1, 2, 1 },
        { "4,cores=2", 4, 2, 1, 2, 1 },
        { "8,sockets=1,dies=2,cores=2,threads=2,maxcpus=8", 8, 1, 2, 2, 2 },
        { "cpus=3", 3, 3, 1, 1, 1 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *argv[] = { "restraint", "-smp", (char *)cases[i].arg, NULL };
        g_autoptr(VLOptions) opts = vl_options_new();
        Error *err = NULL;

        g_assert_true(vl_parse_args(opts, 3, argv, &err));
        g_assert_cmpint(opts->smp_cpus, ==, cases[i].cpus);
        g_assert_cmpint(opts->topology.sockets, ==, cases[i].sockets);
        g_assert_cmpint(opts->topology.dies, ==, cases[i].dies);
        g_assert_cmpint(opts->topology.cores, ==, cases[i].cores);
        g_assert_cmpint(opts->topology.threads, ==, cases[i].threads);
    }
}

/* The memory backend alone sizes the RAM; a matching -m is fine. */
static void test_memory_backend_sizes_ram(void)
{
    g_autoptr(VLOptions) opts = parse_ok(
        "-object memory-backend-ram,id=m0,size=64M "
        "-machine restraint,memory-backend=m0");
    g_autoptr(VLOptions) opts_m = parse_ok(
        "-m 64 -object memory-backend-ram,id=m0,size=67108864 "
        "-machine memory-backend=m0");

    g_assert_cmpuint(opts->ram_bytes, ==, 64 * MiB);
    g_assert_cmpuint(opts_m->ram_bytes, ==, 64 * MiB);
}

/* Each option of the documented accept-and-ignore list parses. */
static void test_ignored_options(void)
{
    g_autoptr(VLOptions) opts = parse_ok(
        "-no-user-config -nodefaults -nographic -display none "
        "-overcommit mem-lock=off -rtc base=utc -no-acpi -no-reboot "
        "-no-shutdown -boot strict=on -audiodev id=a,driver=none "
        "-msg timestamp=on -sandbox on");

    g_assert_nonnull(opts);
}

static void test_secret_kept(void)
{
    g_autofree char *path = NULL;
    g_autofree char *arg = NULL;
    g_autoptr(VLOptions) opts = vl_options_new();
    const VLObject *obj;
    Error *err = NULL;
    int fd = g_file_open_tmp("restraint-secret-XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, "s3cret", 6), ==, 6);
    close(fd);
    arg = g_strdup_printf("secret,id=k,format=raw,file=%s", path);
    {
        char *argv[] = { "restraint", "-object", arg, NULL };

        g_assert_true(vl_parse_args(opts, 3, argv, &err));
    }
    g_assert_true(vl_load_secrets(opts, &err));
    obj = g_ptr_array_index(opts->objects, 0);
    g_assert_cmpstr(obj->secret_data, ==, "s3cret");
    unlink(path);
    g_free(obj->secret_data);
    ((VLObject *)obj)->secret_data = NULL;
    g_assert_false(vl_load_secrets(opts, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "cannot read"));
    error_free(err);
}

static void test_scale_limits(void)
{
    g_autoptr(VLOptions) opts = parse_ok("-smp 1024 -m 249G -mem-prealloc");

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
    g_test_add_func("/vl-options/libvirt/probe-command-line",
                    test_libvirt_probe);
    g_test_add_func("/vl-options/libvirt/start-command-line",
                    test_libvirt_start);
    g_test_add_func("/vl-options/smp-topology-fills-the-gaps",
                    test_smp_topology);
    g_test_add_func("/vl-options/memory-backend-sizes-the-ram",
                    test_memory_backend_sizes_ram);
    g_test_add_func("/vl-options/ignored-options-parse",
                    test_ignored_options);
    g_test_add_func("/vl-options/secret-file-is-read-and-kept",
                    test_secret_kept);
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
