/*
 * The Prometheus endpoint: -metrics tcp:HOST:PORT.
 *
 *   GSocketService (main loop) -> client: read the request head (async,
 *   bounded in size and time) -> GET /metrics? -> metrics_render() ->
 *   write the whole response (async) -> close
 *
 * HTTP/1.0, one request per connection, as Prometheus scrapes.  Nothing
 * here blocks the main loop: every read and write is asynchronous, a
 * client that does not send its request in time is dropped, and at most
 * METRICS_MAX_CLIENTS are served at once.
 *
 * What is exported comes from the same places QMP reads: the live
 * statistics (monitor/live-stats.c: per-vCPU rates measured and
 * ground truth, quota, sleep share), the dirty-tracking harvest counters
 * (memory_dirty_tracking_stats) and query-migrate's own handler.  Names
 * follow Prometheus's conventions: base units in the name (_bytes,
 * _seconds, _bytes_per_second, _ratio), _total for counters.
 */
#include "qemu/osdep.h"

#include <gio/gio.h>

#include "monitor/live-stats.h"
#include "monitor/metrics.h"
#include "qapi/qapi-commands.h"
#include "sysemu/memory.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

/* A scrape request is one short line and a few headers: 8 KiB is ample. */
#define METRICS_MAX_REQUEST_BYTES 8192
/* A client that has not sent its request by then is dropped. */
#define METRICS_REQUEST_TIMEOUT_S 5
/* ... and one that does not read its response by then. */
#define METRICS_RESPONSE_TIMEOUT_S 10
/*
 * After the response, what the client still sends is read and dropped
 * until it closes, for at most this long: closing with unread input
 * would reset the connection and could lose the response (a 400 to an
 * overlong request) before the client reads it.
 */
#define METRICS_LINGER_TIMEOUT_S 2
/*
 * Refused clients being told 503 at once; beyond this they are just
 * closed.  They hold no request buffer worth counting, only a socket.
 */
#define METRICS_MAX_REFUSED 32
#define METRICS_PAGE_BYTES 4096
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct MetricsClient {
    GSocketConnection *conn;
    GCancellable *cancel;
    guint timeout_id;
    char buf[METRICS_MAX_REQUEST_BYTES];
    size_t len;
    char *response;
    bool refused;               /* told 503, not counted as served */
} MetricsClient;

typedef struct MetricsServer {
    GSocketService *service;
    char *address;
    GPtrArray *clients;         /* of MetricsClient *, not owning */
    unsigned int served;        /* clients not refused */
    unsigned int refused;
    bool stats_started;
} MetricsServer;

static MetricsServer ms;

/* ---- the exposition text */

static void metrics_head(GString *s, const char *name, const char *type,
                         const char *help)
{
    g_string_append_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}

static void metrics_u64(GString *s, const char *name, const char *labels,
                        uint64_t value)
{
    g_string_append_printf(s, "%s%s %" PRIu64 "\n", name, labels, value);
}

static void metrics_double(GString *s, const char *name, const char *labels,
                           double value)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];

    /* Locale-independent, shortest exact form. */
    g_ascii_dtostr(num, sizeof(num), value);
    g_string_append_printf(s, "%s%s %s\n", name, labels, num);
}

/* A metric without labels: its HELP, TYPE and one sample. */
static void metrics_single_u64(GString *s, const char *name,
                               const char *type, const char *help,
                               uint64_t value)
{
    metrics_head(s, name, type, help);
    metrics_u64(s, name, "", value);
}

/* One gauge or counter per vCPU, from @field of each LiveVcpuStats. */
typedef enum MetricsVcpuField {
    MV_MEASURED_RATE,
    MV_DIRTY_PAGES,
    MV_GUEST_WRITE_RATE,
    MV_GUEST_READ_RATE,
    MV_GUEST_WRITTEN,
    MV_GUEST_READ,
    MV_QUOTA,
    MV_LIMITER_RATE,
    MV_SLEEP,
} MetricsVcpuField;

