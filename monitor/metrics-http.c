/*
 * The Prometheus endpoint's HTTP side: -metrics tcp:HOST:PORT.
 *
 *   util/sockets.c listener -> libsoup's SoupServer (main loop): reads
 *   and parses each request -> metrics_handle(): GET /metrics? ->
 *   metrics_render() -> libsoup writes the response
 *
 * libsoup does the protocol (HTTP/1.0 and 1.1, HEAD), one request per
 * connection as Prometheus is fine with;
 * this file adds what a scrape endpoint on a VMM's main loop needs and
 * libsoup does not do: at most METRICS_MAX_CLIENTS connections served at
 * once (one more is answered 503), a bound on the request head, and
 * deadlines, so that a client that does not send its request, or does
 * not read its response, is dropped.  Nothing here blocks the main loop.
 */
#include "qemu/osdep.h"

#include <glib-unix.h>
#include <libsoup/soup.h>
#include <sys/socket.h>

#include "monitor/live-stats.h"
#include "monitor/metrics.h"
#include "qemu/sockets.h"
#include "trace.h"

/* A scrape request is one short line and a few headers: 8 KiB is ample. */
#define METRICS_MAX_REQUEST_BYTES 8192
/* A client that has not sent its (next) request by then is dropped. */
#define METRICS_REQUEST_TIMEOUT_S 5
/* ... and one that does not read its response by then. */
#define METRICS_RESPONSE_TIMEOUT_S 10
/*
 * Refused connections being told 503; beyond this they are closed at
 * once.  They hold no request buffer worth counting, only a socket.
 */
#define METRICS_MAX_REFUSED 32
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_ERROR_TYPE "text/plain; charset=utf-8"

/*
 * One client connection, found by its peer's address: libsoup does not
 * tell which socket a request came on when it did not accept it.
 */
typedef struct MetricsConn {
    GSocketConnection *conn;    /* weak: its finalization frees us */
    GSocket *sock;              /* the connection's */
    char *peer;                 /* "ADDRESS:PORT", the key */
    guint timeout_id;
    bool refused;               /* told 503, not counted as served */
    bool busy;                  /* a request read, its answer not sent */
} MetricsConn;

typedef struct MetricsServer {
    SoupServer *server;
    SocketListener listener;
    guint listen_watch;
    char *address;
    GHashTable *conns;          /* peer -> MetricsConn *, owning */
    unsigned int served;        /* connections not refused */
    unsigned int refused;
    bool stats_started;
} MetricsServer;

static MetricsServer ms;

/* ---- connections: limits and deadlines */

static void metrics_conn_free(gpointer opaque)
{
    MetricsConn *mc = opaque;

    if (mc->timeout_id) {
        g_source_remove(mc->timeout_id);
    }
    if (mc->refused) {
        ms.refused--;
    } else {
        ms.served--;
    }
    g_free(mc->peer);
    g_free(mc);
}

/* libsoup let go of the connection: it is over. */
static void metrics_conn_gone(gpointer opaque, GObject *conn)
{
    MetricsConn *mc = opaque;

    g_hash_table_remove(ms.conns, mc->peer);
}

/*
 * Whether a connection is over: closed by libsoup, or, waiting for a
 * request, closed by its client.  libsoup notices the client's close
 * only at its next turn of the main loop, and a client that closes and
 * connects again must find its place free at once.
 */
static gboolean metrics_conn_over(gpointer peer, gpointer value,
                                  gpointer opaque)
{
    MetricsConn *mc = value;
    char byte;

    if (!g_socket_is_closed(mc->sock) &&
        (mc->busy || recv(g_socket_get_fd(mc->sock), &byte, 1,
                          MSG_PEEK | MSG_DONTWAIT) != 0)) {
        return FALSE;
    }
    g_socket_shutdown(mc->sock, TRUE, TRUE, NULL);
    g_object_weak_unref(G_OBJECT(mc->conn), metrics_conn_gone, mc);
    return TRUE;
}

/* End the connection: libsoup sees the socket fail and closes it. */
static gboolean metrics_conn_timeout(gpointer opaque)
{
    MetricsConn *mc = opaque;

    mc->timeout_id = 0;
    trace_metrics_client_error("timed out");
    g_socket_shutdown(mc->sock, TRUE, TRUE, NULL);
    return G_SOURCE_REMOVE;
}

static void metrics_conn_arm(MetricsConn *mc, guint seconds)
{
    if (mc->timeout_id) {
        g_source_remove(mc->timeout_id);
    }
    mc->timeout_id = g_timeout_add_seconds(seconds, metrics_conn_timeout, mc);
}

static char *metrics_peer_name(GSocketAddress *addr)
{
    return addr ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(addr)) :
           NULL;
}

static MetricsConn *metrics_conn_of(SoupServerMessage *msg)
{
    g_autofree char *peer = metrics_peer_name(
        soup_server_message_get_remote_address(msg));

    return peer ? g_hash_table_lookup(ms.conns, peer) : NULL;
}

