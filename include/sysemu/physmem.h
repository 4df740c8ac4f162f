/*
 * Guest RAM: one anonymous mapping, identity GPA 0 .. ram_size, split in
 * two memslots: the system area (never dirty-logged) and workload memory.
 */
#ifndef SYSEMU_PHYSMEM_H
#define SYSEMU_PHYSMEM_H

#include <stdint.h>

#define RAM_SLOT_SYSTEM 0   /* [0, RS_SYS_SIZE) */
#define RAM_SLOT_WORK   1   /* [RS_WORK_BASE, ram_size) */

/* Map @size bytes lazily (MAP_NORESERVE) and register both memslots. */
bool ram_init(uint64_t size, Error **errp);
void ram_cleanup(void);
/*
 * -mem-prealloc: fault every page of guest RAM in now (host memory is
 * committed), reporting progress every tenth.  Fails, with the offset
 * reached, when the host cannot back it.
 */
bool ram_prealloc(Error **errp);
uint64_t ram_size(void);
/* Host pointer to [gpa, gpa + len), or NULL if any of it is not RAM. */
void *ram_host_ptr(uint64_t gpa, uint64_t len);
/* Host base pointer of the whole of RAM. */
uint8_t *ram_host_base(void);

/*
 * Dirty memory bitmaps, one per client, one bit per 4 KiB page of RAM
 * (GPA 0 to ram_size).  A client's bitmap exists from its first start to
 * ram_cleanup(); bits are set and taken with atomics, so harvesters (the
 * reaper, a vCPU at ring-full, a sync) and consumers need no lock.
 */
typedef enum DirtyMemoryClient {
    DIRTY_MEMORY_MIGRATION = 0,
    DIRTY_MEMORY_DIRTY_RATE = 1,
    DIRTY_MEMORY_CHECK = 2,     /* tests and benchmarks that verify */
    DIRTY_MEMORY_NUM = 4,       /* room for more */
} DirtyMemoryClient;

uint64_t ram_pages(void);

/* Pages ram_probe_untouched() looks at in one call (4 KiB of pagemap). */
#define RAM_PROBE_MAX_PAGES 512
/*
 * Set bit i of @untouched (DIV_ROUND_UP(@n, 64) words) when page
 * @first_page + i has never been backed by the host: it reads as zero and
 * reading it would only fault.  @n <= RAM_PROBE_MAX_PAGES.  Returns false,
 * knowing nothing, where the host does not say (no /proc/self/pagemap).
 * A page written after the call is the dirty log's business.
 */
bool ram_probe_untouched(uint64_t first_page, uint64_t n,
                         uint64_t *untouched);
/* Start collecting for @client with every bit clear. */
void physmem_dirty_client_start(DirtyMemoryClient client);
void physmem_dirty_client_stop(DirtyMemoryClient client);
bool physmem_dirty_client_active(DirtyMemoryClient client);
/* Mark @page (GPA / 4 KiB) dirty for every active client. */
void physmem_set_dirty_page(uint64_t page);
/* Mark every page of [gpa, gpa + len) dirty for every active client. */
void physmem_set_dirty_range(uint64_t gpa, uint64_t len);
/*
 * OR the 64-bit word @word_bits (pages 64 * @word .. 64 * @word + 63) into
 * every active client's bitmap: how a KVM bitmap is merged.
 */
void physmem_set_dirty_word(uint64_t word, uint64_t word_bits);
/*
 * Take @client's bits for pages [first_page, first_page + 64 * nwords)
 * into @dst (cleared in the client's bitmap as they are taken);
 * @first_page is a multiple of 64.  Returns the number of dirty pages.
 */
uint64_t physmem_dirty_take(DirtyMemoryClient client, uint64_t first_page,
                            uint64_t nwords, uint64_t *dst);
/* Take and clear one page's bit. */
bool physmem_dirty_test_and_clear(DirtyMemoryClient client, uint64_t page);
/* Dirty pages now recorded for @client (a count, not a take). */
uint64_t physmem_dirty_count(DirtyMemoryClient client);

#endif /* SYSEMU_PHYSMEM_H */
