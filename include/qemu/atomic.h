/*
 * Atomic accesses by what they promise, not by the builtin's spelling.
 *
 * Every shared counter, flag and pointer in restraint is read and written
 * through these names, so a reader sees at each access which ordering it
 * relies on:
 *
 *   qatomic_read / qatomic_set        relaxed: a value is whole, no order
 *   qatomic_load_acquire              pairs with qatomic_store_release:
 *   qatomic_store_release             what was written before the release
 *                                     is seen after the acquire
 *   qatomic_read_seq / qatomic_set_seq, qatomic_xchg, qatomic_cmpxchg,
 *   qatomic_fetch_or / _and           sequentially consistent
 *   qatomic_fetch_add (seq), qatomic_fetch_add_relaxed (statistics),
 *   qatomic_fetch_add_release, qatomic_xchg_acq_rel,
 *   qatomic_fetch_or_relaxed, qatomic_fetch_and_acq_rel
 *
 * They are GCC/clang builtins underneath, so ThreadSanitizer understands
 * them as it understands the builtins.
 */
#ifndef QEMU_ATOMIC_H
#define QEMU_ATOMIC_H

#define qatomic_read(ptr)            __atomic_load_n(ptr, __ATOMIC_RELAXED)
#define qatomic_set(ptr, v)          __atomic_store_n(ptr, v, __ATOMIC_RELAXED)
#define qatomic_load_acquire(ptr)    __atomic_load_n(ptr, __ATOMIC_ACQUIRE)
#define qatomic_store_release(ptr, v) \
    __atomic_store_n(ptr, v, __ATOMIC_RELEASE)
#define qatomic_read_seq(ptr)        __atomic_load_n(ptr, __ATOMIC_SEQ_CST)
#define qatomic_set_seq(ptr, v)      __atomic_store_n(ptr, v, __ATOMIC_SEQ_CST)

#define qatomic_xchg(ptr, v)         __atomic_exchange_n(ptr, v, __ATOMIC_SEQ_CST)
#define qatomic_xchg_acq_rel(ptr, v) \
    __atomic_exchange_n(ptr, v, __ATOMIC_ACQ_REL)

/*
 * Compare *ptr with *expected; if equal store desired and return true,
 * else copy *ptr into *expected and return false (strong form).
 */
#define qatomic_cmpxchg(ptr, expected, desired) \
    __atomic_compare_exchange_n(ptr, expected, desired, false, \
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

#define qatomic_fetch_add(ptr, n)    __atomic_fetch_add(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_add_relaxed(ptr, n) \
    __atomic_fetch_add(ptr, n, __ATOMIC_RELAXED)
#define qatomic_fetch_add_release(ptr, n) \
    __atomic_fetch_add(ptr, n, __ATOMIC_RELEASE)
#define qatomic_add_fetch_relaxed(ptr, n) \
    __atomic_add_fetch(ptr, n, __ATOMIC_RELAXED)
#define qatomic_fetch_or(ptr, n)     __atomic_fetch_or(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_or_relaxed(ptr, n) \
    __atomic_fetch_or(ptr, n, __ATOMIC_RELAXED)
#define qatomic_fetch_and(ptr, n)    __atomic_fetch_and(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_and_acq_rel(ptr, n) \
    __atomic_fetch_and(ptr, n, __ATOMIC_ACQ_REL)

#endif /* QEMU_ATOMIC_H */
