/*
 * The per-vCPU dirty-rate calculator with a fake source and a fake clock:
 * vCPU-list generation retries, publication, the refcounted thread and
 * its listeners.  No KVM.  The rates themselves: test-dirtyrate-compute.c.
 */
#include "qemu/osdep.h"

#include "sysemu/dirtyrate-stat.h"
#include "test-cases.h"

#define NS_PER_MS 1000000LL
/* Bounded polling for the thread tests: 2000 x 1 ms. */
#define POLL_TRIES 2000
#define POLL_SLEEP_US 1000

/* A fake source: counters, a clock, and a generation that can misbehave. */
typedef struct FakeSource {
    int nr_cpus;
    uint64_t generation;
    uint64_t dirty_pages[DIRTYRATE_STAT_MAX_CPUS];
    int64_t now_ns;
    int64_t tick_ns;            /* the clock advances this much per read */
    int unstable_reads;         /* generation reads that still change */
    bool odd_while_unstable;
    int generation_reads;
    int harvests;
} FakeSource;

static uint64_t fake_generation(void *opaque)
{
    FakeSource *f = opaque;

    f->generation_reads++;
    if (f->unstable_reads > 0) {
        f->unstable_reads--;
        f->generation += f->odd_while_unstable ? 1 : 2;
    }
    return f->generation;
}

static int fake_nr_cpus(void *opaque)
{
    return ((FakeSource *)opaque)->nr_cpus;
}

static uint64_t fake_dirty_pages(void *opaque, int cpu_index)
{
    return __atomic_load_n(&((FakeSource *)opaque)->dirty_pages[cpu_index],
                           __ATOMIC_RELAXED);
}

static int64_t fake_clock_ns(void *opaque)
{
    FakeSource *f = opaque;

    return __atomic_add_fetch(&f->now_ns, f->tick_ns, __ATOMIC_RELAXED);
}

static void fake_harvest(void *opaque)
{
    ((FakeSource *)opaque)->harvests++;
}

static DirtyRateStatSource fake_source_of(FakeSource *f)
{
    return (DirtyRateStatSource) {
        .generation = fake_generation,
        .nr_cpus = fake_nr_cpus,
        .dirty_pages = fake_dirty_pages,
        .clock_ns = fake_clock_ns,
        .harvest = fake_harvest,
        .opaque = f,
    };
}

typedef struct RetryCase {
    const char *what;
    int unstable_reads;
    bool odd;
    bool ok;
} RetryCase;

static const RetryCase retry_cases[] = {
    { "stable list: one try", 0, false, true },
    { "changed once during the read: retried", 1, false, true },
    { "odd (changing) generation: retried", 2, true, true },
    { "changes on every read: gives up", 1000, false, false },
};

static void test_snapshot_retries_on_generation_change(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(retry_cases); i++) {
        const RetryCase *c = &retry_cases[i];
        FakeSource f = { .nr_cpus = 2, .generation = 2, .tick_ns = NS_PER_MS,
                         .unstable_reads = c->unstable_reads,
                         .odd_while_unstable = c->odd };
        DirtyRateStatSource src = fake_source_of(&f);
        DirtyRateStatSnapshot s;

        g_test_message("%s", c->what);
        f.dirty_pages[0] = 5;
        f.dirty_pages[1] = 6;
        g_assert_cmpint(dirtyrate_stat_snapshot(&src, &s), ==, c->ok);
        if (c->ok) {
            g_assert_cmpuint(s.generation % 2, ==, 0);
            g_assert_cmpint(s.nr_cpus, ==, 2);
            g_assert_cmpuint(s.dirty_pages[1], ==, 6);
            g_assert_cmpint(f.harvests, >=, 1);
        }
        g_assert_cmpint(f.generation_reads, <=,
                        2 * DIRTYRATE_STAT_SNAPSHOT_TRIES);
    }
}

