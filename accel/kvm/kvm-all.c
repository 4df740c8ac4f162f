/*
 * KVM accelerator: /dev/kvm, capabilities, the VM and its memslots.
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "hw/guest-abi.h"
#include "qemu/atomic.h"
#include "sysemu/kvm-dirty-bitmap.h"
#include "sysemu/kvm-dirty-ring.h"
#include "sysemu/kvm.h"
#include "trace.h"

KVMState *kvm_state;

/* Capabilities restraint cannot run without, with the reason. */
static const struct {
    int cap;
    const char *name;
} kvm_required_caps[] = {
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY (guest RAM)" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT (lossless kicks)" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID (vCPU CPUID)" },
    { KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ (guest time base)" },
};

static int kvm_check_extension(int fd, int cap)
{
    int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

    return ret < 0 ? 0 : ret;
}

static bool kvm_enable_dirty_ring(KVMState *s, uint32_t entries,
                                  Error **errp)
{
    struct kvm_enable_cap cap = { 0 };
    uint64_t bytes = (uint64_t)entries * sizeof(struct kvm_dirty_gfn);
    int acq_rel = kvm_check_extension(s->vmfd,
                                      KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
    int plain = kvm_check_extension(s->vmfd, KVM_CAP_DIRTY_LOG_RING);

    s->dirty_ring_max_bytes = acq_rel ? acq_rel : plain;
    if (!s->dirty_ring_max_bytes) {
        error_setg(errp, "-accel kvm,dirty-ring-size=%" PRIu32 ": this host's "
                   "KVM has no dirty ring (KVM_CAP_DIRTY_LOG_RING); use the "
                   "dirty bitmap (dirty-ring-size=0)", entries);
        return false;
    }
    if (bytes > s->dirty_ring_max_bytes) {
        error_setg(errp, "-accel kvm,dirty-ring-size=%" PRIu32 " is too "
                   "large: this host's KVM allows at most %zu entries",
                   entries,
                   s->dirty_ring_max_bytes / sizeof(struct kvm_dirty_gfn));
        return false;
    }
    /* Prefer the variant with acquire/release ordering on the ring. */
    cap.cap = acq_rel ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL
                      : KVM_CAP_DIRTY_LOG_RING;
    cap.args[0] = bytes;
    if (ioctl(s->vmfd, KVM_ENABLE_CAP, &cap) < 0) {
        error_setg_errno(errp, errno, "kvm: enabling a dirty ring of %"
                         PRIu32 " entries failed", entries);
        return false;
    }
    s->dirty_ring_acq_rel = acq_rel != 0;
    s->dirty_ring_entries = entries;
    return true;
}

static bool kvm_get_cpuid(KVMState *s, Error **errp)
{
    /* Enough for every leaf a current kernel reports; grown on E2BIG. */
    int nent = 128;

    for (;;) {
        struct kvm_cpuid2 *cpuid = g_malloc0(sizeof(*cpuid) +
                                     nent * sizeof(struct kvm_cpuid_entry2));
        cpuid->nent = nent;
        if (ioctl(s->fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
            s->cpuid = cpuid;
            return true;
        }
        g_free(cpuid);
        if (errno != E2BIG || nent >= 4096) {
            error_setg_errno(errp, errno, "kvm: KVM_GET_SUPPORTED_CPUID");
            return false;
        }
        nent *= 2;
    }
}

static bool kvm_enable_manual_protect(KVMState *s, Error **errp)
{
    int offered = kvm_check_extension(s->vmfd,
                                      KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
    };

    if (!(offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
        return true;    /* plain GET_DIRTY_LOG, which re-protects itself */
    }
    cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
    if (offered & KVM_DIRTY_LOG_INITIALLY_SET) {
        cap.args[0] |= KVM_DIRTY_LOG_INITIALLY_SET;
    }
    if (ioctl(s->vmfd, KVM_ENABLE_CAP, &cap) < 0) {
        error_setg_errno(errp, errno, "kvm: enabling "
                         "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");
        return false;
    }
    s->manual_dirty_log_protect = true;
    s->dirty_log_initially_set = (cap.args[0] & KVM_DIRTY_LOG_INITIALLY_SET);
    return true;
}

bool kvm_init(const KVMOptions *opts, Error **errp)
{
    KVMState *s = g_new0(KVMState, 1);
    int version;

    s->fd = -1;
    s->vmfd = -1;
    s->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        if (errno == ENOENT) {
            error_setg(errp, "kvm: /dev/kvm does not exist: this host has "
                       "no KVM (load kvm_intel, kvm_amd or kvm_pvm)");
        } else if (errno == EACCES || errno == EPERM) {
            error_setg(errp, "kvm: no permission to open /dev/kvm: run as "
                       "root or join the kvm group");
        } else {
            error_setg_errno(errp, errno, "kvm: cannot open /dev/kvm");
        }
        goto fail;
    }
    version = ioctl(s->fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        error_setg(errp, "kvm: API version %d, restraint needs %d",
                   version, KVM_API_VERSION);
        goto fail;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(kvm_required_caps); i++) {
        if (!kvm_check_extension(s->fd, kvm_required_caps[i].cap)) {
            error_setg(errp, "kvm: this host lacks %s",
                       kvm_required_caps[i].name);
            goto fail;
        }
    }
    s->vcpu_mmap_size = ioctl(s->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (s->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        error_setg(errp, "kvm: bad KVM_GET_VCPU_MMAP_SIZE %d",
                   s->vcpu_mmap_size);
        goto fail;
    }
    s->max_vcpus = kvm_check_extension(s->fd, KVM_CAP_MAX_VCPUS);
    if (!s->max_vcpus) {
        s->max_vcpus = kvm_check_extension(s->fd, KVM_CAP_NR_VCPUS);
    }
    if (!s->max_vcpus) {
        /* The kernel's documented default when neither is reported. */
        s->max_vcpus = 4;
    }
    if (!kvm_get_cpuid(s, errp)) {
        goto fail;
    }
    do {
        s->vmfd = ioctl(s->fd, KVM_CREATE_VM, 0);
    } while (s->vmfd < 0 && errno == EINTR);
    if (s->vmfd < 0) {
        error_setg_errno(errp, errno, "kvm: KVM_CREATE_VM");
        goto fail;
    }
    s->reaper_period_ms = opts->reaper_period_ms;
    if (opts->dirty_ring_entries) {
        if (!kvm_enable_dirty_ring(s, opts->dirty_ring_entries, errp)) {
            goto fail;
        }
    } else if (opts->manual_protect && !kvm_enable_manual_protect(s, errp)) {
        goto fail;
    }
    kvm_state = s;
    trace_kvm_init(s->vcpu_mmap_size, s->max_vcpus, s->dirty_ring_entries);
    return true;

fail:
    if (s->vmfd >= 0) {
        close(s->vmfd);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    g_free(s->cpuid);
    g_free(s);
    return false;
}

void kvm_cleanup(void)
{
    KVMState *s = kvm_state;

    if (!s) {
        return;
    }
    close(s->vmfd);
    close(s->fd);
    g_free(s->cpuid);
    g_free(s);
    kvm_state = NULL;
}

bool kvm_enabled(void)
{
    return kvm_state != NULL;
}

int kvm_max_vcpus(void)
{
    return kvm_state ? kvm_state->max_vcpus : 0;
}

bool kvm_set_user_memory(uint32_t slot, uint64_t gpa, uint64_t size,
                         void *hva, bool log_dirty, Error **errp)
{
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)hva,
    };

    if (ioctl(kvm_state->vmfd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        error_setg_errno(errp, errno, "kvm: memslot %" PRIu32 " [0x%" PRIx64
                         ", 0x%" PRIx64 ")", slot, gpa, gpa + size);
        return false;
    }
    if (slot < KVM_NR_MEMSLOTS) {
        KVMMemslot *m = &kvm_state->memslots[slot];

        /* Atomic: a harvest on another thread reads the geometry. */
        qatomic_set(&m->first_page, gpa / RS_PAGE_SIZE);
        qatomic_set(&m->pages, size / RS_PAGE_SIZE);
        qatomic_set(&m->log_dirty, log_dirty);
    }
    trace_kvm_set_user_memory(slot, gpa, size, log_dirty);
    return true;
}

const DirtySourceOps *kvm_dirty_source(void)
{
    if (!kvm_state) {
        return NULL;
    }
    return kvm_state->dirty_ring_entries ? &kvm_dirty_ring_source
                                         : &kvm_dirty_bitmap_source;
}
