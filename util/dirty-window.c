/*
 * Distinct pages per window (include/qemu/dirty-window.h).
 *
 *   harvest (slots lock)                      any thread, no lock
 *   --------------------                      -------------------
 *   advance(now): epoch = now / window + 1    total(): acquire total_pages
 *     a new epoch: report the old window      seen(page): acquire chunk,
 *     (seqcount), window_pages = 0              its epoch == current?
 *   add(page): chunk of an older epoch?          then its bit (bank
 *     clear the stale bank(s), stamp it          epoch % 2)
 *     (release)                               seen_prev(page): chunk's
 *     bit clear? set it, window_pages++,        epoch == current or the
 *     total_pages++ (release), and if the       one before? bank
 *     other bank has it, carried_pages++        (current - 1) % 2
 *     (release)                               last(): seqcount read
 */
#include "qemu/osdep.h"

#include "qemu/atomic.h"
#include "qemu/dirty-window.h"

DirtyWindow *dirty_window_new(uint64_t nr_pages, int64_t window_ns)
{
    DirtyWindow *w = g_new0(DirtyWindow, 1);

    assert(window_ns > 0);
    w->nr_pages = nr_pages;
    w->window_ns = window_ns;
    w->nr_chunks = DIV_ROUND_UP(nr_pages, DIRTY_WINDOW_CHUNK_PAGES);
    /* The chunk table too waits for the first page: idle vCPUs are free. */
    return w;
}

void dirty_window_free(DirtyWindow *w)
{
    if (!w) {
        return;
    }
    for (uint64_t c = 0; w->chunks && c < w->nr_chunks; c++) {
        g_free(w->chunks[c]);
    }
    g_free(w->chunks);
    g_free(w);
}

/*
 * The last window, published with a seqcount and no fences (as
 * softmmu/dirtyrate-stat.c does): the writer makes the count odd, then
 * stores each field with release (ordered after the odd count), then
 * makes it even (release); the reader loads the count (acquire), each
 * field (acquire: a field of the next write makes the second count load
 * see the change), and the count again.
 */
static void dirty_window_report(DirtyWindow *w, uint64_t pages,
                                int64_t start_ns)
{
    uint32_t seq = w->last_seq;

    qatomic_set(&w->last_seq, seq + 1);
    qatomic_store_release(&w->last.pages, pages);
    qatomic_store_release(&w->last.start_ns, start_ns);
    qatomic_store_release(&w->last.end_ns, start_ns + w->window_ns);
    qatomic_store_release(&w->last_seq, seq + 2);
}

bool dirty_window_advance(DirtyWindow *w, int64_t now_ns)
{
    uint64_t epoch = (uint64_t)(MAX(now_ns, 0) / w->window_ns) + 1;
    uint64_t old = w->epoch;

    if (epoch <= old) {
        return false;
    }
    if (old) {
        /*
         * The window before this one: its pages if it was the current
         * one, none if no harvest looked at it.
         */
        uint64_t pages = epoch == old + 1 ? w->window_pages : 0;

        dirty_window_report(w, pages, (int64_t)(epoch - 2) * w->window_ns);
    }
    qatomic_set(&w->window_pages, 0);
    /* Chunks stamped with an older epoch now read as empty. */
    qatomic_store_release(&w->epoch, epoch);
    return old != 0;
}

static void dirty_window_clear_bank(DirtyWindowChunk *ch, uint64_t bank)
{
    for (uint64_t i = 0; i < DIRTY_WINDOW_CHUNK_WORDS; i++) {
        qatomic_set(&ch->words[bank][i], 0);
    }
}

/* The chunk of @page for this window: allocated, or updated and stamped. */
static DirtyWindowChunk *dirty_window_chunk(DirtyWindow *w, uint64_t page)
{
    uint64_t c = page >> DIRTY_WINDOW_CHUNK_SHIFT;
    DirtyWindowChunk *ch;

    if (!w->chunks) {
        qatomic_store_release(&w->chunks,
                              g_new0(DirtyWindowChunk *, w->nr_chunks));
    }
    ch = qatomic_read(&w->chunks[c]);
    if (!ch) {
        ch = g_new0(DirtyWindowChunk, 1);
        ch->epoch = w->epoch;
        qatomic_store_release(&w->chunks[c], ch);
    } else if (qatomic_read(&ch->epoch) != w->epoch) {
        /*
         * Bank epoch % 2 holds an older window: clear it.  The other
         * bank is the previous window's if the chunk was last used then
         * (it is that window's bank), else stale: clear it too (and
         * epoch 0, before the first advance, is no window to carry
         * from).
         * Readers see the old stamp until the release below, so they
         * take this window's bank as empty meanwhile and test the
         * previous window in the bank left alone (an undercount, never
         * an overcount).
         */
        uint64_t stamp = qatomic_read(&ch->epoch);
        bool prev_stale = !stamp || stamp + 1 != w->epoch;

        dirty_window_clear_bank(ch, w->epoch % 2);
        if (prev_stale) {
            dirty_window_clear_bank(ch, (w->epoch + 1) % 2);
        }
        qatomic_store_release(&ch->epoch, w->epoch);
    }
    return ch;
}

