/*
 * The live view: the subsystem at work, once a second, on stdout.
 *
 * On a terminal the view owns the last few lines of the screen.  A
 * scrolling region (DECSTBM) covers the lines above it, so HMP on stdio
 * scrolls there undisturbed, and each redraw saves and restores the
 * cursor (DECSC/DECRC): whatever the user is typing stays where it is.
 *
 *   +--------------------------------------------+
 *   | (restraint) info status                    |  scrolling region:
 *   | VM status: running                         |  HMP, messages
 *   | (restraint) _                              |
 *   +--------------------------------------------+
 *   | restraint live view ...                    |  the view, redrawn
 *   | vCPU workload measured  guest w  ... quota |  from monitor/
 *   |    0 write       612.0    618.3 ...     -  |  live-stats.c's
 *   | migration: none                            |  samples
 *   +--------------------------------------------+
 *
 * Elsewhere (a pipe, a file) the view is off unless asked for with
 * -x-live on or HMP x_live on; it then prints plain lines.
 */
#include "qemu/osdep.h"

#include <sys/ioctl.h>

#include "monitor/hmp.h"
#include "monitor/live-stats.h"
#include "monitor/live-view.h"
#include "qapi/qapi-commands.h"
#include "sysemu/memory.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

/* Title, column heads, migration: the lines besides one per vCPU. */
#define LIVE_VIEW_FIXED_LINES 3
/* The view takes at most half the screen; HMP needs the rest. */
#define LIVE_VIEW_MAX_SCREEN_SHARE 2
/* Below this many lines for HMP the view is not drawn at all. */
#define LIVE_VIEW_MIN_HMP_LINES 4
/* Off a terminal, vCPU lines per sample: a log stays readable at 1024. */
#define LIVE_VIEW_PLAIN_MAX_VCPUS 32

/* ANSI/VT100 control sequences. */
#define ESC_SAVE_CURSOR     "\0337"
#define ESC_RESTORE_CURSOR  "\0338"
#define ESC_CLEAR_TO_EOL    "\033[K"
#define ESC_CLEAR_TO_EOS    "\033[J"
#define ESC_RESET_REGION    "\033[r"
#define ESC_BOLD            "\033[1m"
#define ESC_NORMAL          "\033[0m"

typedef struct LiveView {
    bool started;           /* live_stats reference held */
    bool on;
    bool terminal;          /* stdout is a terminal: draw in place */
    int rows;               /* screen size the region was set for */
    int cols;
    int view_lines;         /* lines reserved, 0 = no region set */
} LiveView;

static LiveView lv;

bool live_view_parse_mode(const char *str, LiveViewMode *mode)
{
    if (!strcmp(str, "on")) {
        *mode = LIVE_VIEW_ON;
    } else if (!strcmp(str, "off")) {
        *mode = LIVE_VIEW_OFF;
    } else if (!strcmp(str, "auto")) {
        *mode = LIVE_VIEW_AUTO;
    } else {
        return false;
    }
    return true;
}

static bool live_view_term_size(int *rows, int *cols)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_row ||
        !ws.ws_col) {
        return false;
    }
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return true;
}

/* MB/s, MB = 2^20 bytes, or "-" when unknown. */
static void live_view_append_rate(GString *s, int width, bool known,
                                  double bytes_per_s)
{
    if (known) {
        g_string_append_printf(s, "%*.1f", width, bytes_per_s / MiB);
    } else {
        g_string_append_printf(s, "%*s", width, "-");
    }
}

static char *live_view_vcpu_line(const LiveVcpuStats *v)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "%4d  %-8s", v->cpu_index, v->workload_kind);
    live_view_append_rate(s, 14, v->has_measured, v->measured_bytes_per_s);
    live_view_append_rate(s, 14, v->has_guest, v->guest_write_bytes_per_s);
    live_view_append_rate(s, 14, v->has_guest, v->guest_read_bytes_per_s);
    if (v->quota_mbps) {
        g_string_append_printf(s, "%12" PRIu64, v->quota_mbps);
    } else {
        g_string_append_printf(s, "%12s", "-");
    }
    g_string_append_printf(s, "%9.0f%%", v->sleep_share * 100);
    return g_string_free(s, FALSE);
}

static char *live_view_migration_line(void)
{
    g_autoptr(MigrationInfo) info = NULL;
    GString *s = g_string_new("migration: ");

    vm_lock();
    info = qmp_query_migrate(NULL);
    vm_unlock();
    if (!info || !info->has_status) {
        g_string_append(s, "none");
        return g_string_free(s, FALSE);
    }
    g_string_append(s, MigrationStatus_str(info->status));
    if (info->ram) {
        g_string_append_printf(s, ", pass %" PRId64 ", remaining %.1f MiB, "
                               "%.0f Mbit/s",
                               info->ram->dirty_sync_count,
                               (double)info->ram->remaining / MiB,
                               info->ram->mbps);
    }
    if (info->has_cpu_throttle_percentage) {
        g_string_append_printf(s, ", cpu throttle %" PRId64 "%%",
                               info->cpu_throttle_percentage);
    }
    if (info->has_downtime) {
        g_string_append_printf(s, ", downtime %" PRId64 " ms",
                               info->downtime);
    }
    return g_string_free(s, FALSE);
}

