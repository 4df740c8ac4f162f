/*
 * The run state machine under concurrent commands, in-process on real
 * KVM: two vCPUs write at full speed, so every pause really kicks and
 * waits for them (and drops the VM lock meanwhile, as in the VMM).
 * Threads race the transitions the VMM's threads race: a QMP stop or
 * cont (main thread) against the migration thread's switchover stop,
 * against a guest crash.  Whatever order the race takes, the outcome
 * must be one that some serial order gives: finish-migrate is never
 * replaced by paused, guest-panicked is never lost, and the state
 * always says what the vCPUs do.
 */
#include "qemu/osdep.h"

#include <pthread.h>

#include "hw/machine.h"
#include "hw/workload.h"
#include "qapi/qapi-commands.h"
#include "sysemu/cpus.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "test-vm.h"

#define TEST_RAM_BYTES (16 * MiB + 32 * MiB)
#define TEST_REGION_BYTES (8 * MiB)
#define TEST_CPUS 2
/* Rounds of each race: enough that a lost update shows on a 2-core host. */
#define TEST_ROUNDS 200
/* stop/cont pairs the client sends around one guest crash. */
#define TEST_CLIENT_PAIRS 20
/* Threads and operations of the free-for-all. */
#define TEST_HAMMER_THREADS 3
#define TEST_HAMMER_OPS 400
#define TEST_SEED 20261129u

static void vm_create(void)
{
    g_autoptr(VLOptions) opts = test_vm_options(TEST_RAM_BYTES, TEST_CPUS);
    WorkloadConfig wl = {
        .kind = RS_WL_WRITE, .pattern = RS_PAT_SEQ,
        .size_bytes = TEST_REGION_BYTES,
    };

    test_vm_set_workloads(opts, &wl);
    test_vm_create(opts);
}

static RunState state_now(void)
{
    RunState s;

    vm_lock();
    s = runstate_get();
    vm_unlock();
    return s;
}

/* QMP commands run on the main thread with the VM lock held. */
static bool qmp_locked(void (*cmd)(Error **errp), char **why)
{
    Error *err = NULL;

    vm_lock();
    cmd(&err);
    vm_unlock();
    if (err) {
        if (why) {
            *why = g_strdup(error_get_pretty(err));
        }
        error_free(err);
        return false;
    }
    return true;
}

/* Back to running from wherever a round left the VM. */
static void vm_rerun(void)
{
    Error *err = NULL;

    vm_lock();
    if (runstate_get() == RUN_STATE_FINISH_MIGRATE) {
        /* The migration thread's way back after a failed switchover. */
        runstate_set(RUN_STATE_PAUSED);
    } else if (runstate_get() != RUN_STATE_PAUSED &&
               runstate_get() != RUN_STATE_RUNNING) {
        /* Crashed or migrated: a new machine, as tests with several do. */
        vm_stop(RUN_STATE_SHUTDOWN);
        runstate_set(RUN_STATE_PRELAUNCH);
    }
    if (!vm_start(&err)) {
        g_error("cannot run the VM again: %s", error_get_pretty(err));
    }
    vm_unlock();
}

typedef struct Race {
    pthread_barrier_t go;
    GRand *rand;
} Race;

static gpointer client_stop(gpointer opaque)
{
    Race *r = opaque;

    pthread_barrier_wait(&r->go);
    qmp_locked(qmp_stop, NULL);
    return NULL;
}

static gpointer migration_switchover(gpointer opaque)
{
    Race *r = opaque;

    pthread_barrier_wait(&r->go);
    vm_lock();
    vm_stop(RUN_STATE_FINISH_MIGRATE);
    vm_unlock();
    return NULL;
}

/*
 * A QMP stop and the switchover stop at once.  Stop first: paused, then
 * finish-migrate.  Switchover first: the stop finds no running VM.
 * Either way finish-migrate, and cont is refused until the migration
 * gives the VM back.
 */
static void test_stop_never_replaces_finish_migrate(void)
{
    Race r;
    int lost = 0, cont_accepted = 0;

    vm_create();
    for (int round = 0; round < TEST_ROUNDS; round++) {
        GThread *a, *b;
        RunState end;

        pthread_barrier_init(&r.go, NULL, 2);
        a = g_thread_new("qmp-stop", client_stop, &r);
        b = g_thread_new("migration", migration_switchover, &r);
        g_thread_join(a);
        g_thread_join(b);
        pthread_barrier_destroy(&r.go);
        end = state_now();
        if (end != RUN_STATE_FINISH_MIGRATE) {
            lost++;
        }
        if (qmp_locked(qmp_cont, NULL)) {
            cont_accepted++;
        }
        vm_rerun();
    }
    g_test_message("%d of %d rounds lost finish-migrate, cont accepted in %d",
                   lost, TEST_ROUNDS, cont_accepted);
    g_assert_cmpint(lost, ==, 0);
    g_assert_cmpint(cont_accepted, ==, 0);
    test_vm_destroy();
}

