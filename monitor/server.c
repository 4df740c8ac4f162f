/*
 * The monitor servers: listening sockets (util/sockets.c), clients,
 * their input and output buffers.  QMP's protocol is qmp.c's (one
 * QmpConn per client), HMP's hmp-conn.c's; events come from
 * qmp-events.c.  Everything here runs on the main thread's GMainContext.
 *
 *   socket bytes -> QMP: qmp_conn_feed() -> reply line -> send()
 *                -> HMP: hmp_conn_feed() -> output, prompt -> send()
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "monitor/monitor-internal.h"
#include "monitor/qmp.h"
#include "qapi/qapi-commands.h"
#include "qemu/clock.h"
#include "qemu/sockets.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

/* Clients of all servers together; one more is told so and closed. */
#define MONITOR_MAX_CLIENTS 64
/* Output a client has not read yet; beyond this it is disconnected. */
#define MONITOR_MAX_OUTPUT_BYTES (4 * MiB)
#define MONITOR_READ_CHUNK_BYTES 65536
/* At exit, how long we try to deliver the last replies and events. */
#define MONITOR_CLEANUP_FLUSH_MS 1000
/* libvirt passes one descriptor per message; room for a few more. */
#define MONITOR_MAX_FDS_PER_MESSAGE 16

typedef enum MonitorMode {
    MONITOR_MODE_QMP,
    MONITOR_MODE_HMP,
} MonitorMode;

typedef struct MonitorListener {
    MonitorMode mode;
    guint watch_id;
    char *label;                /* the chardev id, for query-chardev */
    char *filename;             /* "unix:PATH,server=on", ... */
    int client_count;           /* connected now */
    SocketListener sock;
} MonitorListener;

typedef struct MonitorClient {
    MonitorMode mode;
    int fd;
    MonitorListener *listener;  /* outlives its clients */
    guint in_watch;
    guint out_watch;
    GString *out;               /* bytes not yet sent */
    bool dead;                  /* closed by the next reap */
    QmpConn qmp;                /* QMP */
    HmpConn hmp;                /* HMP */
} MonitorClient;

typedef struct MonitorState {
    GPtrArray *listeners;
    GPtrArray *clients;
    guint reaper_id;
} MonitorState;

static MonitorState monitor_state;
/* -qmp and -monitor listeners are named as QEMU names them. */
static int monitor_compat_count;

/* ---- clients */

static gboolean monitor_reap_clients(gpointer opaque)
{
    GPtrArray *clients = monitor_state.clients;

    monitor_state.reaper_id = 0;
    for (guint i = clients->len; i-- > 0;) {
        MonitorClient *c = g_ptr_array_index(clients, i);

        if (c->dead) {
            g_ptr_array_remove_index(clients, i);
        }
    }
    return G_SOURCE_REMOVE;
}

static void monitor_client_free(gpointer opaque)
{
    MonitorClient *c = opaque;

    if (c->in_watch) {
        g_source_remove(c->in_watch);
    }
    if (c->out_watch) {
        g_source_remove(c->out_watch);
    }
    close(c->fd);
    c->listener->client_count--;
    if (c->mode == MONITOR_MODE_QMP) {
        qmp_conn_destroy(&c->qmp);
    } else {
        hmp_conn_destroy(&c->hmp);
    }
    g_string_free(c->out, TRUE);
    g_free(c);
}

/* Mark for closing; freed from the main loop, never under our feet. */
static void monitor_client_kill(MonitorClient *c, const char *why)
{
    if (c->dead) {
        return;
    }
    trace_monitor_client_close(c->fd, why);
    c->dead = true;
    /* Input already received is not run any more. */
    if (c->mode == MONITOR_MODE_QMP) {
        c->qmp.stopped = true;
    } else {
        c->hmp.stopped = true;
    }
    if (!monitor_state.reaper_id) {
        monitor_state.reaper_id = g_idle_add_full(G_PRIORITY_DEFAULT,
                                                  monitor_reap_clients,
                                                  NULL, NULL);
    }
}

static gboolean monitor_client_writable(int fd, GIOCondition cond,
                                        gpointer opaque);

static void monitor_client_flush(MonitorClient *c)
{
    while (c->out->len && !c->dead) {
        ssize_t sent = send(c->fd, c->out->str, c->out->len,
                            MSG_NOSIGNAL | MSG_DONTWAIT);

        if (sent > 0) {
            g_string_erase(c->out, 0, sent);
        } else if (sent < 0 && errno == EINTR) {
            continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            monitor_client_kill(c, "send failed");
        }
    }
    if (c->out->len > MONITOR_MAX_OUTPUT_BYTES) {
        monitor_client_kill(c, "client does not read its replies");
    }
    if (c->out->len && !c->dead && !c->out_watch) {
        c->out_watch = g_unix_fd_add(c->fd, G_IO_OUT,
                                     monitor_client_writable, c);
    }
}

