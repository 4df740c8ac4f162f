/*
 * The commands libvirt probes an emulator with and sends around a VM's
 * start (qapi/probe.json, qapi/qom.json): what restraint has, described
 * in QEMU's terms, and empty lists for what it has not.
 */
#include "qemu/osdep.h"

#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "monitor/qmp-probe.h"
#include "sysemu/cpus.h"
#include "sysemu/kvm.h"
#include "sysemu/runstate.h"
#include "sysemu/vl-options.h"

/* QEMU's -uuid default: the nil UUID. */
#define PROBE_NIL_UUID "00000000-0000-0000-0000-000000000000"
/* The RAM backend id libvirt names when it passes -machine memory-backend. */
#define PROBE_DEFAULT_RAM_ID "pc.ram"

typedef struct ProbeProperty {
    const char *name;
    const char *type;
    const char *description;
} ProbeProperty;

typedef struct ProbeType {
    const char *name;
    const char *parent;             /* NULL for a root */
    bool abstract;
    const ProbeProperty *props;     /* ends with a NULL name; may be NULL */
} ProbeType;

static const ProbeProperty machine_props[] = {
    { "memory-backend", "string", "id of the -object memory-backend-ram "
      "that is the guest's RAM" },
    { "usb", "bool", "always off: restraint has no USB" },
    { "dump-guest-core", "bool", "accepted, not applied" },
    { NULL, NULL, NULL },
};
static const ProbeProperty memory_backend_props[] = {
    { "size", "size", "bytes of guest RAM (equal to -m)" },
    { NULL, NULL, NULL },
};
static const ProbeProperty secret_props[] = {
    { "format", "string", "raw or base64" },
    { "file", "string", "file holding the secret" },
    { "data", "string", "the secret itself" },
    { NULL, NULL, NULL },
};
static const ProbeProperty kvm_accel_props[] = {
    { "dirty-ring-size", "uint32", "dirty-ring entries per vCPU, 0 = "
      "dirty bitmap" },
    { NULL, NULL, NULL },
};

/* Every object type restraint has, parents before children. */
static const ProbeType probe_types[] = {
    { "machine", NULL, true, machine_props },
    { "restraint-machine", "machine", false, NULL },
    { "none-machine", "machine", false, NULL },
    { "memory-backend", NULL, true, memory_backend_props },
    { "memory-backend-ram", "memory-backend", false, NULL },
    { "secret", NULL, false, secret_props },
    { "kvm-accel", NULL, false, kvm_accel_props },
};

static const ProbeType *probe_find_type(const char *name)
{
    for (size_t i = 0; name && i < G_N_ELEMENTS(probe_types); i++) {
        if (!strcmp(probe_types[i].name, name)) {
            return &probe_types[i];
        }
    }
    return NULL;
}

static bool probe_type_implements(const ProbeType *t, const char *ancestor)
{
    for (; t; t = probe_find_type(t->parent)) {
        if (!strcmp(t->name, ancestor)) {
            return true;
        }
    }
    return false;
}

static void probe_add_property(ObjectPropertyInfoList ***tail,
                               const char *name, const char *type,
                               const char *description)
{
    ObjectPropertyInfoList *elem = g_new0(ObjectPropertyInfoList, 1);

    elem->value = g_new0(ObjectPropertyInfo, 1);
    elem->value->name = g_strdup(name);
    elem->value->type = g_strdup(type);
    elem->value->description = g_strdup(description);
    **tail = elem;
    *tail = &elem->next;
}

TargetInfo *qmp_query_target(Error **errp)
{
    TargetInfo *info = g_new0(TargetInfo, 1);

    info->arch = SYS_EMU_TARGET_X86_64;
    return info;
}

KvmInfo *qmp_query_kvm(Error **errp)
{
    KvmInfo *info = g_new0(KvmInfo, 1);

    info->enabled = kvm_enabled();
    info->present = access("/dev/kvm", F_OK) == 0;
    return info;
}

static MachineInfo *probe_machine(const char *name, int cpu_max)
{
    MachineInfo *m = g_new0(MachineInfo, 1);

    m->name = g_strdup(name);
    m->cpu_max = cpu_max;
    return m;
}

MachineInfoList *qmp_query_machines(bool has_compat_props, bool compat_props,
                                    Error **errp)
{
    MachineInfoList *none = g_new0(MachineInfoList, 1);
    MachineInfoList *head = g_new0(MachineInfoList, 1);
    int cpu_max = RS_MAX_CPUS;

    /* The host's KVM may allow fewer vCPUs than restraint does. */
    if (kvm_max_vcpus() > 0 && kvm_max_vcpus() < cpu_max) {
        cpu_max = kvm_max_vcpus();
    }
    head->value = probe_machine("restraint", cpu_max);
    head->value->has_is_default = true;
    head->value->is_default = true;
    head->value->default_ram_id = g_strdup(PROBE_DEFAULT_RAM_ID);
    none->value = probe_machine("none", 1);
    head->next = none;
    return head;
}

/* The VM's -uuid, handed over by the start-up; main loop only. */
static char *probe_uuid;

void qmp_probe_set_uuid(const char *uuid)
{
    g_free(probe_uuid);
    probe_uuid = g_strdup(uuid);
}

UuidInfo *qmp_query_uuid(Error **errp)
{
    UuidInfo *info = g_new0(UuidInfo, 1);

    info->UUID = g_strdup(probe_uuid ? probe_uuid : PROBE_NIL_UUID);
    return info;
}

IOThreadInfoList *qmp_query_iothreads(Error **errp)
{
    return NULL;
}