static gpointer client_stop_cont_loop(gpointer opaque)
{
    Race *r = opaque;

    pthread_barrier_wait(&r->go);
    for (int i = 0; i < TEST_CLIENT_PAIRS; i++) {
        qmp_locked(qmp_stop, NULL);
        qmp_locked(qmp_cont, NULL);
    }
    return NULL;
}

static gpointer guest_crash(gpointer opaque)
{
    Race *r = opaque;
    int pairs = g_rand_int_range(r->rand, 0, TEST_CLIENT_PAIRS / 2);

    pthread_barrier_wait(&r->go);
    /* Land somewhere in the client's loop. */
    for (int i = 0; i < pairs; i++) {
        g_usleep(50);
    }
    /* What a vCPU does; the main loop then stops the VM. */
    qemu_system_guest_panicked(0, "test crash");
    while (g_main_context_iteration(NULL, FALSE)) {
        /* dispatch the stop */
    }
    return NULL;
}

/* A client loops stop/cont while the guest crashes: panicked, always. */
static void test_stop_cont_never_lose_guest_panicked(void)
{
    Race r = { .rand = g_rand_new_with_seed(TEST_SEED) };
    int lost = 0;

    vm_create();
    for (int round = 0; round < TEST_ROUNDS / 4; round++) {
        GThread *a, *b;
        g_autofree char *why = NULL;

        pthread_barrier_init(&r.go, NULL, 2);
        a = g_thread_new("qmp-client", client_stop_cont_loop, &r);
        b = g_thread_new("guest-crash", guest_crash, &r);
        g_thread_join(a);
        g_thread_join(b);
        pthread_barrier_destroy(&r.go);
        if (state_now() != RUN_STATE_GUEST_PANICKED) {
            g_test_message("round %d ended %s", round,
                           RunState_str(state_now()));
            lost++;
        } else {
            g_assert_false(qmp_locked(qmp_cont, &why));
            g_assert_nonnull(strstr(why, "cannot be resumed"));
        }
        vm_rerun();
    }
    g_rand_free(r.rand);
    g_assert_cmpint(lost, ==, 0);
    test_vm_destroy();
}

typedef struct Hammer {
    int seed;
    int stops, conts;
    int broken;                 /* replies that the vCPUs contradicted */
} Hammer;

static gpointer hammer_thread(gpointer opaque)
{
    Hammer *h = opaque;
    GRand *rand = g_rand_new_with_seed(TEST_SEED + h->seed);

    for (int i = 0; i < TEST_HAMMER_OPS; i++) {
        bool stop = g_rand_boolean(rand);
        Error *err = NULL;

        /* Checked before the VM lock goes: what the reply promises. */
        vm_lock();
        if (stop) {
            qmp_stop(&err);
            h->broken += runstate_is_running() || !all_vcpus_paused();
            h->stops++;
        } else {
            qmp_cont(&err);
            h->broken += !err && !runstate_is_running();
            h->conts += !err;
        }
        vm_unlock();
        error_free(err);
    }
    g_rand_free(rand);
    return NULL;
}

/*
 * Several clients send stop and cont at random.  Every command returns
 * (no pause waits for vCPUs a concurrent cont released); when a stop
 * returns no vCPU runs, when a cont returns the VM runs; at the end the
 * state says what the vCPUs do.
 */