static gboolean monitor_client_writable(int fd, GIOCondition cond,
                                        gpointer opaque)
{
    MonitorClient *c = opaque;

    monitor_client_flush(c);
    if (c->dead || !c->out->len) {
        c->out_watch = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void monitor_client_send(MonitorClient *c, const char *text)
{
    g_string_append(c->out, text);
    monitor_client_flush(c);
}

static void monitor_conn_send(void *opaque, const char *line)
{
    monitor_client_send(opaque, line);
}

static gboolean monitor_client_readable(int fd, GIOCondition cond,
                                        gpointer opaque);

/* HMP: the waiting command ended; read again. */
static void monitor_hmp_resume(void *opaque)
{
    MonitorClient *c = opaque;

    if (!c->dead && !c->in_watch) {
        c->in_watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                    monitor_client_readable, c);
    }
}

/* Keep the last descriptor a client passed (SCM_RIGHTS), for getfd. */
static void monitor_client_keep_fds(MonitorClient *c, struct msghdr *msg)
{
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg); cmsg;
         cmsg = CMSG_NXTHDR(msg, cmsg)) {
        size_t n;

        if (cmsg->cmsg_level != SOL_SOCKET ||
            cmsg->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            trace_monitor_client_received_fd(c->fd, fd);
            if (c->mode == MONITOR_MODE_QMP) {
                qmp_conn_give_fd(&c->qmp, fd);
            } else {
                close(fd);      /* HMP has no getfd */
            }
        }
    }
}

/* recv() that also takes the descriptors a client passes. */
static ssize_t monitor_client_recv(MonitorClient *c, char *buf, size_t size)
{
    char control[CMSG_SPACE(MONITOR_MAX_FDS_PER_MESSAGE * sizeof(int))];
    struct iovec iov = { .iov_base = buf, .iov_len = size };
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control,
        .msg_controllen = sizeof(control),
    };
    ssize_t len = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    if (len >= 0) {
        monitor_client_keep_fds(c, &msg);
    }
    return len;
}

static gboolean monitor_client_readable(int fd, GIOCondition cond,
                                        gpointer opaque)
{
    MonitorClient *c = opaque;
    char buf[MONITOR_READ_CHUNK_BYTES];
    ssize_t len;

    len = monitor_client_recv(c, buf, sizeof(buf));
    if (len < 0 && (errno == EINTR || errno == EAGAIN)) {
        return G_SOURCE_CONTINUE;
    }
    if (len <= 0) {
        monitor_client_kill(c, len < 0 ? "receive failed" : "end of input");
    } else if (c->mode == MONITOR_MODE_QMP) {
        qmp_conn_feed(&c->qmp, buf, len);
    } else {
        hmp_conn_feed(&c->hmp, buf, len);
    }
    /* Dead, or HMP waiting for a command: read no more for now. */
    if (c->dead || (c->mode == MONITOR_MODE_HMP && hmp_conn_busy(&c->hmp))) {
        c->in_watch = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void monitor_client_new(MonitorListener *l, int fd)
{
    MonitorClient *c = g_new0(MonitorClient, 1);
    MonitorMode mode = l->mode;

    c->mode = mode;
    c->fd = fd;
    c->listener = l;
    l->client_count++;
    c->out = g_string_new(NULL);
    g_ptr_array_add(monitor_state.clients, c);
    trace_monitor_client_open(fd, monitor_state.clients->len);
    c->in_watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                monitor_client_readable, c);
    if (mode == MONITOR_MODE_QMP) {
        qmp_conn_init(&c->qmp, fd, monitor_conn_send, c);
    } else {
        hmp_conn_init(&c->hmp, monitor_conn_send, monitor_hmp_resume, c);
    }
}

/* Best effort: a refused client learns why. */
static void monitor_refuse(int fd)
{
    g_autofree char *line = g_strdup_printf(
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many "
        "monitor clients: the limit is %d\"}}\r\n", MONITOR_MAX_CLIENTS);

    trace_monitor_client_refused(fd, MONITOR_MAX_CLIENTS);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* It will see the connection close anyway. */
    }
    close(fd);
}