static const struct {
    MetricsVcpuField field;
    const char *name;
    const char *type;
    const char *help;
} metrics_vcpu_table[] = {
    { MV_MEASURED_RATE, "restraint_vcpu_dirty_rate_bytes_per_second", "gauge",
      "Memory the vCPU dirtied per second over the last second, as "
      "restraint measured it: dirty-ring entries harvested for it times "
      "4 KiB (a page written again after a harvest counts again)." },
    { MV_DIRTY_PAGES, "restraint_vcpu_dirty_pages_total", "counter",
      "Dirty-ring entries harvested for the vCPU while counting was on." },
    { MV_GUEST_WRITE_RATE,
      "restraint_vcpu_guest_write_rate_bytes_per_second", "gauge",
      "Ground truth: bytes of pages the built-in guest stored to per "
      "second over the last second, from its own counters." },
    { MV_GUEST_READ_RATE, "restraint_vcpu_guest_read_rate_bytes_per_second",
      "gauge", "Ground truth: bytes the built-in guest read per second "
      "over the last second, from its own counters." },
    { MV_GUEST_WRITTEN, "restraint_vcpu_guest_written_bytes_total", "counter",
      "Ground truth: bytes of pages the built-in guest stored to." },
    { MV_GUEST_READ, "restraint_vcpu_guest_read_bytes_total", "counter",
      "Ground truth: bytes the built-in guest read." },
    { MV_QUOTA, "restraint_vcpu_dirty_limit_bytes_per_second", "gauge",
      "The vCPU's dirty page rate quota (set-vcpu-dirty-limit); 0 when "
      "it has none." },
    { MV_LIMITER_RATE, "restraint_vcpu_dirty_limit_rate_bytes_per_second",
      "gauge", "The dirty rate the limiter measured over its last "
      "report window (limited vCPUs only)." },
    { MV_SLEEP, "restraint_vcpu_sleep_ratio", "gauge",
      "Share of the vCPU's time spent asleep by a throttle (dirty limit "
      "or auto-converge), 0 to 1." },
};

static void metrics_vcpu_family(GString *s, const LiveStats *st, int t)
{
    bool any = false;

    for (int i = 0; i < st->nr_cpus; i++) {
        const LiveVcpuStats *v = &st->vcpu[i];
        g_autofree char *labels = g_strdup_printf("{cpu=\"%d\"}",
                                                  v->cpu_index);
        const char *name = metrics_vcpu_table[t].name;

        if (!any) {
            metrics_head(s, name, metrics_vcpu_table[t].type,
                         metrics_vcpu_table[t].help);
            any = true;
        }
        switch (metrics_vcpu_table[t].field) {
        case MV_MEASURED_RATE:
            if (v->has_measured) {
                metrics_double(s, name, labels, v->measured_bytes_per_s);
            }
            break;
        case MV_DIRTY_PAGES:
            metrics_u64(s, name, labels, v->measured_dirty_pages);
            break;
        case MV_GUEST_WRITE_RATE:
            if (v->has_guest) {
                metrics_double(s, name, labels, v->guest_write_bytes_per_s);
            }
            break;
        case MV_GUEST_READ_RATE:
            if (v->has_guest) {
                metrics_double(s, name, labels, v->guest_read_bytes_per_s);
            }
            break;
        case MV_GUEST_WRITTEN:
            metrics_u64(s, name, labels,
                        v->guest_pages_written * METRICS_PAGE_BYTES);
            break;
        case MV_GUEST_READ:
            metrics_u64(s, name, labels, v->guest_bytes_read);
            break;
        case MV_QUOTA:
            metrics_u64(s, name, labels, v->quota_mbps * MiB);
            break;
        case MV_LIMITER_RATE:
            if (v->quota_mbps) {
                metrics_double(s, name, labels, v->limiter_rate_bytes_per_s);
            }
            break;
        case MV_SLEEP:
            metrics_double(s, name, labels, v->sleep_share);
            break;
        }
    }
}