static const char *live_view_heading =
    "vCPU  workload  measured MB/s  guest wr MB/s  guest rd MB/s"
    "  quota MB/s  asleep";

/* How much a vCPU deserves a line: limited first, then the busiest. */
static double live_view_activity(const LiveVcpuStats *v)
{
    double bytes_per_s = MAX(v->has_measured ? v->measured_bytes_per_s : 0,
                             v->has_guest ? MAX(v->guest_write_bytes_per_s,
                                                v->guest_read_bytes_per_s)
                                          : 0);

    return v->quota_mbps ? G_MAXDOUBLE : bytes_per_s;
}

static int live_view_cmp_activity(gconstpointer a, gconstpointer b,
                                  gpointer opaque)
{
    const LiveStats *st = opaque;
    int i = *(const int *)a, j = *(const int *)b;
    double x = live_view_activity(&st->vcpu[i]);
    double y = live_view_activity(&st->vcpu[j]);

    return x > y ? -1 : x < y ? 1 : i - j;
}

static int live_view_cmp_index(gconstpointer a, gconstpointer b)
{
    return *(const int *)a - *(const int *)b;
}

/*
 * Which vCPUs get a line when @shown < nr_cpus: the limited ones, then the
 * busiest, listed in index order.  Fills @picked; the idle count it
 * leaves out goes to *@idle_left.
 */
static void live_view_pick(const LiveStats *st, int shown, int *picked,
                           int *idle_left)
{
    g_autofree int *order = g_new(int, st->nr_cpus);

    for (int i = 0; i < st->nr_cpus; i++) {
        order[i] = i;
    }
    g_qsort_with_data(order, st->nr_cpus, sizeof(int),
                      live_view_cmp_activity, (gpointer)st);
    memcpy(picked, order, shown * sizeof(int));
    qsort(picked, shown, sizeof(int), live_view_cmp_index);
    *idle_left = 0;
    for (int k = shown; k < st->nr_cpus; k++) {
        *idle_left += live_view_activity(&st->vcpu[order[k]]) == 0;
    }
}

/*
 * The view's lines: title, heading, one per vCPU shown, migration.  With
 * more vCPUs than @max_vcpus lines, the last line summarises the rest.
 */
static GPtrArray *live_view_lines(const LiveStats *st, int max_vcpus)
{
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    int shown = st->nr_cpus <= max_vcpus ? st->nr_cpus : max_vcpus - 1;
    g_autofree int *picked = g_new(int, MAX(shown, 1));
    int idle_left = 0;

    g_ptr_array_add(lines, g_strdup_printf(
        "restraint live view, every %d s (HMP 'x_live off' hides it)%s",
        LIVE_STATS_PERIOD_MS / 1000,
        st->per_vcpu_rates ? "" :
        "; dirty bitmap: no per-vCPU measurement"));
    g_ptr_array_add(lines, g_strdup(live_view_heading));
    if (shown < st->nr_cpus) {
        live_view_pick(st, shown, picked, &idle_left);
    } else {
        for (int i = 0; i < shown; i++) {
            picked[i] = i;
        }
    }
    for (int i = 0; i < shown; i++) {
        g_ptr_array_add(lines, live_view_vcpu_line(&st->vcpu[picked[i]]));
    }
    if (shown < st->nr_cpus) {
        g_ptr_array_add(lines, g_strdup_printf(
            "  ... %d more vCPUs, %d of them idle; the limited and busiest "
            "are shown (info workload)", st->nr_cpus - shown, idle_left));
    }
    g_ptr_array_add(lines, live_view_migration_line());
    return lines;
}

/* Give the scrolling region back and blank the view's lines. */
static void live_view_release_screen(void)
{
    if (!lv.view_lines) {
        return;
    }
    printf(ESC_SAVE_CURSOR ESC_RESET_REGION "\033[%d;1H" ESC_CLEAR_TO_EOS
           ESC_RESTORE_CURSOR, lv.rows - lv.view_lines + 1);
    fflush(stdout);
    lv.view_lines = 0;
}

/*
 * Reserve @view_lines at the bottom of a @rows-line screen.  New lines
 * first push what is on screen up, so nothing is drawn over; then the
 * cursor goes back up to where it was (or to just above the view).
 */
static void live_view_claim_screen(int rows, int cols, int view_lines)
{
    for (int i = 0; i < view_lines; i++) {
        putchar('\n');
    }
    printf("\033[%dA" ESC_SAVE_CURSOR "\033[1;%dr" ESC_RESTORE_CURSOR,
           view_lines, rows - view_lines);
    lv.rows = rows;
    lv.cols = cols;
    lv.view_lines = view_lines;
    trace_live_view_state(true, rows);
}