/* Hand a new connection to libsoup, counted and with a deadline. */
static void metrics_conn_new(int fd)
{
    g_autoptr(GSocket) sock = g_socket_new_from_fd(fd, NULL);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GSocketAddress) local = NULL;
    g_autoptr(GSocketAddress) remote = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *remote_name = NULL;
    MetricsConn *mc;
    bool refuse;

    g_hash_table_foreach_remove(ms.conns, metrics_conn_over, NULL);
    refuse = ms.served >= METRICS_MAX_CLIENTS;

    if (refuse) {
        trace_metrics_client_refused(ms.served);
    }
    if (!sock || (refuse && ms.refused >= METRICS_MAX_REFUSED)) {
        if (!sock) {
            close(fd);
        }
        return;                 /* g_autoptr closes the socket */
    }
    local = g_socket_get_local_address(sock, NULL);
    remote = g_socket_get_remote_address(sock, NULL);
    if (!local || !remote) {
        return;                 /* it is gone already */
    }
    remote_name = metrics_peer_name(remote);
    conn = g_socket_connection_factory_create_connection(sock);
    mc = g_hash_table_lookup(ms.conns, remote_name);
    if (mc) {
        /* Its port reused before libsoup let go: forget the old one. */
        g_object_weak_unref(G_OBJECT(mc->conn), metrics_conn_gone, mc);
        g_hash_table_remove(ms.conns, remote_name);
    }
    mc = g_new0(MetricsConn, 1);
    mc->conn = conn;
    mc->sock = sock;
    mc->peer = g_steal_pointer(&remote_name);
    mc->refused = refuse;
    if (refuse) {
        ms.refused++;
    } else {
        ms.served++;
    }
    g_hash_table_insert(ms.conns, mc->peer, mc);
    g_object_weak_ref(G_OBJECT(conn), metrics_conn_gone, mc);
    metrics_conn_arm(mc, METRICS_REQUEST_TIMEOUT_S);
    if (!soup_server_accept_iostream(ms.server, G_IO_STREAM(conn), local,
                                     remote, &err)) {
        trace_metrics_client_error(err->message);
    }
}

/*
 * Our own accept, not soup_server_listen_socket(): with that, Debian
 * 12's libsoup 3.2.3 never frees a connection (~340 bytes each).
 */
static gboolean metrics_accept(int listen_fd, GIOCondition cond,
                               gpointer opaque)
{
    int fd;

    while ((fd = socket_accept(listen_fd, SOCK_NONBLOCK)) >= 0) {
        metrics_conn_new(fd);
    }
    return G_SOURCE_CONTINUE;   /* EAGAIN: all taken; others: next time */
}

static void metrics_request_read(SoupServer *server, SoupServerMessage *msg,
                                 gpointer opaque)
{
    MetricsConn *mc = metrics_conn_of(msg);

    if (mc) {
        mc->busy = true;
        metrics_conn_arm(mc, METRICS_RESPONSE_TIMEOUT_S);
    }
}

/* Answered (or given up): libsoup closes the connection next. */
static void metrics_request_done(SoupServer *server, SoupServerMessage *msg,
                                 gpointer opaque)
{
    MetricsConn *mc = metrics_conn_of(msg);

    if (mc) {
        mc->busy = false;
        metrics_conn_arm(mc, METRICS_REQUEST_TIMEOUT_S);
    }
}

/* ---- requests */

static void metrics_add_header_bytes(const char *name, const char *value,
                                     gpointer opaque)
{
    *(size_t *)opaque += strlen(name) + strlen(value) + strlen(": \r\n");
}

/* About the size of the request head as the client sent it. */
static size_t metrics_head_bytes(SoupServerMessage *msg)
{
    GUri *uri = soup_server_message_get_uri(msg);
    const char *query = g_uri_get_query(uri);
    size_t bytes = strlen(soup_server_message_get_method(msg)) +
                   strlen(g_uri_get_path(uri)) +
                   (query ? strlen(query) + 1 : 0) +
                   strlen(" HTTP/1.x\r\n\r\n");

    soup_message_headers_foreach(soup_server_message_get_request_headers(msg),
                                 metrics_add_header_bytes, &bytes);
    return bytes;
}

static void metrics_reply(SoupServerMessage *msg, const char *path,
                          guint status, const char *type, char *body)
{
    size_t len = strlen(body);

    trace_metrics_request(soup_server_message_get_method(msg), path, status,
                          len);
    soup_server_message_set_status(msg, status, NULL);
    /* libsoup leaves the body out of an answer to HEAD. */
    soup_server_message_set_response(msg, type, SOUP_MEMORY_TAKE, body, len);
}

static void metrics_reply_error(SoupServerMessage *msg, const char *path,
                                guint status, const char *text)
{
    metrics_reply(msg, path, status, METRICS_ERROR_TYPE, g_strdup(text));
}