static gboolean monitor_listener_accept(int listen_fd, GIOCondition cond,
                                        gpointer opaque)
{
    MonitorListener *l = opaque;

    for (;;) {
        int fd = socket_accept(listen_fd, SOCK_NONBLOCK);

        if (fd < 0) {
            break;              /* EAGAIN: all taken; others: next time */
        }
        if (monitor_state.clients->len >= MONITOR_MAX_CLIENTS) {
            monitor_refuse(fd);
        } else {
            monitor_client_new(l, fd);
        }
    }
    return G_SOURCE_CONTINUE;
}

/* ---- listeners */

static void monitor_listener_free(gpointer opaque)
{
    MonitorListener *l = opaque;

    g_source_remove(l->watch_id);
    /* Unlinks our socket, not one someone put in its place since. */
    socket_listener_close(&l->sock);
    g_free(l->label);
    g_free(l->filename);
    g_free(l);
}

/*
 * unix:PATH[,server=on][,wait=off] or tcp:[HOST]:PORT[,...]; HOST
 * defaults to 127.0.0.1, and may be [IPv6].  Options: server=on (or
 * "server") is required, as restraint only listens; wait=off (or
 * "nowait") is the only waiting mode and the default.
 */
static bool monitor_check_options(char **opts, Error **errp)
{
    bool server = false;

    for (char **o = opts; *o; o++) {
        if (!strcmp(*o, "server") || !strcmp(*o, "server=on")) {
            server = true;
        } else if (!strcmp(*o, "server=off")) {
            error_setg(errp, "server=off is not supported: restraint listens");
            return false;
        } else if (!strcmp(*o, "wait=on") || !strcmp(*o, "wait")) {
            error_setg(errp, "wait=on is not supported: use wait=off");
            return false;
        } else if (strcmp(*o, "wait=off") && strcmp(*o, "nowait")) {
            error_setg(errp, "unknown option '%s': server=on, wait=off", *o);
            return false;
        }
    }
    if (!server) {
        error_setg(errp, "restraint only listens: add server=on,wait=off");
        return false;
    }
    return true;
}

static const SocketListenOpts monitor_listen_opts = {
    .nonblock = true,
    .unix_private = true,
};

static bool monitor_listen_spec(const char *spec, MonitorListener *l,
                                Error **errp)
{
    g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
    SocketAddr addr;
    bool ok;

    if (!monitor_check_options(parts + 1, errp) ||
        !socket_addr_parse(parts[0], &addr, errp)) {
        return false;
    }
    if (addr.kind == SOCKET_ADDR_TCP && !addr.host[0]) {
        g_free(addr.host);
        addr.host = g_strdup("127.0.0.1");      /* loopback unless asked */
    }
    ok = socket_listen(&addr, &monitor_listen_opts, &l->sock, errp);
    socket_addr_clear(&addr);
    return ok;
}

/* The listener of -chardev socket,path=PATH: a UNIX socket. */
static bool monitor_listen_unix(const char *path, MonitorListener *l,
                                Error **errp)
{
    g_autofree char *uri = g_strconcat("unix:", path, NULL);
    SocketAddr addr;
    bool ok;

    /* Parsed alone: PATH may hold a comma. */
    if (!socket_addr_parse(uri, &addr, errp)) {
        return false;
    }
    ok = socket_listen(&addr, &monitor_listen_opts, &l->sock, errp);
    socket_addr_clear(&addr);
    return ok;
}

static void monitor_broadcast(const char *line);

static void monitor_state_init(void)
{
    if (!monitor_state.clients) {
        monitor_state.clients = g_ptr_array_new_with_free_func(
            monitor_client_free);
        monitor_state.listeners = g_ptr_array_new_with_free_func(
            monitor_listener_free);
        qmp_events_set_sink(monitor_broadcast);
    }
}

static void monitor_listener_start(MonitorListener *l)
{
    l->watch_id = g_unix_fd_add(l->sock.fd, G_IO_IN, monitor_listener_accept,
                                l);
    g_ptr_array_add(monitor_state.listeners, l);
}

static bool monitor_add_listener(MonitorMode mode, const char *option,
                                 const char *spec, Error **errp)
{
    MonitorListener *l = g_new0(MonitorListener, 1);

    monitor_state_init();
    l->mode = mode;
    if (!monitor_listen_spec(spec, l, errp)) {
        error_prepend(errp, "%s %s: ", option, spec);
        g_free(l);
        return false;
    }
    l->label = g_strdup_printf("compat_monitor%d", monitor_compat_count++);
    /* QEMU's spelling: the address and server=on, no other options. */
    l->filename = g_strdup_printf("%.*s,server=on", (int)strcspn(spec, ","),
                                  spec);
    monitor_listener_start(l);
    return true;
}