static void metrics_vcpus(GString *s)
{
    const LiveStats *st = live_stats_get();

    metrics_head(s, "restraint_vcpu_workload_info", "gauge",
                 "The built-in guest's workload on each vCPU (always 1).");
    for (int i = 0; i < st->nr_cpus; i++) {
        g_autofree char *labels = g_strdup_printf(
            "{cpu=\"%d\",kind=\"%s\"}", i, st->vcpu[i].workload_kind);

        metrics_u64(s, "restraint_vcpu_workload_info", labels, 1);
    }
    for (size_t t = 0; t < G_N_ELEMENTS(metrics_vcpu_table); t++) {
        metrics_vcpu_family(s, st, t);
    }
    metrics_head(s, "restraint_cpu_throttle_ratio", "gauge",
                 "auto-converge's throttle: share of every vCPU's time "
                 "asleep, 0 to 1.");
    metrics_double(s, "restraint_cpu_throttle_ratio", "",
                   st->cpu_throttle_pct / 100.0);
}

static void metrics_dirty_tracking(GString *s)
{
    DirtyTrackingStats st;

    vm_lock();
    memory_dirty_tracking_stats(&st);
    vm_unlock();

    metrics_head(s, "restraint_dirty_ring_entries", "gauge",
                 "Dirty-ring entries per vCPU; 0 in dirty-bitmap mode.");
    metrics_u64(s, "restraint_dirty_ring_entries", "", st.ring_entries);
    metrics_head(s, "restraint_dirty_tracking_user_active", "gauge",
                 "1 while this user has global dirty tracking on.");
    for (unsigned int flag = 1; flag & GLOBAL_DIRTY_MASK; flag <<= 1) {
        g_autofree char *labels = g_strdup_printf(
            "{user=\"%s\"}", memory_dirty_user_name(flag));

        metrics_u64(s, "restraint_dirty_tracking_user_active", labels,
                    !!(st.users & flag));
    }
    const struct {
        const char *name;
        const char *help;
        uint64_t value;
    } counters[] = {
        { "restraint_dirty_tracking_syncs_total",
          "Harvests done on behalf of a consumer.", st.syncs },
        { "restraint_dirty_ring_reaper_runs_total",
          "Periodic harvests by the kvm-reaper thread.", st.reaper_runs },
        { "restraint_dirty_ring_harvested_entries_total",
          "Dirty-ring entries harvested, all vCPUs.", st.ring_harvested },
        { "restraint_dirty_ring_dropped_entries_total",
          "Dirty-ring entries dropped (outside guest RAM).", st.ring_dropped },
        { "restraint_dirty_ring_full_exits_total",
          "KVM_EXIT_DIRTY_RING_FULL exits, all vCPUs.", st.ring_full_exits },
        { "restraint_dirty_ring_reset_mismatches_total",
          "Ring resets where KVM reset another count than was harvested.",
          st.ring_reset_mismatches },
        { "restraint_dirty_bitmap_pages_total",
          "Dirty pages reported by KVM_GET_DIRTY_LOG (bitmap mode).",
          st.bitmap_pages },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(counters); i++) {
        metrics_single_u64(s, counters[i].name, "counter", counters[i].help,
                           counters[i].value);
    }
    metrics_head(s, "restraint_dirty_ring_harvest_seconds_total", "counter",
                 "Time spent harvesting and resetting the dirty rings.");
    metrics_double(s, "restraint_dirty_ring_harvest_seconds_total", "",
                   st.ring_harvest_ns / 1e9);
}

