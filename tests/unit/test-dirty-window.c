/*
 * Distinct pages per window (util/dirty-window.c), on a fake clock: a
 * rewritten page counts once per window, windows line up with the
 * clock, the last complete window is reported, readers never
 * overcount while a writer runs, and the cost per page and the memory
 * per vCPU are printed.
 */
#include "qemu/osdep.h"

#include "qemu/atomic.h"
#include "qemu/dirty-window.h"

#define WINDOW_NS DIRTY_WINDOW_DEFAULT_NS
/* 4 GiB of 4 KiB pages. */
#define TEST_PAGES (UINT64_C(1) << 20)
/* A 2 MiB hot set. */
#define HOT_PAGES 512
/* A harvest every 10 ms, as the reaper's. */
#define HARVEST_NS 10000000LL

static void test_a_rewritten_page_counts_once_per_window(void)
{
    DirtyWindow *w = dirty_window_new(TEST_PAGES, WINDOW_NS);
    DirtyWindowReport r;
    int64_t now_ns = 5 * WINDOW_NS;

    g_assert_false(dirty_window_last(w, &r));
    /* Two windows of a hot set rewritten at every harvest. */
    for (int h = 0; h < 2 * WINDOW_NS / HARVEST_NS; h++) {
        dirty_window_advance(w, now_ns + h * HARVEST_NS);
        for (uint64_t p = 0; p < HOT_PAGES; p++) {
            bool added = dirty_window_add(w, 1000 + p);

            /* New only at the first harvest of each window. */
            g_assert_cmpint(added, ==, h % (WINDOW_NS / HARVEST_NS) == 0);
        }
    }
    g_assert_cmpuint(dirty_window_total(w), ==, 2 * HOT_PAGES);
    g_assert_true(dirty_window_seen(w, 1000));
    g_assert_false(dirty_window_seen(w, 999));
    g_assert_true(dirty_window_last(w, &r));
    g_assert_cmpuint(r.pages, ==, HOT_PAGES);
    g_assert_cmpint(r.start_ns, ==, 5 * WINDOW_NS);
    g_assert_cmpint(r.end_ns, ==, 6 * WINDOW_NS);
    dirty_window_free(w);
}

static void test_windows_line_up_with_the_clock(void)
{
    DirtyWindow *w = dirty_window_new(TEST_PAGES, WINDOW_NS);
    DirtyWindowReport r;

    /* Mid-window start: the window is [7 s, 8 s), not [7.4 s, 8.4 s). */
    g_assert_false(dirty_window_advance(w, 7 * WINDOW_NS + 400000000LL));
    g_assert_true(dirty_window_add(w, 1));
    g_assert_false(dirty_window_advance(w, 7 * WINDOW_NS + 999999999LL));
    g_assert_false(dirty_window_add(w, 1));
    g_assert_false(dirty_window_last(w, &r));
    g_assert_true(dirty_window_advance(w, 8 * WINDOW_NS));
    g_assert_false(dirty_window_seen(w, 1));
    g_assert_true(dirty_window_add(w, 1));
    g_assert_true(dirty_window_last(w, &r));
    g_assert_cmpuint(r.pages, ==, 1);
    g_assert_cmpint(r.start_ns, ==, 7 * WINDOW_NS);
    /* A time in an older window changes nothing. */
    dirty_window_advance(w, 7 * WINDOW_NS);
    g_assert_false(dirty_window_add(w, 1));
    /* Windows no harvest looked at: the last one reads as empty. */
    dirty_window_advance(w, 11 * WINDOW_NS + 5);
    g_assert_true(dirty_window_last(w, &r));
    g_assert_cmpuint(r.pages, ==, 0);
    g_assert_cmpint(r.start_ns, ==, 10 * WINDOW_NS);
    g_assert_cmpuint(dirty_window_total(w), ==, 2);
    dirty_window_free(w);
}

static void test_a_sequential_writer_counts_every_page(void)
{
    DirtyWindow *w = dirty_window_new(TEST_PAGES, WINDOW_NS);
    DirtyWindowReport r;
    uint64_t page = 0;
    /* 50 MB/s = 12800 pages/s: 128 new pages per harvest. */
    const uint64_t per_harvest = 128;

    for (int h = 0; h < 3 * WINDOW_NS / HARVEST_NS; h++) {
        dirty_window_advance(w, h * HARVEST_NS);
        for (uint64_t i = 0; i < per_harvest; i++) {
            g_assert_true(dirty_window_add(w, page++));
        }
    }
    dirty_window_advance(w, 3 * WINDOW_NS);
    g_assert_true(dirty_window_last(w, &r));
    g_assert_cmpuint(r.pages, ==, 100 * per_harvest);
    g_assert_cmpuint(dirty_window_total(w), ==, page);
    dirty_window_free(w);
}

/*
 * A page dirtied in window n and again in n + 1 is carried; in n and
 * n + 2 it is not, nor in n + 1 when its chunk was not used in n.
 */
