/*
 * The options that describe the machine the way libvirt writes them:
 * -machine, -smp with a topology, -name, -object, -chardev, -mon, -uuid.
 * Pure parsing into VLOptions; vl.c acts on the result.
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "sysemu/vl-options.h"

/* on/off; absent leaves *value alone. */
static bool vl_get_onoff(GHashTable *kv, const char *key, const char *option,
                         bool *value, Error **errp)
{
    const char *v = g_hash_table_lookup(kv, key);

    if (!v) {
        return true;
    }
    if (strcmp(v, "on") && strcmp(v, "off")) {
        error_setg(errp, "%s %s=%s: must be on or off", option, key, v);
        return false;
    }
    *value = !strcmp(v, "on");
    return true;
}

bool vl_parse_machine(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, "type", "machine", "-machine",
                                         errp);
    const char *type, *accel, *backend;
    bool usb = false, dump_guest_core = true;

    if (!kv) {
        return false;
    }
    type = g_hash_table_lookup(kv, "type");
    if (type && strcmp(type, "restraint") && strcmp(type, "none")) {
        error_setg(errp, "-machine %s: unknown machine type '%s' (restraint "
                   "or none)", arg, type);
        return false;
    }
    if (type) {
        opts->machine_none = !strcmp(type, "none");
    }
    accel = g_hash_table_lookup(kv, "accel");
    if (accel) {
        g_auto(GStrv) list = g_strsplit(accel, ":", -1);

        /* QEMU tries each in turn; restraint has only the first it knows. */
        if (!g_strv_contains((const char *const *)list, "kvm")) {
            error_setg(errp, "-machine accel=%s: restraint supports only "
                       "kvm", accel);
            return false;
        }
    }
    if (!vl_get_onoff(kv, "usb", "-machine", &usb, errp) ||
        !vl_get_onoff(kv, "dump-guest-core", "-machine", &dump_guest_core,
                      errp)) {
        return false;
    }
    if (usb) {
        error_setg(errp, "-machine usb=on: restraint has no USB");
        return false;
    }
    backend = g_hash_table_lookup(kv, "memory-backend");
    if (backend) {
        g_free(opts->memory_backend_id);
        opts->memory_backend_id = g_strdup(backend);
    }
    return true;
}

/* A topology count: absent = 0 (to be derived), else 1..RS_MAX_CPUS. */
static bool vl_get_count(GHashTable *kv, const char *key, int *count,
                         Error **errp)
{
    const char *v = g_hash_table_lookup(kv, key);
    uint64_t n;

    *count = 0;
    if (!v) {
        return true;
    }
    if (!qemu_strtou64(v, &n) || n < 1 || n > RS_MAX_CPUS) {
        error_setg(errp, "-smp %s=%s: must be an integer from 1 to %d", key,
                   v, RS_MAX_CPUS);
        return false;
    }
    *count = n;
    return true;
}

bool vl_parse_smp(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, "cpus", "smp-opts", "-smp",
                                         errp);
    VLSmpTopology t;
    int cpus, maxcpus, known;

    if (!kv) {
        return false;
    }
    if (!vl_get_count(kv, "cpus", &cpus, errp) ||
        !vl_get_count(kv, "maxcpus", &maxcpus, errp) ||
        !vl_get_count(kv, "sockets", &t.sockets, errp) ||
        !vl_get_count(kv, "dies", &t.dies, errp) ||
        !vl_get_count(kv, "cores", &t.cores, errp) ||
        !vl_get_count(kv, "threads", &t.threads, errp)) {
        return false;
    }
    t.dies = t.dies ? t.dies : 1;
    t.cores = t.cores ? t.cores : 1;
    t.threads = t.threads ? t.threads : 1;
    known = t.dies * t.cores * t.threads;
    maxcpus = maxcpus ? maxcpus : cpus;
    if (!maxcpus) {
        maxcpus = (t.sockets ? t.sockets : 1) * known;
    }
    /* QEMU's rule for an absent socket count: whatever fills maxcpus. */
    if (!t.sockets) {
        t.sockets = maxcpus / known ? maxcpus / known : 1;
    }
    cpus = cpus ? cpus : maxcpus;
    if (t.sockets * known != maxcpus) {
        error_setg(errp, "-smp %s: sockets (%d) * dies (%d) * cores (%d) * "
                   "threads (%d) must equal maxcpus (%d)", arg, t.sockets,
                   t.dies, t.cores, t.threads, maxcpus);
        return false;
    }
    if (maxcpus > RS_MAX_CPUS) {
        error_setg(errp, "-smp %s: the number of vCPUs must be an integer "
                   "from 1 to %d", arg, RS_MAX_CPUS);
        return false;
    }
    if (cpus != maxcpus) {
        error_setg(errp, "-smp %s: restraint cannot hot-plug vCPUs: maxcpus "
                   "(%d) must equal cpus (%d)", arg, maxcpus, cpus);
        return false;
    }
    opts->smp_cpus = cpus;
    opts->topology = t;
    return true;
}