static void metrics_migration(GString *s)
{
    g_autoptr(MigrationInfo) info = NULL;
    MigrationStats *ram;

    /* query-migrate's handler: exactly what QMP clients see. */
    vm_lock();
    info = qmp_query_migrate(NULL);
    vm_unlock();
    ram = info ? info->ram : NULL;

    metrics_head(s, "restraint_migration_status", "gauge",
                 "1 for the current (or last) migration's status, 0 for "
                 "the others; status none before any migration.");
    for (int i = 0; i < MIGRATION_STATUS__MAX; i++) {
        g_autofree char *labels = g_strdup_printf(
            "{status=\"%s\"}", MigrationStatus_str(i));
        bool cur = info && info->has_status ? (int)info->status == i :
                   i == MIGRATION_STATUS_NONE;

        metrics_u64(s, "restraint_migration_status", labels, cur);
    }
    if (!ram) {
        return;
    }
    metrics_head(s, "restraint_migration_remaining_bytes", "gauge",
                 "RAM still to send: dirty pages not yet sent.");
    metrics_u64(s, "restraint_migration_remaining_bytes", "",
                ram->remaining);
    metrics_head(s, "restraint_migration_ram_bytes", "gauge",
                 "Guest RAM being migrated.");
    metrics_u64(s, "restraint_migration_ram_bytes", "", ram->total);
    metrics_head(s, "restraint_migration_transferred_bytes_total", "counter",
                 "Bytes sent by the current (or last) migration.");
    metrics_u64(s, "restraint_migration_transferred_bytes_total", "",
                ram->transferred);
    metrics_head(s, "restraint_migration_throughput_bits_per_second", "gauge",
                 "Stream throughput over the last period.");
    metrics_double(s, "restraint_migration_throughput_bits_per_second", "",
                   ram->mbps * 1e6);
    metrics_head(s, "restraint_migration_dirty_rate_pages_per_second",
                 "gauge", "Pages dirtied per second over the last sync "
                 "period, as migration measured it.");
    metrics_u64(s, "restraint_migration_dirty_rate_pages_per_second", "",
                ram->dirty_pages_rate);
    metrics_head(s, "restraint_migration_dirty_syncs_total", "counter",
                 "Dirty-bitmap syncs: the number of the current pass.");
    metrics_u64(s, "restraint_migration_dirty_syncs_total", "",
                ram->dirty_sync_count);
    if (info->has_expected_downtime) {
        metrics_head(s, "restraint_migration_expected_downtime_seconds",
                     "gauge", "Downtime if the switchover happened now.");
        metrics_double(s, "restraint_migration_expected_downtime_seconds",
                       "", info->expected_downtime / 1e3);
    }
    if (info->has_downtime) {
        metrics_head(s, "restraint_migration_downtime_seconds", "gauge",
                     "Time the guest was stopped at switchover.");
        metrics_double(s, "restraint_migration_downtime_seconds", "",
                       info->downtime / 1e3);
    }
    metrics_head(s, "restraint_migration_cpu_throttle_ratio", "gauge",
                 "auto-converge's throttle during the migration, 0 to 1.");
    metrics_double(s, "restraint_migration_cpu_throttle_ratio", "",
                   info->has_cpu_throttle_percentage ?
                   info->cpu_throttle_percentage / 100.0 : 0);
    if (info->has_dirty_limit_throttle_time_per_round) {
        metrics_head(s,
                     "restraint_migration_dirty_limit_throttle_seconds_per_round",
                     "gauge", "Average time each limited vCPU slept per "
                     "throttle round (dirty-limit, x-adaptive-converge).");
        metrics_double(s,
                       "restraint_migration_dirty_limit_throttle_seconds_per_round",
                       "", info->dirty_limit_throttle_time_per_round / 1e6);
    }
}

