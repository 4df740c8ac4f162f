/*
 * The command line, parsed into plain data (softmmu/vl-options.c).
 * Pure: no KVM, no globals, so unit tests can run every error.
 */
#ifndef SYSEMU_VL_OPTIONS_H
#define SYSEMU_VL_OPTIONS_H

#include "hw/guest-abi.h"
#include "hw/workload.h"
#include "monitor/live-view.h"
#include "sysemu/kvm.h"

/* QEMU's default guest size is 128 MiB; ours must also hold workloads. */
#define VL_DEFAULT_RAM_BYTES (512 * MiB)
/* The system area plus one 2 MiB workload slice. */
#define VL_MIN_RAM_BYTES (RS_SYS_SIZE + 2 * MiB)
/*
 * The page-table area maps at most 249 GiB (hw/pagetable.h); RAM is mapped
 * lazily (MAP_NORESERVE), so the host only needs the address space, and
 * ram_init() refuses a size the host cannot reserve.
 */
#define VL_MAX_RAM_BYTES (249 * GiB)

/* -object TYPE,...: the kinds restraint knows. */
typedef enum VLObjectKind {
    VL_OBJECT_MEMORY_BACKEND_RAM,       /* the machine's RAM, by id */
    VL_OBJECT_SECRET,                   /* read and kept, never used */
} VLObjectKind;

typedef struct VLObject {
    VLObjectKind kind;
    char *id;
    uint64_t size_bytes;                /* memory-backend-ram */
    char *secret_file;                  /* secret: file=, or NULL */
    char *secret_data;                  /* secret: data=, or the file's */
} VLObject;

/* -chardev socket,id=ID,(fd=N|path=PATH),server=on,wait=off */
typedef struct VLChardev {
    char *id;
    char *path;                         /* NULL when fd >= 0 */
    int fd;                             /* inherited listening socket */
} VLChardev;

/* -mon chardev=ID[,mode=control|readline] */
typedef struct VLMonitor {
    char *chardev_id;
    bool control;                       /* QMP; else HMP (readline) */
} VLMonitor;

/* -smp's topology; restraint runs sockets * dies * cores * threads. */
typedef struct VLSmpTopology {
    int sockets;
    int dies;
    int cores;
    int threads;
} VLSmpTopology;

/* An option group and its keys, for query-command-line-options. */
typedef struct VLOptionParams {
    const char *group;                  /* QEMU's name: "machine", ... */
    const char *const *keys;            /* NULL-terminated */
} VLOptionParams;

/* Every keyval option group restraint parses; ends with a NULL group. */
extern const VLOptionParams vl_option_params[];

typedef struct VLOptions {
    uint64_t ram_bytes;
    bool ram_given;                     /* -m */
    int smp_cpus;
    VLSmpTopology topology;
    KVMOptions accel;                   /* -accel kvm,... */
    char *kernel_path;                  /* NULL = built-in guest */
    bool start_paused;                  /* -S */
    bool mem_prealloc;                  /* -mem-prealloc */
    char *name;
    bool debug_threads;                 /* -name debug-threads=on */
    bool machine_none;                  /* -machine none: no RAM, no vCPU */
    char *memory_backend_id;            /* -machine memory-backend=ID */
    char *uuid;                         /* -uuid, for query-uuid */
    GPtrArray *objects;                 /* VLObject * */
    GPtrArray *chardevs;                /* VLChardev * */
    GPtrArray *mons;                    /* VLMonitor * */
    char *pidfile;                      /* -pidfile */
    bool daemonize;                     /* -daemonize */
    char *incoming;                     /* URI or "defer" */
    GPtrArray *qmp_specs;               /* char * */
    GPtrArray *monitor_specs;           /* char * */
    GPtrArray *trace_patterns;          /* char * */
    char *trace_file;                   /* -D */
    bool trace_help;                    /* -trace help */
    LiveViewMode live_view;             /* -x-live on|off|auto */
    char *metrics_spec;                 /* -metrics tcp:HOST:PORT */
    bool workload_given[RS_MAX_CPUS];
    WorkloadConfig workloads[RS_MAX_CPUS];
    bool help;
    bool version;
} VLOptions;

VLOptions *vl_options_new(void);
void vl_options_free(VLOptions *opts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VLOptions, vl_options_free)

/* Parse argv[1..argc-1]; every bad value is refused with its reason. */
bool vl_parse_args(VLOptions *opts, int argc, char **argv, Error **errp);
const char *vl_usage(void);
/* Read each -object secret's file=; the data is kept, never used. */
bool vl_load_secrets(VLOptions *opts, Error **errp);
/* The -chardev called @id, or NULL. */
const VLChardev *vl_find_chardev(const VLOptions *opts, const char *id);

/*
 * keyval_parse() @arg and refuse keys that @group (of vl_option_params)
 * does not have.  vl-options-common.c: the other parsers' shared base.
 */
GHashTable *vl_keyval(const char *arg, const char *implied_key,
                      const char *group, const char *option, Error **errp);

/* The parsers of vl-options-machine.c, called by vl_parse_args(). */
bool vl_parse_machine(VLOptions *opts, const char *arg, Error **errp);
bool vl_parse_smp(VLOptions *opts, const char *arg, Error **errp);
bool vl_parse_name(VLOptions *opts, const char *arg, Error **errp);
bool vl_parse_object(VLOptions *opts, const char *arg, Error **errp);
bool vl_parse_chardev(VLOptions *opts, const char *arg, Error **errp);
bool vl_parse_mon(VLOptions *opts, const char *arg, Error **errp);
bool vl_parse_uuid(VLOptions *opts, const char *arg, Error **errp);
/* vl-options-workload.c: -workload. */
bool vl_parse_workload(VLOptions *opts, const char *arg, Error **errp);
/*
 * -m's rules for a RAM size, from -m or a memory backend
 * (vl-options-common.c).
 */
bool vl_check_ram_size(const char *option, uint64_t bytes, Error **errp);
/* What -machine, -object and -mon imply together; after parsing. */
bool vl_check_machine(VLOptions *opts, Error **errp);

#endif /* SYSEMU_VL_OPTIONS_H */