/* An inherited descriptor must be a listening stream socket. */
static bool monitor_adopt_fd(int fd, MonitorListener *l, Error **errp)
{
    struct sockaddr_un addr;
    socklen_t addr_len = sizeof(addr);
    int listening = 0;
    socklen_t len = sizeof(listening);

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
        !listening) {
        error_setg(errp, "fd=%d is not a listening socket", fd);
        return false;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "fd=%d", fd);
        return false;
    }
    l->sock.fd = fd;
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0 &&
        addr.sun_family == AF_UNIX && addr_len > sizeof(sa_family_t)) {
        l->filename = g_strdup_printf("unix:%s,server=on", addr.sun_path);
    } else {
        l->filename = g_strdup_printf("fd:%d,server=on", fd);
    }
    return true;
}

bool monitor_init_chardev(const char *id, const char *path, int fd,
                          bool qmp, Error **errp)
{
    MonitorListener *l = g_new0(MonitorListener, 1);

    monitor_state_init();
    l->mode = qmp ? MONITOR_MODE_QMP : MONITOR_MODE_HMP;
    l->sock.fd = -1;
    if (path ? !monitor_listen_unix(path, l, errp) :
        !monitor_adopt_fd(fd, l, errp)) {
        error_prepend(errp, "-chardev socket,id=%s: ", id);
        g_free(l);
        return false;
    }
    if (path) {
        l->filename = g_strdup_printf("unix:%s,server=on", path);
    }
    l->label = g_strdup(id);
    monitor_listener_start(l);
    return true;
}

ChardevInfoList *qmp_query_chardev(Error **errp)
{
    ChardevInfoList *head = NULL, **tail = &head;

    for (guint i = 0; monitor_state.listeners &&
         i < monitor_state.listeners->len; i++) {
        MonitorListener *l = g_ptr_array_index(monitor_state.listeners, i);
        ChardevInfoList *elem = g_new0(ChardevInfoList, 1);

        elem->value = g_new0(ChardevInfo, 1);
        elem->value->label = g_strdup(l->label);
        /* QEMU's spelling: "disconnected:" while no client is there. */
        elem->value->filename = g_strdup_printf(
            "%s%s", l->client_count ? "" : "disconnected:", l->filename);
        elem->value->frontend_open = true;
        *tail = elem;
        tail = &elem->next;
    }
    return head;
}

bool monitor_init_qmp(const char *spec, Error **errp)
{
    return monitor_add_listener(MONITOR_MODE_QMP, "-qmp", spec, errp);
}

bool monitor_init_hmp(const char *spec, Error **errp)
{
    if (strcmp(spec, "stdio") == 0) {
        return monitor_hmp_stdio_init(errp);
    }
    return monitor_add_listener(MONITOR_MODE_HMP, "-monitor", spec, errp);
}

/* ---- events: qmp-events.c's sink */

static void monitor_broadcast(const char *line)
{
    GPtrArray *clients = monitor_state.clients;

    for (guint i = 0; clients && i < clients->len; i++) {
        MonitorClient *c = g_ptr_array_index(clients, i);

        if (c->mode == MONITOR_MODE_QMP && c->qmp.session.negotiated &&
            !c->dead) {
            monitor_client_send(c, line);
        }
    }
}

/* ---- teardown */

/* Give each client a last chance to receive what it is owed. */
static void monitor_flush_all(void)
{
    int64_t deadline_ms = clock_ms() + MONITOR_CLEANUP_FLUSH_MS;

    for (guint i = 0; i < monitor_state.clients->len; i++) {
        MonitorClient *c = g_ptr_array_index(monitor_state.clients, i);

        for (;;) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
            int64_t left_ms = deadline_ms - clock_ms();

            monitor_client_flush(c);
            if (c->dead || !c->out->len || left_ms <= 0 ||
                poll(&pfd, 1, left_ms) <= 0) {
                break;
            }
        }
    }
}

void monitor_cleanup(void)
{
    qmp_events_close();

    monitor_hmp_stdio_cleanup();
    monitor_fds_cleanup();
    if (!monitor_state.clients) {
        return;
    }
    monitor_flush_all();
    if (monitor_state.reaper_id) {
        g_source_remove(monitor_state.reaper_id);
        monitor_state.reaper_id = 0;
    }
    g_ptr_array_unref(monitor_state.clients);
    g_ptr_array_unref(monitor_state.listeners);
    monitor_state.clients = NULL;
    monitor_state.listeners = NULL;
}