bool vl_parse_name(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, "guest", "name", "-name",
                                         errp);

    if (!kv || !vl_get_onoff(kv, "debug-threads", "-name",
                             &opts->debug_threads, errp)) {
        return false;
    }
    g_free(opts->name);
    opts->name = g_strdup(g_hash_table_lookup(kv, "guest"));
    return true;
}

static void vl_object_free(gpointer opaque)
{
    VLObject *obj = opaque;

    g_free(obj->id);
    g_free(obj->secret_file);
    if (obj->secret_data) {
        memset(obj->secret_data, 0, strlen(obj->secret_data));
    }
    g_free(obj->secret_data);
    g_free(obj);
}

static const VLObject *vl_find_object(const VLOptions *opts, const char *id)
{
    for (guint i = 0; opts->objects && i < opts->objects->len; i++) {
        const VLObject *obj = g_ptr_array_index(opts->objects, i);

        if (!strcmp(obj->id, id)) {
            return obj;
        }
    }
    return NULL;
}

static bool vl_parse_object_args(VLObject *obj, GHashTable *kv,
                                 const char *arg, Error **errp)
{
    static const char *const ram_keys[] = { "qom-type", "id", "size", NULL };
    static const char *const secret_keys[] = {
        "qom-type", "id", "format", "file", "data", NULL
    };
    const char *type = g_hash_table_lookup(kv, "qom-type");
    const char *v;

    if (!strcmp(type, "memory-backend-ram")) {
        obj->kind = VL_OBJECT_MEMORY_BACKEND_RAM;
        if (!keyval_check_keys(kv, ram_keys, "-object", errp)) {
            return false;
        }
        v = g_hash_table_lookup(kv, "size");
        if (!v || !qemu_strtosz(v, 1, &obj->size_bytes)) {
            error_setg(errp, "-object %s: size=BYTES is required", arg);
            return false;
        }
        return vl_check_ram_size("-object memory-backend-ram",
                                 obj->size_bytes, errp);
    }
    if (!strcmp(type, "secret")) {
        obj->kind = VL_OBJECT_SECRET;
        if (!keyval_check_keys(kv, secret_keys, "-object", errp)) {
            return false;
        }
        v = g_hash_table_lookup(kv, "format");
        if (v && strcmp(v, "raw") && strcmp(v, "base64")) {
            error_setg(errp, "-object %s: format must be raw or base64", arg);
            return false;
        }
        obj->secret_file = g_strdup(g_hash_table_lookup(kv, "file"));
        obj->secret_data = g_strdup(g_hash_table_lookup(kv, "data"));
        if (!obj->secret_file == !obj->secret_data) {
            error_setg(errp, "-object %s: give exactly one of file= and "
                       "data=", arg);
            return false;
        }
        return true;
    }
    error_setg(errp, "-object %s: restraint knows only memory-backend-ram "
               "and secret", arg);
    return false;
}

bool vl_parse_object(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = keyval_parse(arg, "qom-type", "-object",
                                            errp);
    VLObject *obj;
    const char *id;

    if (!kv) {
        return false;
    }
    id = g_hash_table_lookup(kv, "id");
    if (!id || !g_hash_table_lookup(kv, "qom-type")) {
        error_setg(errp, "-object %s: expected TYPE,id=ID,...", arg);
        return false;
    }
    if (vl_find_object(opts, id)) {
        error_setg(errp, "-object %s: an object with id '%s' already exists",
                   arg, id);
        return false;
    }
    obj = g_new0(VLObject, 1);
    obj->id = g_strdup(id);
    if (!vl_parse_object_args(obj, kv, arg, errp)) {
        vl_object_free(obj);
        return false;
    }
    if (!opts->objects) {
        opts->objects = g_ptr_array_new_with_free_func(vl_object_free);
    }
    g_ptr_array_add(opts->objects, obj);
    return true;
}