char *metrics_render(void)
{
    GString *s = g_string_new(NULL);
    g_autoptr(StatusInfo) status = NULL;

    vm_lock();
    status = qmp_query_status(NULL);
    vm_unlock();
    metrics_head(s, "restraint_info", "gauge",
                 "restraint's version (always 1).");
    metrics_u64(s, "restraint_info", "{version=\"" RESTRAINT_VERSION "\"}",
                1);
    metrics_head(s, "restraint_vm_running", "gauge",
                 "1 while the vCPUs run, 0 while the VM is paused.");
    metrics_u64(s, "restraint_vm_running", "", status && status->running);
    metrics_head(s, "restraint_live_stats_samples_total", "counter",
                 "Per-vCPU samples taken (one a second).");
    metrics_u64(s, "restraint_live_stats_samples_total", "",
                live_stats_get()->samples);
    metrics_vcpus(s);
    metrics_dirty_tracking(s);
    metrics_migration(s);
    return g_string_free(s, FALSE);
}

/* ---- HTTP */

static void metrics_client_free(MetricsClient *c)
{
    if (c->timeout_id) {
        g_source_remove(c->timeout_id);
    }
    g_ptr_array_remove(ms.clients, c);
    if (c->refused) {
        ms.refused--;
    } else {
        ms.served--;
    }
    g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
    g_object_unref(c->conn);
    g_object_unref(c->cancel);
    g_free(c->response);
    g_free(c);
}

static gboolean metrics_client_timeout(gpointer opaque)
{
    MetricsClient *c = opaque;

    c->timeout_id = 0;
    trace_metrics_client_error("timed out");
    /* The pending read or write ends with G_IO_ERROR_CANCELLED. */
    g_cancellable_cancel(c->cancel);
    return G_SOURCE_REMOVE;
}

static void metrics_client_arm_timeout(MetricsClient *c, guint seconds)
{
    if (c->timeout_id) {
        g_source_remove(c->timeout_id);
    }
    c->timeout_id = g_timeout_add_seconds(seconds, metrics_client_timeout, c);
}

static void metrics_linger_read(GObject *src, GAsyncResult *res,
                                gpointer opaque)
{
    MetricsClient *c = opaque;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, NULL);

    if (n <= 0) {
        metrics_client_free(c);     /* closed, failed or timed out */
        return;
    }
    g_input_stream_read_async(G_INPUT_STREAM(src), c->buf, sizeof(c->buf),
                              G_PRIORITY_DEFAULT, c->cancel,
                              metrics_linger_read, c);
}

static void metrics_written(GObject *src, GAsyncResult *res, gpointer opaque)
{
    MetricsClient *c = opaque;
    g_autoptr(GError) err = NULL;
    GSocket *sock = g_socket_connection_get_socket(c->conn);

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL,
                                          &err)) {
        trace_metrics_client_error(err->message);
        metrics_client_free(c);
        return;
    }
    /* Done sending: the client sees the end, then we wait for its close. */
    if (!g_socket_shutdown(sock, FALSE, TRUE, NULL)) {
        metrics_client_free(c);
        return;
    }
    metrics_client_arm_timeout(c, METRICS_LINGER_TIMEOUT_S);
    g_input_stream_read_async(
        g_io_stream_get_input_stream(G_IO_STREAM(c->conn)), c->buf,
        sizeof(c->buf), G_PRIORITY_DEFAULT, c->cancel, metrics_linger_read,
        c);
}

static void metrics_respond(MetricsClient *c, const char *method,
                            const char *path, int status, const char *reason,
                            const char *body, bool send_body)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
    size_t body_len = strlen(body);

    trace_metrics_request(method, path, status, body_len);
    c->response = g_strdup_printf(
        "HTTP/1.0 %d %s\r\n"
        "Content-Type: %s\r\n"
        "Content-Length: %zu\r\n"
        "Connection: close\r\n"
        "\r\n%s", status, reason,
        status == 200 ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8",
        body_len, send_body ? body : "");
    metrics_client_arm_timeout(c, METRICS_RESPONSE_TIMEOUT_S);
    g_output_stream_write_all_async(out, c->response, strlen(c->response),
                                    G_PRIORITY_DEFAULT, c->cancel,
                                    metrics_written, c);
}