static void test_step_publishes_after_one_period(void)
{
    FakeSource f = { .nr_cpus = 2, .generation = 2, .tick_ns = 0 };
    DirtyRateStatSource src = fake_source_of(&f);
    VcpuDirtyStat st;

    dirtyrate_stat_set_source(&src);
    f.now_ns = 1000 * NS_PER_MS;
    dirtyrate_stat_step();                  /* the baseline */
    g_assert_false(dirtyrate_stat_get(0, &st));
    f.now_ns += 100 * NS_PER_MS;
    f.dirty_pages[0] = 2560;                /* 100 MB/s */
    f.dirty_pages[1] = 256;                 /* 10 MB/s */
    dirtyrate_stat_step();
    g_assert_true(dirtyrate_stat_get(0, &st));
    g_assert_cmpuint(st.rate_pages_per_s, ==, 25600);
    g_assert_cmpuint(st.period_ns, ==, 100 * NS_PER_MS);
    g_assert_true(dirtyrate_stat_get(1, &st));
    g_assert_cmpuint(st.rate_pages_per_s, ==, 2560);
    g_assert_false(dirtyrate_stat_get(2, &st));
    g_assert_false(dirtyrate_stat_get(-1, &st));
    g_assert_false(dirtyrate_stat_get(DIRTYRATE_STAT_MAX_CPUS, &st));

    /* The clock did not move: nothing new is published. */
    dirtyrate_stat_step();
    g_assert_true(dirtyrate_stat_get(0, &st));
    g_assert_cmpuint(st.rate_pages_per_s, ==, 25600);
    dirtyrate_stat_set_source(NULL);
}

static void test_new_vcpu_list_resets_the_baseline(void)
{
    FakeSource f = { .nr_cpus = 1, .generation = 2, .tick_ns = 0 };
    DirtyRateStatSource src = fake_source_of(&f);
    VcpuDirtyStat st;

    dirtyrate_stat_set_source(&src);
    f.now_ns = NS_PER_MS;
    dirtyrate_stat_step();
    f.now_ns += 100 * NS_PER_MS;
    f.dirty_pages[0] = 100;
    dirtyrate_stat_step();
    g_assert_true(dirtyrate_stat_get(0, &st));

    /* A vCPU is plugged: its counter and the others' are a new baseline. */
    f.generation = 4;
    f.nr_cpus = 2;
    f.dirty_pages[1] = 1000000;
    f.now_ns += 100 * NS_PER_MS;
    dirtyrate_stat_step();
    g_assert_false(dirtyrate_stat_get(0, &st));
    g_assert_false(dirtyrate_stat_get(1, &st));
    f.now_ns += 100 * NS_PER_MS;
    f.dirty_pages[1] += 256;
    dirtyrate_stat_step();
    g_assert_true(dirtyrate_stat_get(1, &st));
    g_assert_cmpuint(st.rate_pages_per_s, ==, 2560);
    dirtyrate_stat_set_source(NULL);
}

typedef struct ListenerCount {
    int calls;                  /* (atomic) */
    GThread *seen_on;           /* (atomic) */
} ListenerCount;