static void test_carried_pages_are_the_previous_windows(void)
{
    DirtyWindow *w = dirty_window_new(TEST_PAGES, WINDOW_NS);
    uint64_t other = 3 * DIRTY_WINDOW_CHUNK_PAGES + 5;
    int64_t n = 7 * WINDOW_NS;

    /* Before the first advance: no window to carry from. */
    dirty_window_add(w, 1);
    dirty_window_advance(w, n);
    g_assert_true(dirty_window_add(w, 1));
    g_assert_cmpuint(dirty_window_carried(w), ==, 0);
    g_assert_true(dirty_window_add(w, 2));
    g_assert_true(dirty_window_add(w, other));
    g_assert_false(dirty_window_seen_prev(w, 1));

    /* Window n + 1: pages 1 and 2 again, 3 new; the other chunk idle. */
    dirty_window_advance(w, n + WINDOW_NS + 1);
    g_assert_true(dirty_window_seen_prev(w, 1));
    g_assert_true(dirty_window_seen_prev(w, other));
    g_assert_false(dirty_window_seen_prev(w, 3));
    g_assert_true(dirty_window_add(w, 1));
    g_assert_true(dirty_window_add(w, 2));
    g_assert_false(dirty_window_add(w, 2));
    g_assert_true(dirty_window_add(w, 3));
    g_assert_cmpuint(dirty_window_carried(w), ==, 2);
    g_assert_cmpuint(dirty_window_total(w), ==, 7);
    /* Still the previous window's, now in the chunk's other bank. */
    g_assert_true(dirty_window_seen_prev(w, 1));
    g_assert_false(dirty_window_seen_prev(w, 3));

    /* Window n + 2: page 3 carried; the other chunk skipped n + 1. */
    dirty_window_advance(w, n + 2 * WINDOW_NS);
    g_assert_true(dirty_window_seen_prev(w, 3));
    g_assert_false(dirty_window_seen_prev(w, other));
    g_assert_true(dirty_window_add(w, 3));
    g_assert_true(dirty_window_add(w, other));
    g_assert_cmpuint(dirty_window_carried(w), ==, 3);

    /* Window n + 4: n + 3 had nothing, so nothing is carried. */
    dirty_window_advance(w, n + 4 * WINDOW_NS);
    g_assert_false(dirty_window_seen_prev(w, 3));
    g_assert_true(dirty_window_add(w, 3));
    g_assert_true(dirty_window_add(w, other));
    g_assert_cmpuint(dirty_window_carried(w), ==, 3);
    g_assert_cmpuint(dirty_window_total(w), ==, 11);
    dirty_window_free(w);
}

/* A hot set rewritten every harvest: carried in full from window two. */
static void test_a_hot_set_is_carried_every_window(void)
{
    DirtyWindow *w = dirty_window_new(TEST_PAGES, WINDOW_NS);
    int64_t now_ns = 5 * WINDOW_NS;

    for (int h = 0; h < 3 * WINDOW_NS / HARVEST_NS; h++) {
        dirty_window_advance(w, now_ns + h * HARVEST_NS);
        for (uint64_t p = 0; p < HOT_PAGES; p++) {
            dirty_window_add(w, 1000 + p);
        }
    }
    g_assert_cmpuint(dirty_window_total(w), ==, 3 * HOT_PAGES);
    g_assert_cmpuint(dirty_window_carried(w), ==, 2 * HOT_PAGES);
    dirty_window_free(w);
}

static void test_pages_outside_the_set_are_ignored(void)
{
    DirtyWindow *w = dirty_window_new(100, WINDOW_NS);

    g_assert_false(dirty_window_add(w, 100));
    g_assert_false(dirty_window_seen(w, 100));
    g_assert_true(dirty_window_add(w, 99));
    g_assert_cmpuint(dirty_window_total(w), ==, 1);
    dirty_window_free(w);
    dirty_window_free(NULL);
}

static void test_memory_grows_with_what_the_vcpu_touched(void)
{
    /* A 64 GiB guest. */
    DirtyWindow *w = dirty_window_new(UINT64_C(16) << 20, WINDOW_NS);
    uint64_t idle = dirty_window_bytes(w), hot, all;

    g_assert_cmpuint(idle, ==, sizeof(*w));
    for (uint64_t p = 0; p < HOT_PAGES; p++) {
        dirty_window_add(w, p);
    }
    hot = dirty_window_bytes(w);
    g_assert_cmpuint(hot - idle, ==, sizeof(DirtyWindowChunk) +
                     w->nr_chunks * sizeof(w->chunks[0]));
    for (uint64_t p = 0; p < w->nr_pages; p += DIRTY_WINDOW_CHUNK_PAGES) {
        dirty_window_add(w, p);
    }
    all = dirty_window_bytes(w);
    /* Two bits per page of RAM at most, plus the table. */
    g_assert_cmpuint(all, <=, w->nr_pages / 4 + idle +
                     w->nr_chunks * (sizeof(uint64_t) + sizeof(w->chunks[0])));
    g_test_message("64 GiB guest: idle vCPU %" PRIu64 " B, 2 MiB hot set "
                   "%" PRIu64 " B, every chunk %" PRIu64 " KiB",
                   idle, hot, all / 1024);
    dirty_window_free(w);
}

