/*
 * The start-up's machine.  Each layer keeps to its own: physmem maps RAM,
 * hw/machine.c lays it out, cpus.c creates the vCPUs; only the start-up,
 * the top layer, names all three.  machine_init() does each step in order
 * and undoes what it did when a later step fails; machine_cleanup() undoes
 * all in reverse.
 */
#include "qemu/osdep.h"

#include "hw/machine.h"
#include "sysemu/cpus-internal.h"
#include "sysemu/physmem.h"
#include "sysemu/vl-machine.h"

static struct {
    bool ram_ready;
    bool loaded;
    bool cpus_ready;
} vl_machine;

bool machine_init(const VLOptions *opts, Error **errp)
{
    if (!machine_configure(opts, errp) ||
        !ram_init(opts->ram_bytes, errp)) {
        return false;
    }
    vl_machine.ram_ready = true;
    if (opts->mem_prealloc && !ram_prealloc(errp)) {
        goto fail;
    }
    if (!machine_load(opts, ram_host_base(), ram_size(), errp)) {
        goto fail;
    }
    vl_machine.loaded = true;
    if (!cpus_init(opts->smp_cpus, machine_entry_rip(), errp)) {
        goto fail;
    }
    vl_machine.cpus_ready = true;
    if (!machine_start_ctls(opts, errp)) {
        goto fail;
    }
    return true;

fail:
    machine_cleanup();
    return false;
}

void machine_cleanup(void)
{
    if (vl_machine.cpus_ready) {
        cpus_cleanup();
        vl_machine.cpus_ready = false;
    }
    if (vl_machine.loaded) {
        machine_unload();
        vl_machine.loaded = false;
    }
    if (vl_machine.ram_ready) {
        ram_cleanup();
        vl_machine.ram_ready = false;
    }
}