/* vCPU lines that fit a @rows-line screen; 0: none, do not draw. */
static int live_view_max_vcpus(int rows)
{
    int max_vcpus = rows / LIVE_VIEW_MAX_SCREEN_SHARE - LIVE_VIEW_FIXED_LINES;

    if (max_vcpus < 1 ||
        rows - LIVE_VIEW_FIXED_LINES - 1 < LIVE_VIEW_MIN_HMP_LINES) {
        return 0;
    }
    return max_vcpus;
}

/*
 * Claim the screen for @nr_cpus vCPUs now.  Done when the view is turned
 * on, before anything else is printed (the banner, the prompt after
 * x_live on), so the cursor is at the start of a line.
 */
static void live_view_claim_for(int nr_cpus)
{
    int rows, cols, max_vcpus;

    if (!live_view_term_size(&rows, &cols)) {
        return;
    }
    max_vcpus = live_view_max_vcpus(rows);
    if (max_vcpus) {
        live_view_claim_screen(rows, cols, LIVE_VIEW_FIXED_LINES +
                               MIN(nr_cpus, max_vcpus));
        fflush(stdout);
    }
}

static void live_view_draw_terminal(const LiveStats *st)
{
    g_autoptr(GPtrArray) lines = NULL;
    int rows, cols, max_vcpus, want;

    if (!live_view_term_size(&rows, &cols)) {
        return;
    }
    max_vcpus = live_view_max_vcpus(rows);
    if (!max_vcpus) {
        live_view_release_screen();     /* too small: HMP comes first */
        return;
    }
    lines = live_view_lines(st, max_vcpus);
    want = lines->len;
    if (lv.view_lines != want || lv.rows != rows || lv.cols != cols) {
        /* Resized: the cursor may be mid-line, a glitch at worst. */
        live_view_release_screen();
        live_view_claim_screen(rows, cols, want);
    }
    printf(ESC_SAVE_CURSOR);
    for (guint i = 0; i < lines->len; i++) {
        const char *text = g_ptr_array_index(lines, i);
        int len = MIN((int)strlen(text), cols - 1);

        printf("\033[%d;1H%s%.*s" ESC_NORMAL ESC_CLEAR_TO_EOL,
               rows - want + 1 + i, i < 2 ? ESC_BOLD : "", len, text);
    }
    printf(ESC_RESTORE_CURSOR);
    fflush(stdout);
}

static void live_view_draw_plain(const LiveStats *st)
{
    g_autoptr(GPtrArray) lines =
        live_view_lines(st, LIVE_VIEW_PLAIN_MAX_VCPUS);

    /* The title says nothing new each second: heading onwards. */
    for (guint i = 1; i < lines->len; i++) {
        printf("%s\n", (const char *)g_ptr_array_index(lines, i));
    }
    fflush(stdout);
}

static void live_view_update(const LiveStats *st, void *opaque)
{
    if (!lv.on || st->samples < 2) {
        return;
    }
    if (lv.terminal) {
        live_view_draw_terminal(st);
    } else {
        live_view_draw_plain(st);
    }
}

bool live_view_set_enabled(bool on, Error **errp)
{
    if (on == lv.on) {
        return true;
    }
    if (on) {
        if (!live_stats_start(errp)) {
            return false;
        }
        lv.terminal = isatty(STDOUT_FILENO);
        if (lv.terminal) {
            live_view_claim_for(live_stats_get()->nr_cpus);
        }
        live_stats_add_listener(live_view_update, NULL);
        lv.on = true;
        return true;
    }
    live_stats_remove_listener(live_view_update, NULL);
    if (lv.terminal) {
        live_view_release_screen();
    }
    trace_live_view_state(false, lv.rows);
    lv.on = false;
    live_stats_stop();
    return true;
}

bool live_view_enabled(void)
{
    return lv.on;
}

bool live_view_init(LiveViewMode mode, Error **errp)
{
    bool on = mode == LIVE_VIEW_ON;

    if (mode == LIVE_VIEW_AUTO) {
        const char *term = g_getenv("TERM");

        /* A terminal that understands cursor movement. */
        on = isatty(STDOUT_FILENO) && term && strcmp(term, "dumb");
    }
    lv.started = true;
    return !on || live_view_set_enabled(true, errp);
}

void live_view_cleanup(void)
{
    if (!lv.started) {
        return;
    }
    live_view_set_enabled(false, NULL);
    lv.started = false;
}

/* x_live on|off */
void hmp_x_live(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;

    if (!hmp_check_args(mon, argc, argv, 0, 1)) {
        return;
    }
    if (argc == 1) {
        monitor_printf(mon, "live view: %s\n", lv.on ? "on" : "off");
        return;
    }
    if (strcmp(argv[1], "on") && strcmp(argv[1], "off")) {
        monitor_printf(mon, "Error: x_live takes on or off, not '%s'\n",
                       argv[1]);
        return;
    }
    /* Sampling takes the VM lock, which this command holds. */
    vm_unlock();
    live_view_set_enabled(!strcmp(argv[1], "on"), &err);
    vm_lock();
    hmp_handle_error(mon, err);
}