static void test_concurrent_stop_cont_agree_with_the_vcpus(void)
{
    Hammer h[TEST_HAMMER_THREADS] = { { 0 } };
    GThread *t[TEST_HAMMER_THREADS];
    WorkloadSample a, b;
    int64_t deadline_us;

    vm_create();
    for (int i = 0; i < TEST_HAMMER_THREADS; i++) {
        h[i].seed = i;
        t[i] = g_thread_new("hammer", hammer_thread, &h[i]);
    }
    for (int i = 0; i < TEST_HAMMER_THREADS; i++) {
        g_thread_join(t[i]);
        g_test_message("client %d: %d stops, %d conts, %d broken replies",
                       i, h[i].stops, h[i].conts, h[i].broken);
        g_assert_cmpint(h[i].broken, ==, 0);
    }
    vm_lock();
    if (runstate_get() == RUN_STATE_PAUSED) {
        g_assert_true(all_vcpus_paused());
        vm_unlock();
        a = test_vm_sample(0);
        g_usleep(G_USEC_PER_SEC / 10);
        b = test_vm_sample(0);
        g_assert_cmpuint(a.pages_written, ==, b.pages_written);
    } else {
        g_assert_cmpint(runstate_get(), ==, RUN_STATE_RUNNING);
        vm_unlock();
        /* Running means the guest makes progress, soon. */
        a = test_vm_sample(0);
        deadline_us = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
        do {
            g_usleep(TEST_POLL_STEP_US);
            b = test_vm_sample(0);
        } while (b.pages_written == a.pages_written &&
                 g_get_monotonic_time() < deadline_us);
        g_assert_cmpuint(b.pages_written, >, a.pages_written);
    }
    test_vm_destroy();
}

/* How a switchover goes, and what the VM must be after it. */
static const struct {
    const char *name;
    bool paused_before;         /* stop before the switchover */
    bool crash_during;          /* a vCPU reports a crash meanwhile */
    bool completed;
    RunState travels;           /* runstate_before_migration() */
    RunState after;
} switchover_cases[] = {
    { "running, failed", false, false, false, RUN_STATE_RUNNING,
      RUN_STATE_RUNNING },
    { "paused, failed", true, false, false, RUN_STATE_PAUSED,
      RUN_STATE_PAUSED },
    { "running, completed", false, false, true, RUN_STATE_RUNNING,
      RUN_STATE_POSTMIGRATE },
    { "crash during, failed", false, true, false, RUN_STATE_GUEST_PANICKED,
      RUN_STATE_GUEST_PANICKED },
    { "crash during, completed", false, true, true,
      RUN_STATE_GUEST_PANICKED, RUN_STATE_POSTMIGRATE },
};

/*
 * The switchover carries the state the guest was in, including a crash
 * reported while finish-migrate refused every stop, and a failed one
 * gives the guest back as it was.
 */
static void test_switchover_ends_as_the_guest_was(void)
{
    vm_create();
    for (size_t i = 0; i < G_N_ELEMENTS(switchover_cases); i++) {
        g_autofree char *why = NULL;
        Error *err = NULL;

        g_test_message("%s", switchover_cases[i].name);
        if (switchover_cases[i].paused_before) {
            g_assert_true(qmp_locked(qmp_stop, NULL));
        }
        vm_lock();
        g_assert_true(vm_stop(RUN_STATE_FINISH_MIGRATE));
        vm_unlock();
        if (switchover_cases[i].crash_during) {
            qemu_system_guest_panicked(0, "test crash during switchover");
            while (g_main_context_iteration(NULL, FALSE)) {
                /* the main loop's stop, refused */
            }
            g_assert_cmpint(state_now(), ==, RUN_STATE_FINISH_MIGRATE);
        }
        /* The crash's reason goes first: it is the lasting one. */
        g_assert_false(qmp_locked(qmp_cont, &why));
        g_assert_nonnull(strstr(why, switchover_cases[i].crash_during ?
                                "cannot be resumed" : "not finalized"));
        vm_lock();
        g_assert_cmpint(runstate_before_migration(), ==,
                        switchover_cases[i].travels);
        g_assert_true(vm_end_migration(switchover_cases[i].completed,
                                       &err));
        g_assert_cmpint(runstate_get(), ==, switchover_cases[i].after);
        vm_unlock();
        g_assert_null(err);
        vm_rerun();
    }
    test_vm_destroy();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_vm_require_kvm("the run state races need real vCPUs to pause");
    g_test_add_func("/runstate/kvm/stop-never-replaces-finish-migrate",
                    test_stop_never_replaces_finish_migrate);
    g_test_add_func("/runstate/kvm/stop-cont-never-lose-guest-panicked",
                    test_stop_cont_never_lose_guest_panicked);
    g_test_add_func("/runstate/kvm/concurrent-stop-cont-agree-with-the-vcpus",
                    test_concurrent_stop_cont_agree_with_the_vcpus);
    g_test_add_func("/runstate/kvm/switchover-ends-as-the-guest-was",
                    test_switchover_ends_as_the_guest_was);
    return g_test_run();
}