bool dirty_window_add(DirtyWindow *w, uint64_t page)
{
    DirtyWindowChunk *ch;
    uint64_t *word, bit, bits, i;

    if (page >= w->nr_pages) {
        return false;
    }
    ch = dirty_window_chunk(w, page);
    i = (page % DIRTY_WINDOW_CHUNK_PAGES) / 64;
    word = &ch->words[w->epoch % 2][i];
    bit = UINT64_C(1) << (page % 64);
    bits = qatomic_read(word);
    if (bits & bit) {
        return false;
    }
    /* One writer: a plain read-modify-write of atomic accesses. */
    qatomic_set(word, bits | bit);
    qatomic_set(&w->window_pages, w->window_pages + 1);
    /* The bit is visible to whoever sees the total that includes it. */
    qatomic_store_release(&w->total_pages, w->total_pages + 1);
    /*
     * After the total: a reader that loads carried first and the total
     * second sees the total of every carried page it counted.
     */
    if (qatomic_read(&ch->words[(w->epoch + 1) % 2][i]) & bit) {
        qatomic_store_release(&w->carried_pages, w->carried_pages + 1);
    }
    return true;
}

uint64_t dirty_window_total(const DirtyWindow *w)
{
    return qatomic_load_acquire(&w->total_pages);
}

uint64_t dirty_window_carried(const DirtyWindow *w)
{
    return qatomic_load_acquire(&w->carried_pages);
}

/*
 * @page's bit for window @epoch, if its chunk still holds that window:
 * the chunk's own window, or (@prev) the one before it.
 */
static bool dirty_window_test(const DirtyWindow *w, uint64_t page,
                              uint64_t epoch, bool prev)
{
    DirtyWindowChunk **chunks = qatomic_load_acquire(&w->chunks);
    DirtyWindowChunk *ch;
    uint64_t stamp, bits;

    if (page >= w->nr_pages || !chunks) {
        return false;
    }
    ch = qatomic_load_acquire(&chunks[page >> DIRTY_WINDOW_CHUNK_SHIFT]);
    if (!ch) {
        return false;
    }
    stamp = qatomic_load_acquire(&ch->epoch);
    if (stamp != epoch && !(prev && stamp == epoch + 1)) {
        return false;
    }
    bits = qatomic_read(&ch->words[epoch % 2]
                                  [(page % DIRTY_WINDOW_CHUNK_PAGES) / 64]);
    return bits & (UINT64_C(1) << (page % 64));
}

bool dirty_window_seen(const DirtyWindow *w, uint64_t page)
{
    return dirty_window_test(w, page, qatomic_load_acquire(&w->epoch), false);
}

/*
 * A reader racing with an advance may read a bit of the window after
 * the one it tests (the bank is reused two windows on): it then takes a
 * new page as carried.  Only the dirty ring's peek asks, and a page
 * taken as carried is charged later in the same window, not less.
 */
bool dirty_window_seen_prev(const DirtyWindow *w, uint64_t page)
{
    uint64_t epoch = qatomic_load_acquire(&w->epoch);

    /* Epoch 0 is the long window before the first advance: none before. */
    return epoch > 1 && dirty_window_test(w, page, epoch - 1, true);
}

bool dirty_window_last(const DirtyWindow *w, DirtyWindowReport *out)
{
    uint32_t seq;

    do {
        seq = qatomic_load_acquire(&w->last_seq);
        out->pages = qatomic_load_acquire(&w->last.pages);
        out->start_ns = qatomic_load_acquire(&w->last.start_ns);
        out->end_ns = qatomic_load_acquire(&w->last.end_ns);
    } while ((seq & 1) || seq != qatomic_read(&w->last_seq));
    return seq != 0;
}

uint64_t dirty_window_bytes(const DirtyWindow *w)
{
    DirtyWindowChunk **chunks = qatomic_load_acquire(&w->chunks);
    uint64_t bytes = sizeof(*w);

    if (!chunks) {
        return bytes;
    }
    bytes += w->nr_chunks * sizeof(chunks[0]);
    for (uint64_t c = 0; c < w->nr_chunks; c++) {
        if (qatomic_load_acquire(&chunks[c])) {
            bytes += sizeof(DirtyWindowChunk);
        }
    }
    return bytes;
}
