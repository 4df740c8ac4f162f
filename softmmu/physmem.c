/*
 * Guest RAM and the guest-physical map.
 */
#include "qemu/osdep.h"

#include <sys/mman.h>

#include "hw/guest-abi.h"
#include "sysemu/kvm.h"
#include "sysemu/physmem.h"

typedef struct RAMState {
    uint8_t *host;
    uint64_t size_bytes;
} RAMState;

static RAMState ram;

bool ram_init(uint64_t size, Error **errp)
{
    void *host;

    assert(size > RS_SYS_SIZE && QEMU_IS_ALIGNED(size, 2 * MiB));
    /* Lazily backed: a 4 GiB guest costs nothing until it touches it. */
    host = mmap(NULL, size, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (host == MAP_FAILED) {
        error_setg_errno(errp, errno, "cannot map %" PRIu64 " MiB of guest "
                         "RAM", size / MiB);
        return false;
    }
    ram.host = host;
    ram.size_bytes = size;
    if (!kvm_set_user_memory(RAM_SLOT_SYSTEM, 0, RS_SYS_SIZE, ram.host,
                             false, errp) ||
        !kvm_set_user_memory(RAM_SLOT_WORK, RS_WORK_BASE,
                             size - RS_WORK_BASE, ram.host + RS_WORK_BASE,
                             false, errp)) {
        ram_cleanup();
        return false;
    }
    return true;
}

void ram_cleanup(void)
{
    if (ram.host) {
        munmap(ram.host, ram.size_bytes);
        ram.host = NULL;
        ram.size_bytes = 0;
    }
}

uint64_t ram_size(void)
{
    return ram.size_bytes;
}

uint8_t *ram_host_base(void)
{
    return ram.host;
}

void *ram_host_ptr(uint64_t gpa, uint64_t len)
{
    if (gpa > ram.size_bytes || len > ram.size_bytes - gpa) {
        return NULL;
    }
    return ram.host + gpa;
}