bool vl_load_secrets(VLOptions *opts, Error **errp)
{
    for (guint i = 0; opts->objects && i < opts->objects->len; i++) {
        VLObject *obj = g_ptr_array_index(opts->objects, i);
        g_autoptr(GError) gerr = NULL;

        if (obj->kind != VL_OBJECT_SECRET || obj->secret_data) {
            continue;
        }
        if (!g_file_get_contents(obj->secret_file, &obj->secret_data, NULL,
                                 &gerr)) {
            error_setg(errp, "-object secret,id=%s: cannot read '%s': %s",
                       obj->id, obj->secret_file, gerr->message);
            return false;
        }
    }
    return true;
}

static void vl_chardev_free(gpointer opaque)
{
    VLChardev *chr = opaque;

    g_free(chr->id);
    g_free(chr->path);
    g_free(chr);
}

const VLChardev *vl_find_chardev(const VLOptions *opts, const char *id)
{
    for (guint i = 0; opts->chardevs && i < opts->chardevs->len; i++) {
        const VLChardev *chr = g_ptr_array_index(opts->chardevs, i);

        if (!strcmp(chr->id, id)) {
            return chr;
        }
    }
    return NULL;
}

/* server=on and wait=off are required: restraint only listens. */
static bool vl_check_chardev_mode(GHashTable *kv, const char *arg,
                                  Error **errp)
{
    bool server = false, wait = true;

    if (!vl_get_onoff(kv, "server", "-chardev", &server, errp) ||
        !vl_get_onoff(kv, "wait", "-chardev", &wait, errp)) {
        return false;
    }
    if (!server || wait) {
        error_setg(errp, "-chardev %s: restraint only listens: add "
                   "server=on,wait=off", arg);
        return false;
    }
    return true;
}

bool vl_parse_chardev(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, "backend", "chardev",
                                         "-chardev", errp);
    const char *backend, *id, *fd, *path;
    VLChardev *chr;
    uint64_t fd_num = 0;

    if (!kv) {
        return false;
    }
    backend = g_hash_table_lookup(kv, "backend");
    id = g_hash_table_lookup(kv, "id");
    fd = g_hash_table_lookup(kv, "fd");
    path = g_hash_table_lookup(kv, "path");
    if (!backend || strcmp(backend, "socket")) {
        error_setg(errp, "-chardev %s: restraint supports only the socket "
                   "backend", arg);
        return false;
    }
    if (!id || !*id || vl_find_chardev(opts, id)) {
        error_setg(errp, "-chardev %s: id= must be given and unique", arg);
        return false;
    }
    if (!fd == !path || (fd && (!qemu_strtou64(fd, &fd_num) ||
                                fd_num > INT_MAX)) || (path && !*path)) {
        error_setg(errp, "-chardev %s: give exactly one of fd=N (an "
                   "inherited listening socket) and path=PATH", arg);
        return false;
    }
    if (!vl_check_chardev_mode(kv, arg, errp)) {
        return false;
    }
    chr = g_new0(VLChardev, 1);
    chr->id = g_strdup(id);
    chr->path = g_strdup(path);
    chr->fd = fd ? (int)fd_num : -1;
    if (!opts->chardevs) {
        opts->chardevs = g_ptr_array_new_with_free_func(vl_chardev_free);
    }
    g_ptr_array_add(opts->chardevs, chr);
    return true;
}

static void vl_mon_free(gpointer opaque)
{
    VLMonitor *mon = opaque;

    g_free(mon->chardev_id);
    g_free(mon);
}