static void count_listener(void *opaque)
{
    ListenerCount *c = opaque;

    __atomic_store_n(&c->seen_on, g_thread_self(), __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
}

static bool poll_until_calls(ListenerCount *c, int calls)
{
    for (int i = 0; i < POLL_TRIES; i++) {
        if (__atomic_load_n(&c->calls, __ATOMIC_RELAXED) >= calls) {
            return true;
        }
        g_usleep(POLL_SLEEP_US);
    }
    return false;
}

static void test_thread_is_refcounted_and_calls_listeners(void)
{
    FakeSource f = { .nr_cpus = 1, .generation = 2, .tick_ns = NS_PER_MS };
    DirtyRateStatSource src = fake_source_of(&f);
    ListenerCount c = { 0 };
    VcpuDirtyStat st;
    int calls;

    dirtyrate_stat_set_source(&src);
    dirtyrate_stat_set_period_ms(1);
    g_assert_cmpuint(dirtyrate_stat_period_ms(), ==, 1);
    dirtyrate_stat_add_listener(count_listener, &c);
    g_assert_false(dirtyrate_stat_running());
    g_assert_true(dirtyrate_stat_start(NULL));
    g_assert_true(dirtyrate_stat_start(NULL));
    g_assert_true(poll_until_calls(&c, 3));
    g_assert_true(__atomic_load_n(&c.seen_on, __ATOMIC_RELAXED) !=
                  g_thread_self());
    g_assert_true(dirtyrate_stat_get(0, &st));

    dirtyrate_stat_stop();                  /* one user left */
    g_assert_true(dirtyrate_stat_running());
    calls = __atomic_load_n(&c.calls, __ATOMIC_RELAXED);
    g_assert_true(poll_until_calls(&c, calls + 2));

    dirtyrate_stat_remove_listener(count_listener, &c);
    calls = __atomic_load_n(&c.calls, __ATOMIC_RELAXED);
    g_usleep(5 * POLL_SLEEP_US);
    g_assert_cmpint(__atomic_load_n(&c.calls, __ATOMIC_RELAXED), ==, calls);

    dirtyrate_stat_stop();
    g_assert_false(dirtyrate_stat_running());
    dirtyrate_stat_stop();                  /* one too many: harmless */
    g_assert_false(dirtyrate_stat_running());

    /* Restart: a fresh run reports nothing stale. */
    g_assert_true(dirtyrate_stat_start(NULL));
    dirtyrate_stat_cleanup();
    g_assert_false(dirtyrate_stat_running());
    g_assert_false(dirtyrate_stat_get(0, &st));
    dirtyrate_stat_set_period_ms(0);        /* clamped */
    g_assert_cmpuint(dirtyrate_stat_period_ms(), ==,
                     DIRTYRATE_STAT_MIN_PERIOD_MS);
    dirtyrate_stat_set_period_ms(DIRTYRATE_STAT_DEFAULT_PERIOD_MS);
    dirtyrate_stat_set_source(NULL);
}

#define TORN_MIN_STEPS 20000
#define TORN_MAX_STEPS 5000000
#define TORN_MIN_READS 100000

/* Each step n publishes pages = n * 1000 at n seconds: a torn read shows. */
typedef struct TornCheck {
    bool stop;                  /* (atomic) */
    uint64_t reads;
    uint64_t torn;
} TornCheck;

static gpointer torn_reader(gpointer opaque)
{
    TornCheck *t = opaque;
    VcpuDirtyStat st;

    while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
        if (dirtyrate_stat_get(0, &st)) {
            __atomic_fetch_add(&t->reads, 1, __ATOMIC_RELAXED);
            if ((uint64_t)st.measured_ns / 1000000 != st.dirty_pages ||
                st.rate_pages_per_s != 1000) {
                t->torn++;
            }
        }
    }
    return NULL;
}

static void test_readers_never_see_a_torn_sample(void)
{
    FakeSource f = { .nr_cpus = 1, .generation = 2, .tick_ns = 0 };
    DirtyRateStatSource src = fake_source_of(&f);
    TornCheck t = { 0 };
    GThread *reader;

    dirtyrate_stat_set_source(&src);
    dirtyrate_stat_step();
    reader = g_thread_new("torn-reader", torn_reader, &t);
    /* Until the reader has raced with us enough (bounded). */
    for (int n = 1; n <= TORN_MAX_STEPS &&
         (n <= TORN_MIN_STEPS ||
          __atomic_load_n(&t.reads, __ATOMIC_RELAXED) < TORN_MIN_READS);
         n++) {
        __atomic_store_n(&f.dirty_pages[0], (uint64_t)n * 1000,
                         __ATOMIC_RELAXED);
        f.now_ns = (int64_t)n * NANOSECONDS_PER_SECOND;
        dirtyrate_stat_step();
    }
    __atomic_store_n(&t.stop, true, __ATOMIC_RELEASE);
    g_thread_join(reader);
    g_test_message("reads %" PRIu64 ", torn %" PRIu64, t.reads, t.torn);
    g_assert_cmpuint(t.torn, ==, 0);
    g_assert_cmpuint(t.reads, >, 0);
    dirtyrate_stat_set_source(NULL);
}

static const TestCase cases[] = {
    { "snapshot-retries-on-generation-change",
      test_snapshot_retries_on_generation_change },
    { "step-publishes-after-one-period", test_step_publishes_after_one_period },
    { "new-vcpu-list-resets-the-baseline",
      test_new_vcpu_list_resets_the_baseline },
    { "thread-is-refcounted-and-calls-listeners",
      test_thread_is_refcounted_and_calls_listeners },
    { "readers-never-see-a-torn-sample", test_readers_never_see_a_torn_sample },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return test_run_cases(&argc, &argv, "/dirtyrate-stat/", cases);
}
