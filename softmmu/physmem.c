/*
 * Guest RAM and the guest-physical map.
 */
#include "qemu/osdep.h"

#include <sys/mman.h>

#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/kvm.h"
#include "sysemu/physmem.h"
#include "trace.h"

#define BITS_PER_WORD 64
/* -mem-prealloc reports its progress this many times (every tenth). */
#define RAM_PREALLOC_REPORTS 10

typedef struct RAMState {
    uint8_t *host;
    uint64_t size_bytes;
    uint64_t pages;
    uint64_t words;                             /* per bitmap */
    uint64_t *dirty[DIRTY_MEMORY_NUM];          /* allocated on first start */
    int dirty_active[DIRTY_MEMORY_NUM];         /* (atomic) */
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
        error_setg_errno(errp, errno, "-m %" PRIu64 "M: the host cannot "
                         "reserve that much address space for guest RAM "
                         "(see ulimit -v and vm.overcommit_memory)",
                         size / MiB);
        return false;
    }
    /*
     * Transparent huge pages where the host offers them: the first touch
     * of a 2 MiB guest leaf then costs one host fault, not 512.  Dirty
     * logging still works on 4 KiB pages (KVM maps at 4 KiB while it logs).
     */
    madvise(host, size, MADV_HUGEPAGE);
    ram.host = host;
    ram.size_bytes = size;
    ram.pages = size / RS_PAGE_SIZE;
    ram.words = DIV_ROUND_UP(ram.pages, BITS_PER_WORD);
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

/* Fault in [host, host + len): one call where the kernel can, else a
 * store per page (the mapping is private and anonymous: zeros stay). */
static bool ram_populate(uint8_t *host, uint64_t len)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(host, len, MADV_POPULATE_WRITE) == 0) {
        return true;
    }
    if (errno != EINVAL) {
        return false;
    }
#endif
    for (uint64_t off = 0; off < len; off += RS_PAGE_SIZE) {
        *(volatile uint8_t *)(host + off) = 0;
    }
    return true;
}

bool ram_prealloc(Error **errp)
{
    uint64_t step = QEMU_ALIGN_UP(DIV_ROUND_UP(ram.size_bytes,
                                               RAM_PREALLOC_REPORTS),
                                  RS_PAGE_SIZE);
    int64_t start_us = clock_us();

    for (uint64_t off = 0; off < ram.size_bytes; off += step) {
        uint64_t len = MIN(step, ram.size_bytes - off);
        uint64_t done = off + len;

        if (!ram_populate(ram.host + off, len)) {
            error_setg_errno(errp, errno, "-mem-prealloc: the host could "
                             "back only %" PRIu64 " of %" PRIu64 " MiB of "
                             "guest RAM", off / MiB, ram.size_bytes / MiB);
            return false;
        }
        trace_ram_prealloc_progress(done, ram.size_bytes);
        info_report("-mem-prealloc: %" PRIu64 " of %" PRIu64 " MiB (%"
                    PRIu64 "%%) in %.2f s", done / MiB,
                    ram.size_bytes / MiB, done * 100 / ram.size_bytes,
                    (clock_us() - start_us) / 1e6);
    }
    return true;
}

void ram_cleanup(void)
{
    for (int c = 0; c < DIRTY_MEMORY_NUM; c++) {
        g_free(ram.dirty[c]);
        ram.dirty[c] = NULL;
        ram.dirty_active[c] = 0;
    }
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

uint64_t ram_pages(void)
{
    return ram.pages;
}

void physmem_dirty_client_start(DirtyMemoryClient client)
{
    assert(client < DIRTY_MEMORY_NUM);
    if (!ram.dirty[client]) {
        ram.dirty[client] = g_new0(uint64_t, ram.words);
    } else {
        for (uint64_t w = 0; w < ram.words; w++) {
            qatomic_set(&ram.dirty[client][w], 0);
        }
    }
    qatomic_store_release(&ram.dirty_active[client], 1);
}

void physmem_dirty_client_stop(DirtyMemoryClient client)
{
    assert(client < DIRTY_MEMORY_NUM);
    /* The bitmap stays allocated: a harvester may still be writing. */
    qatomic_store_release(&ram.dirty_active[client], 0);
}

bool physmem_dirty_client_active(DirtyMemoryClient client)
{
    return qatomic_load_acquire(&ram.dirty_active[client]);
}

void physmem_set_dirty_word(uint64_t word, uint64_t word_bits)
{
    if (!word_bits || word >= ram.words) {
        return;
    }
    for (int c = 0; c < DIRTY_MEMORY_NUM; c++) {
        if (physmem_dirty_client_active(c)) {
            qatomic_fetch_or_relaxed(&ram.dirty[c][word], word_bits);
        }
    }
}

void physmem_set_dirty_page(uint64_t page)
{
    if (page < ram.pages) {
        physmem_set_dirty_word(page / BITS_PER_WORD,
                               1ULL << (page % BITS_PER_WORD));
    }
}

void physmem_set_dirty_range(uint64_t gpa, uint64_t len)
{
    uint64_t first, last;

    if (!len) {
        return;
    }
    first = gpa / RS_PAGE_SIZE;
    last = MIN((gpa + len - 1) / RS_PAGE_SIZE, ram.pages - 1);
    for (uint64_t page = first; page <= last; page++) {
        physmem_set_dirty_page(page);
    }
}

uint64_t physmem_dirty_take(DirtyMemoryClient client, uint64_t first_page,
                            uint64_t nwords, uint64_t *dst)
{
    uint64_t first_word = first_page / BITS_PER_WORD;
    uint64_t count = 0;

    assert(first_page % BITS_PER_WORD == 0);
    for (uint64_t i = 0; i < nwords; i++) {
        uint64_t w = first_word + i;
        uint64_t bits = 0;

        if (w < ram.words && ram.dirty[client]) {
            bits = qatomic_xchg_acq_rel(&ram.dirty[client][w], 0);
        }
        dst[i] = bits;
        count += __builtin_popcountll(bits);
    }
    return count;
}

bool physmem_dirty_test_and_clear(DirtyMemoryClient client, uint64_t page)
{
    uint64_t mask = 1ULL << (page % BITS_PER_WORD);

    if (page >= ram.pages || !ram.dirty[client]) {
        return false;
    }
    return qatomic_fetch_and_acq_rel(&ram.dirty[client][page / BITS_PER_WORD],
                                     ~mask) & mask;
}

uint64_t physmem_dirty_count(DirtyMemoryClient client)
{
    uint64_t count = 0;

    if (!ram.dirty[client]) {
        return 0;
    }
    for (uint64_t w = 0; w < ram.words; w++) {
        count += __builtin_popcountll(qatomic_read(&ram.dirty[client][w]));
    }
    return count;
}