void qmp_system_powerdown(Error **errp)
{
    if (cpus_count() == 0) {
        error_setg(errp, "-machine none has no guest to power down");
        return;
    }
    qapi_event_send_powerdown();
    /* What a guest that honours the power button ends up asking. */
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
}

CommandLineOptionInfoList *qmp_query_command_line_options(const char *option,
                                                          Error **errp)
{
    CommandLineOptionInfoList *head = NULL, **tail = &head;

    for (const VLOptionParams *p = vl_option_params; p->group; p++) {
        CommandLineOptionInfoList *elem;
        CommandLineParameterInfoList **ptail;

        if (option && strcmp(option, p->group)) {
            continue;
        }
        elem = g_new0(CommandLineOptionInfoList, 1);
        elem->value = g_new0(CommandLineOptionInfo, 1);
        elem->value->option = g_strdup(p->group);
        ptail = &elem->value->parameters;
        for (int i = 0; p->keys[i]; i++) {
            CommandLineParameterInfoList *param =
                g_new0(CommandLineParameterInfoList, 1);

            param->value = g_new0(CommandLineParameterInfo, 1);
            param->value->name = g_strdup(p->keys[i]);
            param->value->type = COMMAND_LINE_PARAMETER_TYPE_STRING;
            *ptail = param;
            ptail = &param->next;
        }
        *tail = elem;
        tail = &elem->next;
    }
    if (option && !head) {
        error_setg(errp, "invalid option name: %s", option);
    }
    return head;
}

JobInfoList *qmp_query_jobs(Error **errp)
{
    return NULL;
}

ObjectTypeInfoList *qmp_qom_list_types(const char *implements,
                                       bool has_abstract, bool abstract,
                                       Error **errp)
{
    ObjectTypeInfoList *head = NULL, **tail = &head;

    for (size_t i = 0; i < G_N_ELEMENTS(probe_types); i++) {
        const ProbeType *t = &probe_types[i];
        ObjectTypeInfoList *elem;

        if ((t->abstract && !abstract) ||
            (implements && !probe_type_implements(t, implements))) {
            continue;
        }
        elem = g_new0(ObjectTypeInfoList, 1);
        elem->value = g_new0(ObjectTypeInfo, 1);
        elem->value->name = g_strdup(t->name);
        elem->value->parent = g_strdup(t->parent);
        if (t->abstract) {
            elem->value->has_abstract = true;
            elem->value->abstract = true;
        }
        *tail = elem;
        tail = &elem->next;
    }
    return head;
}

ObjectPropertyInfoList *qmp_qom_list_properties(const char *typename,
                                                Error **errp)
{
    ObjectPropertyInfoList *head = NULL, **tail = &head;

    /* A type's properties are its own and its ancestors'. */
    for (const ProbeType *t = probe_find_type(typename); t;
         t = probe_find_type(t->parent)) {
        for (const ProbeProperty *p = t->props; p && p->name; p++) {
            probe_add_property(&tail, p->name, p->type, p->description);
        }
    }
    /* An unknown type has none: [] and no error (libvirt 9.0 needs it). */
    return head;
}

ObjectPropertyInfoList *qmp_device_list_properties(const char *typename,
                                                   Error **errp)
{
    error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
              "device '%s' not found: restraint has no devices", typename);
    return NULL;
}

/* "/machine/unattached/device[N]" names vCPU N. */
static bool probe_parse_vcpu_path(const char *path, int *cpu_index)
{
    const char *prefix = "/machine/unattached/device[";
    char *end;
    long n;

    if (!g_str_has_prefix(path, prefix)) {
        return false;
    }
    path += strlen(prefix);
    if (!g_ascii_isdigit(path[0])) {
        return false;
    }
    n = strtol(path, &end, 10);
    if (strcmp(end, "]") || n >= cpus_count()) {
        return false;
    }
    *cpu_index = n;
    return true;
}

ObjectPropertyInfoList *qmp_qom_list(const char *path, Error **errp)
{
    ObjectPropertyInfoList *head = NULL, **tail = &head;
    int cpu_index;

    if (!strcmp(path, "/machine")) {
        probe_add_property(&tail, "type", "string", NULL);
        probe_add_property(&tail, "unattached", "child<container>", NULL);
        probe_add_property(&tail, "peripheral", "child<container>", NULL);
        for (const ProbeProperty *p = machine_props; p->name; p++) {
            probe_add_property(&tail, p->name, p->type, p->description);
        }
    } else if (!strcmp(path, "/machine/unattached")) {
        probe_add_property(&tail, "type", "string", NULL);
        for (int i = 0; i < cpus_count(); i++) {
            g_autofree char *name = g_strdup_printf("device[%d]", i);

            probe_add_property(&tail, name, "child<host-x86_64-cpu>", NULL);
        }
    } else if (!strcmp(path, "/machine/peripheral")) {
        /* No -device, so no child. */
        probe_add_property(&tail, "type", "string", NULL);
    } else if (probe_parse_vcpu_path(path, &cpu_index)) {
        probe_add_property(&tail, "type", "string", NULL);
    } else {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "device '%s' not found", path);
    }
    return head;
}

BlockDeviceInfoList *qmp_query_named_block_nodes(bool has_flat, bool flat,
                                                 Error **errp)
{
    return NULL;
}

BlockInfoList *qmp_query_block(Error **errp)
{
    return NULL;
}

BlockStatsList *qmp_query_blockstats(bool has_query_nodes, bool query_nodes,
                                     Error **errp)
{
    return NULL;
}
