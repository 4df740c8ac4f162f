/*
 * The KVM dirty ring: per-vCPU ring of dirtied guest pages, one dirty
 * source (include/sysemu/dirty-source.h).
 *
 * The pure walk of one ring is include/sysemu/dirty-ring-harvest.h; this
 * is the accelerator's side: mapping, the slots lock, the reaper and
 * KVM_RESET_DIRTY_RINGS.  Only accel/kvm/ and tests name it: everyone
 * else goes through softmmu/memory.c.
 */
#ifndef SYSEMU_KVM_DIRTY_RING_H
#define SYSEMU_KVM_DIRTY_RING_H

#include <stdint.h>

#include "hw/core/cpu.h"
#include "sysemu/dirty-source.h"

/*
 * Ring-full exits in a row with nothing harvested before we call the
 * ring stuck.  A healthy ring-full exit always finds at least the
 * reserve's worth of entries; a few empty ones can happen when the reaper
 * emptied the ring between the exit and our harvest.
 */
#define KVM_DIRTY_RING_STUCK_EXITS 64

/* The dirty source of a VM created with a dirty ring. */
extern const DirtySourceOps kvm_dirty_ring_source;

bool kvm_dirty_ring_init_vcpu(CPUState *cpu, Error **errp);
void kvm_dirty_ring_cleanup_vcpu(CPUState *cpu);
/* Harvest every vCPU's ring and reset them; returns entries harvested. */
uint64_t kvm_dirty_ring_reap(void);
/* Harvest @cpu's ring only (ring-full exit), then reset. */
uint64_t kvm_dirty_ring_reap_one(CPUState *cpu);
/*
 * Entries @cpu's ring holds that nobody has harvested yet, counted
 * without harvesting or resetting anything (any thread, no lock: a
 * harvest running meanwhile makes it undercount, never overcount).
 * dirty_pages read before this, plus this, is the vCPU's count now.
 * The source's vcpu_pending().
 */
uint32_t kvm_dirty_ring_peek_pending(CPUState *cpu);
/*
 * The same for distinct pages per window: of the entries still in @cpu's
 * ring, the pages its dirty window has not counted yet (a page repeated
 * in a row once), and of those the pages its previous window counted
 * (carried).  dirty_window_total() read before this, plus this, is the
 * vCPU's distinct count now (dirty_window_carried(), read before the
 * total, plus the carried ones, its carried count).  Undercounts while
 * a harvest runs.
 */
DirtyNewPages kvm_dirty_ring_peek_new_pages(CPUState *cpu);

/*
 * KVM_EXIT_DIRTY_RING_FULL on @cpu's thread: harvest its ring.  False,
 * after cpu_request_halt(), when the ring is stuck.
 */
bool kvm_handle_dirty_ring_full(CPUState *cpu);

/* The kvm-reaper thread: harvests every @period_ms and when kicked. */
void kvm_dirty_ring_reaper_start(uint32_t period_ms);
void kvm_dirty_ring_reaper_kick(void);
void kvm_dirty_ring_reaper_stop(void);

#endif /* SYSEMU_KVM_DIRTY_RING_H */