/* The request head is complete: answer it. */
static void metrics_handle_request(MetricsClient *c)
{
    g_autofree char *line = NULL;
    g_auto(GStrv) words = NULL;
    const char *eol = memchr(c->buf, '\n', c->len);
    g_autofree char *path = NULL;

    line = g_strndup(c->buf, eol - c->buf);
    g_strchomp(line);
    words = g_strsplit(line, " ", -1);
    if (g_strv_length(words) != 3 || !words[0][0] || words[1][0] != '/' ||
        !g_str_has_prefix(words[2], "HTTP/1.")) {
        metrics_respond(c, "-", "-", 400, "Bad Request",
                        "bad request: expected GET /metrics HTTP/1.0\n",
                        true);
        return;
    }
    /* The query string, if any, does not choose anything here. */
    path = g_strndup(words[1], strcspn(words[1], "?#"));
    if (strcmp(words[0], "GET") && strcmp(words[0], "HEAD")) {
        metrics_respond(c, words[0], path, 405, "Method Not Allowed",
                        "only GET and HEAD are served\n", true);
        return;
    }
    if (strcmp(path, "/metrics")) {
        metrics_respond(c, words[0], path, 404, "Not Found",
                        "not found: the metrics are at /metrics\n",
                        strcmp(words[0], "HEAD") != 0);
        return;
    }
    {
        g_autofree char *body = metrics_render();

        metrics_respond(c, words[0], path, 200, "OK", body,
                        strcmp(words[0], "HEAD") != 0);
    }
}

/* A blank line ends the head; bare LF is accepted, as most servers do. */
static bool metrics_head_complete(const MetricsClient *c)
{
    return g_strstr_len(c->buf, c->len, "\r\n\r\n") ||
           g_strstr_len(c->buf, c->len, "\n\n");
}

static void metrics_read_more(MetricsClient *c);

static void metrics_read_done(GObject *src, GAsyncResult *res,
                              gpointer opaque)
{
    MetricsClient *c = opaque;
    g_autoptr(GError) err = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &err);

    if (n <= 0) {
        trace_metrics_client_error(n < 0 ? err->message : "closed early");
        metrics_client_free(c);
        return;
    }
    if (memchr(c->buf + c->len, '\0', n)) {
        c->len += n;
        metrics_respond(c, "-", "-", 400, "Bad Request",
                        "bad request: NUL byte\n", true);
        return;
    }
    c->len += n;
    if (metrics_head_complete(c)) {
        metrics_handle_request(c);
    } else if (c->len >= sizeof(c->buf) - 1) {
        metrics_respond(c, "-", "-", 400, "Bad Request",
                        "bad request: request head too long\n", true);
    } else {
        metrics_read_more(c);
    }
}

static void metrics_read_more(MetricsClient *c)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(c->conn));

    /* One byte kept free: the buffer stays a C string for searching. */
    c->buf[c->len] = '\0';
    g_input_stream_read_async(in, c->buf + c->len, sizeof(c->buf) - 1 - c->len,
                              G_PRIORITY_DEFAULT, c->cancel,
                              metrics_read_done, c);
}

static gboolean metrics_incoming(GSocketService *service,
                                 GSocketConnection *conn,
                                 GObject *source, gpointer opaque)
{
    bool refuse = ms.served >= METRICS_MAX_CLIENTS;
    MetricsClient *c;

    if (refuse) {
        trace_metrics_client_refused(ms.served);
        if (ms.refused >= METRICS_MAX_REFUSED) {
            g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
            return TRUE;
        }
    }
    c = g_new0(MetricsClient, 1);
    c->conn = g_object_ref(conn);
    c->cancel = g_cancellable_new();
    c->refused = refuse;
    g_ptr_array_add(ms.clients, c);
    if (refuse) {
        ms.refused++;
        metrics_respond(c, "-", "-", 503, "Service Unavailable",
                        "too many scrapers at once\n", true);
        return TRUE;
    }
    ms.served++;
    metrics_client_arm_timeout(c, METRICS_REQUEST_TIMEOUT_S);
    metrics_read_more(c);
    return TRUE;
}

