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

typedef struct VLOptions {
    uint64_t ram_bytes;
    int smp_cpus;
    KVMOptions accel;                   /* -accel kvm,... */
    char *kernel_path;                  /* NULL = built-in guest */
    bool start_paused;                  /* -S */
    bool mem_prealloc;                  /* -mem-prealloc */
    char *name;
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

#endif /* SYSEMU_VL_OPTIONS_H */