/* Every path: the query string, if any, does not choose anything. */
static void metrics_handle(SoupServer *server, SoupServerMessage *msg,
                           const char *path, GHashTable *query,
                           gpointer opaque)
{
    MetricsConn *mc = metrics_conn_of(msg);
    const char *method = soup_server_message_get_method(msg);

    if (mc && mc->refused) {
        metrics_reply_error(msg, path, SOUP_STATUS_SERVICE_UNAVAILABLE,
                            "too many scrapers at once\n");
    } else if (metrics_head_bytes(msg) >= METRICS_MAX_REQUEST_BYTES) {
        metrics_reply_error(msg, path, SOUP_STATUS_BAD_REQUEST,
                            "bad request: request head too long\n");
    } else if (strcmp(method, SOUP_METHOD_GET) &&
               strcmp(method, SOUP_METHOD_HEAD)) {
        metrics_reply_error(msg, path, SOUP_STATUS_METHOD_NOT_ALLOWED,
                            "only GET and HEAD are served\n");
    } else if (strcmp(path, "/metrics")) {
        metrics_reply_error(msg, path, SOUP_STATUS_NOT_FOUND,
                            "not found: the metrics are at /metrics\n");
    } else {
        metrics_reply(msg, path, SOUP_STATUS_OK, METRICS_CONTENT_TYPE,
                      metrics_render());
    }
    /*
     * One request per connection, as before libsoup: on a connection it
     * did not accept, libsoup 3.2 closes after the first answer even when
     * it announced keep-alive, so the client is told.
     */
    soup_message_headers_replace(
        soup_server_message_get_response_headers(msg), "Connection", "close");
}

/* ---- the endpoint */

/*
 * tcp:HOST:PORT, tcp:[IPV6]:PORT, tcp::PORT; HOST an IP address or
 * localhost, loopback (127.0.0.1) when empty: metrics are not for
 * everyone.  PORT from 1 to 65535.
 */
static bool metrics_parse_address(const char *spec, SocketAddr *addr,
                                  Error **errp)
{
    if (!g_str_has_prefix(spec, "tcp:") ||
        !socket_addr_parse(spec, addr, NULL)) {
        error_setg(errp, "-metrics %s: expected tcp:HOST:PORT (e.g. "
                   "tcp:127.0.0.1:9100)", spec);
        return false;
    }
    if (!socket_addr_port(addr)) {
        error_setg(errp, "-metrics %s: the port must be an integer from 1 "
                   "to 65535", spec);
        socket_addr_clear(addr);
        return false;
    }
    if (!addr->host[0] || !strcmp(addr->host, "localhost")) {
        g_free(addr->host);
        addr->host = g_strdup("127.0.0.1");
    }
    if (!g_hostname_is_ip_address(addr->host)) {
        error_setg(errp, "-metrics %s: '%s' is not an IP address", spec,
                   addr->host);
        socket_addr_clear(addr);
        return false;
    }
    return true;
}

/* A listening socket from util/sockets.c; we accept, libsoup serves. */
static bool metrics_listen(const char *spec, const SocketAddr *addr,
                           Error **errp)
{
    static const SocketListenOpts opts = { .nonblock = true };

    if (!socket_listen(addr, &opts, &ms.listener, errp)) {
        error_prepend(errp, "-metrics %s: ", spec);
        return false;
    }
    ms.listen_watch = g_unix_fd_add(ms.listener.fd, G_IO_IN, metrics_accept,
                                    NULL);
    return true;
}

bool metrics_init(const char *spec, Error **errp)
{
    SocketAddr addr;
    bool ok;

    if (ms.server) {
        error_setg(errp, "-metrics: given twice");
        return false;
    }
    if (!metrics_parse_address(spec, &addr, errp)) {
        return false;
    }
    ms.conns = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     metrics_conn_free);
    ms.listener.fd = -1;
    ms.server = soup_server_new(NULL, NULL);
    ok = metrics_listen(spec, &addr, errp);
    socket_addr_clear(&addr);
    if (!ok || !live_stats_start(errp)) {
        metrics_cleanup();
        return false;
    }
    ms.stats_started = true;
    ms.address = g_strdup(spec + strlen("tcp:"));
    g_signal_connect(ms.server, "request-read",
                     G_CALLBACK(metrics_request_read), NULL);
    g_signal_connect(ms.server, "request-finished",
                     G_CALLBACK(metrics_request_done), NULL);
    g_signal_connect(ms.server, "request-aborted",
                     G_CALLBACK(metrics_request_done), NULL);
    soup_server_add_handler(ms.server, NULL, metrics_handle, NULL, NULL);
    trace_metrics_listen(ms.address);
    return true;
}

void metrics_cleanup(void)
{
    GHashTableIter iter;
    gpointer value;

    if (!ms.server) {
        return;
    }
    if (ms.listen_watch) {
        g_source_remove(ms.listen_watch);
        ms.listen_watch = 0;
    }
    socket_listener_close(&ms.listener);
    /* Forget the connections first: libsoup may finalize them later. */
    g_hash_table_iter_init(&iter, ms.conns);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        MetricsConn *mc = value;

        g_object_weak_unref(G_OBJECT(mc->conn), metrics_conn_gone, mc);
    }
    g_clear_pointer(&ms.conns, g_hash_table_unref);
    soup_server_disconnect(ms.server);
    g_clear_object(&ms.server);
    g_clear_pointer(&ms.address, g_free);
    if (ms.stats_started) {
        live_stats_stop();
        ms.stats_started = false;
    }
}