bool vl_parse_mon(VLOptions *opts, const char *arg, Error **errp)
{
    g_autoptr(GHashTable) kv = vl_keyval(arg, "chardev", "mon", "-mon",
                                         errp);
    const char *chardev, *mode;
    VLMonitor *mon;

    if (!kv) {
        return false;
    }
    chardev = g_hash_table_lookup(kv, "chardev");
    mode = g_hash_table_lookup(kv, "mode");
    if (!chardev || !*chardev) {
        error_setg(errp, "-mon %s: chardev=ID is required", arg);
        return false;
    }
    if (mode && strcmp(mode, "control") && strcmp(mode, "readline")) {
        error_setg(errp, "-mon %s: mode must be control (QMP) or readline "
                   "(HMP)", arg);
        return false;
    }
    mon = g_new0(VLMonitor, 1);
    mon->chardev_id = g_strdup(chardev);
    mon->control = mode && !strcmp(mode, "control");
    if (!opts->mons) {
        opts->mons = g_ptr_array_new_with_free_func(vl_mon_free);
    }
    g_ptr_array_add(opts->mons, mon);
    return true;
}

bool vl_parse_uuid(VLOptions *opts, const char *arg, Error **errp)
{
    if (!g_uuid_string_is_valid(arg)) {
        error_setg(errp, "-uuid %s: not a UUID (e.g. "
                   "fa5285a5-2ea9-4acb-8fe3-7f3d14e7c462)", arg);
        return false;
    }
    g_free(opts->uuid);
    opts->uuid = g_ascii_strdown(arg, -1);
    return true;
}

/* Each -mon names a -chardev, and no -chardev serves two monitors. */
static bool vl_check_mons(VLOptions *opts, Error **errp)
{
    for (guint i = 0; opts->mons && i < opts->mons->len; i++) {
        const VLMonitor *mon = g_ptr_array_index(opts->mons, i);

        if (!vl_find_chardev(opts, mon->chardev_id)) {
            error_setg(errp, "-mon chardev=%s: no -chardev with that id",
                       mon->chardev_id);
            return false;
        }
        for (guint j = 0; j < i; j++) {
            const VLMonitor *other = g_ptr_array_index(opts->mons, j);

            if (!strcmp(other->chardev_id, mon->chardev_id)) {
                error_setg(errp, "-mon chardev=%s: the chardev already "
                           "serves a monitor", mon->chardev_id);
                return false;
            }
        }
    }
    return true;
}

/* The machine's RAM comes from -m or its memory backend; they agree. */
static bool vl_check_memory_backend(VLOptions *opts, Error **errp)
{
    const VLObject *backend = NULL;

    if (opts->memory_backend_id) {
        backend = vl_find_object(opts, opts->memory_backend_id);
        if (!backend || backend->kind != VL_OBJECT_MEMORY_BACKEND_RAM) {
            error_setg(errp, "-machine memory-backend=%s: no -object "
                       "memory-backend-ram with that id",
                       opts->memory_backend_id);
            return false;
        }
        if (opts->ram_given && backend->size_bytes != opts->ram_bytes) {
            error_setg(errp, "-machine memory-backend=%s: its size (%" PRIu64
                       " bytes) differs from -m (%" PRIu64 " bytes)",
                       backend->id, backend->size_bytes, opts->ram_bytes);
            return false;
        }
        opts->ram_bytes = backend->size_bytes;
    }
    for (guint i = 0; opts->objects && i < opts->objects->len; i++) {
        const VLObject *obj = g_ptr_array_index(opts->objects, i);

        if (obj->kind == VL_OBJECT_MEMORY_BACKEND_RAM && obj != backend) {
            error_setg(errp, "-object memory-backend-ram,id=%s: restraint's "
                       "only RAM is the machine's: name it with -machine "
                       "memory-backend=%s", obj->id, obj->id);
            return false;
        }
    }
    return true;
}

bool vl_check_machine(VLOptions *opts, Error **errp)
{
    if (!vl_check_mons(opts, errp) || !vl_check_memory_backend(opts, errp)) {
        return false;
    }
    if (opts->machine_none) {
        for (int i = 0; i < RS_MAX_CPUS; i++) {
            if (opts->workload_given[i]) {
                error_setg(errp, "-machine none has no vCPUs: -workload "
                           "needs -machine restraint");
                return false;
            }
        }
        if (opts->kernel_path || opts->incoming || opts->memory_backend_id) {
            error_setg(errp, "-machine none has no guest RAM: -kernel, "
                       "-incoming and memory-backend need -machine "
                       "restraint");
            return false;
        }
    }
    return true;
}
