/*
 * The VM lock (QEMU's BQL): run state, the vCPU list, command execution.
 * Outermost lock: VM lock -> dirtylimit state lock -> slots lock.
 * Never held across KVM_RUN or a throttle sleep.
 */
#ifndef SYSEMU_VM_LOCK_H
#define SYSEMU_VM_LOCK_H

#include "qemu/thread.h"

void vm_lock(void);
void vm_unlock(void);
bool vm_lock_held(void);
/*
 * Wait on @cond, VM lock held: the lock is dropped while waiting and
 * held again (and vm_lock_held() true) on return.
 */
void vm_cond_wait(QemuCond *cond);

#endif /* SYSEMU_VM_LOCK_H */