/* tcp:HOST:PORT, tcp:[IPV6]:PORT, tcp::PORT (127.0.0.1). */
static GSocketAddress *metrics_parse_address(const char *spec, Error **errp)
{
    const char *addr, *colon;
    g_autofree char *host = NULL;
    guint64 port;
    GSocketAddress *sa;

    if (!g_str_has_prefix(spec, "tcp:")) {
        goto bad;
    }
    addr = spec + 4;
    if (addr[0] == '[') {
        const char *close_bracket = strchr(addr, ']');

        if (!close_bracket || close_bracket[1] != ':') {
            goto bad;
        }
        host = g_strndup(addr + 1, close_bracket - addr - 1);
        colon = close_bracket + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) {
            goto bad;
        }
        host = g_strndup(addr, colon - addr);
    }
    if (!g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL)) {
        error_setg(errp, "-metrics %s: the port must be an integer from 1 "
                   "to 65535", spec);
        return NULL;
    }
    /* Loopback unless told otherwise: metrics are not for everyone. */
    if (!host[0] || !strcmp(host, "localhost")) {
        g_free(host);
        host = g_strdup("127.0.0.1");
    }
    sa = g_inet_socket_address_new_from_string(host, port);
    if (!sa) {
        error_setg(errp, "-metrics %s: '%s' is not an IP address", spec,
                   host);
    }
    return sa;

bad:
    error_setg(errp, "-metrics %s: expected tcp:HOST:PORT (e.g. "
               "tcp:127.0.0.1:9100)", spec);
    return NULL;
}

bool metrics_init(const char *spec, Error **errp)
{
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GError) gerr = NULL;

    if (ms.service) {
        error_setg(errp, "-metrics: given twice");
        return false;
    }
    sa = metrics_parse_address(spec, errp);
    if (!sa) {
        return false;
    }
    ms.clients = g_ptr_array_new();
    ms.service = g_socket_service_new();
    if (!g_socket_listener_add_address(G_SOCKET_LISTENER(ms.service), sa,
                                       G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_TCP, NULL, NULL,
                                       &gerr)) {
        error_setg(errp, "-metrics %s: cannot listen: %s", spec,
                   gerr->message);
        metrics_cleanup();
        return false;
    }
    if (!live_stats_start(errp)) {
        metrics_cleanup();
        return false;
    }
    ms.stats_started = true;
    ms.address = g_strdup(spec + 4);
    g_signal_connect(ms.service, "incoming", G_CALLBACK(metrics_incoming),
                     NULL);
    g_socket_service_start(ms.service);
    trace_metrics_listen(ms.address);
    return true;
}

/* Iterations of the main context at exit to let cancelled clients go. */
#define METRICS_CLEANUP_ITERATIONS 100

void metrics_cleanup(void)
{
    if (!ms.service) {
        return;
    }
    g_socket_service_stop(ms.service);
    g_socket_listener_close(G_SOCKET_LISTENER(ms.service));
    for (guint i = 0; i < ms.clients->len; i++) {
        MetricsClient *c = g_ptr_array_index(ms.clients, i);

        g_cancellable_cancel(c->cancel);
    }
    /* Their callbacks free them; each runs at the next iteration. */
    for (int i = 0; ms.clients->len && i < METRICS_CLEANUP_ITERATIONS; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
    g_clear_object(&ms.service);
    g_ptr_array_unref(ms.clients);
    ms.clients = NULL;
    g_free(ms.address);
    ms.address = NULL;
    if (ms.stats_started) {
        live_stats_stop();
        ms.stats_started = false;
    }
}