/* The cost per harvested page, printed: hot set and sequential. */
static void test_cost_per_page_is_printed(void)
{
    DirtyWindow *w = dirty_window_new(TEST_PAGES, WINDOW_NS);
    const uint64_t n = 4 * 1000 * 1000;
    uint64_t added = 0;
    gint64 t0, t1, t2;

    t0 = g_get_monotonic_time();
    for (uint64_t i = 0; i < n; i++) {
        added += dirty_window_add(w, i % HOT_PAGES);
    }
    t1 = g_get_monotonic_time();
    for (uint64_t i = 0; i < n; i++) {
        if (i % HOT_PAGES == 0) {
            dirty_window_advance(w, (int64_t)(i / HOT_PAGES) * WINDOW_NS);
        }
        added += dirty_window_add(w, (i * 7) % TEST_PAGES);
    }
    t2 = g_get_monotonic_time();
    g_assert_cmpuint(added, >, HOT_PAGES);
    g_test_message("per harvested page: rewritten %.1f ns, new %.1f ns "
                   "(with a window change every %d pages)",
                   (t1 - t0) * 1000.0 / n, (t2 - t1) * 1000.0 / n,
                   HOT_PAGES);
    dirty_window_free(w);
}

/*
 * A writer and a reader at once: the reader's count of (total + pages
 * not yet seen of the ones about to be added) never exceeds what the
 * writer ends with.  Run under ThreadSanitizer, it also proves the
 * accesses are race-free.
 */
typedef struct RaceState {
    DirtyWindow *w;
    bool stop;
    uint64_t max_seen_total;
    uint64_t max_seen_carried;
} RaceState;

static gpointer race_reader(gpointer opaque)
{
    RaceState *s = opaque;

    while (!qatomic_load_acquire(&s->stop)) {
        /* Carried first: then never more carried than total. */
        uint64_t carried = dirty_window_carried(s->w);
        uint64_t t = dirty_window_total(s->w);
        DirtyWindowReport r;

        g_assert_cmpuint(carried, <=, t);
        g_assert_cmpuint(carried, >=, s->max_seen_carried);
        s->max_seen_carried = carried;
        for (uint64_t p = 0; p < 64; p++) {
            dirty_window_seen(s->w, p * 4099);
            dirty_window_seen_prev(s->w, p * 4099);
        }
        dirty_window_last(s->w, &r);
        g_assert_cmpuint(r.pages, <=, 96);
        g_assert_cmpuint(t, >=, s->max_seen_total);
        s->max_seen_total = t;
    }
    return NULL;
}

static void test_readers_race_the_writer_safely(void)
{
    RaceState s = { .w = dirty_window_new(TEST_PAGES, 1000) };
    GThread *reader = g_thread_new("reader", race_reader, &s);
    uint64_t expect = 0, expect_carried = 0;

    for (int64_t epoch = 0; epoch < 20000; epoch++) {
        dirty_window_advance(s.w, epoch * 1000);
        for (uint64_t p = 0; p < 64; p++) {
            expect += dirty_window_add(s.w, ((p + epoch) % 64) * 4099);
            dirty_window_add(s.w, ((p + epoch) % 64) * 4099);
        }
        /* Every other window, 32 pages no other window has. */
        for (uint64_t p = 0; epoch % 2 && p < 32; p++) {
            expect += dirty_window_add(s.w, 64 * 4099 + p);
        }
        /* The 64 are carried from the second window on; the 32 never. */
        expect_carried += epoch ? 64 : 0;
    }
    qatomic_store_release(&s.stop, true);
    g_thread_join(reader);
    g_assert_cmpuint(expect, ==, 20000 * 64 + 10000 * 32);
    g_assert_cmpuint(dirty_window_total(s.w), ==, expect);
    g_assert_cmpuint(s.max_seen_total, <=, expect);
    g_assert_cmpuint(dirty_window_carried(s.w), ==, expect_carried);
    g_assert_cmpuint(s.max_seen_carried, <=, expect_carried);
    dirty_window_free(s.w);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-window/a-rewritten-page-counts-once-per-window",
                    test_a_rewritten_page_counts_once_per_window);
    g_test_add_func("/dirty-window/windows-line-up-with-the-clock",
                    test_windows_line_up_with_the_clock);
    g_test_add_func("/dirty-window/a-sequential-writer-counts-every-page",
                    test_a_sequential_writer_counts_every_page);
    g_test_add_func("/dirty-window/carried-pages-are-the-previous-windows",
                    test_carried_pages_are_the_previous_windows);
    g_test_add_func("/dirty-window/a-hot-set-is-carried-every-window",
                    test_a_hot_set_is_carried_every_window);
    g_test_add_func("/dirty-window/pages-outside-the-set-are-ignored",
                    test_pages_outside_the_set_are_ignored);
    g_test_add_func("/dirty-window/memory-grows-with-what-the-vcpu-touched",
                    test_memory_grows_with_what_the_vcpu_touched);
    g_test_add_func("/dirty-window/cost-per-page-is-printed",
                    test_cost_per_page_is_printed);
    g_test_add_func("/dirty-window/readers-race-the-writer-safely",
                    test_readers_race_the_writer_safely);
    return g_test_run();
}
