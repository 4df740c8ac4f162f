/*
 * The monitor servers: listening sockets, clients, QMP framing and
 * replies, event broadcast.  Everything here runs on the main thread's
 * GMainContext except monitor_qapi_event_emit(), which any thread calls.
 *
 *   socket bytes -> JsonSplitter -> one JSON text -> qmp_dispatch_text()
 *   (VM lock held) -> reply line -> the client's output buffer -> socket
 */
#include "qemu/osdep.h"

#include <fcntl.h>
#include <glib-unix.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "monitor/json-splitter.h"
#include "monitor/monitor-internal.h"
#include "monitor/qmp-dispatch.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

/* Clients of all servers together; one more is told so and closed. */
#define MONITOR_MAX_CLIENTS 64
/*
 * The largest QMP message: restraint's biggest request (a migrate URI,
 * a list of capabilities) is well under 1 KiB, so 1 MiB leaves room and
 * bounds what 64 clients can make us hold (64 MiB).
 */
#define QMP_MAX_MESSAGE_BYTES (1 * MiB)
/* QEMU's nesting limit; json-glib recurses once per level. */
#define QMP_MAX_DEPTH 1024
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
    int fd;
    guint watch_id;
    char *label;                /* the chardev id, for query-chardev */
    char *filename;             /* "unix:PATH,server=on", ... */
    int client_count;           /* connected now */
    char *unix_path;            /* ours to unlink, or NULL */
    dev_t unix_dev;
    ino_t unix_ino;
} MonitorListener;

typedef struct MonitorClient {
    MonitorMode mode;
    int fd;
    MonitorListener *listener;  /* outlives its clients */
    int received_fd;            /* the last SCM_RIGHTS fd, or -1 */
    guint in_watch;
    guint out_watch;
    GString *out;               /* bytes not yet sent */
    bool dead;                  /* closed by the next reap */
    JsonSplitter splitter;      /* QMP */
    QmpSession session;         /* QMP */
    GString *line;              /* HMP: the line so far */
    bool line_too_long;         /* HMP */
    guint wait_id;              /* HMP: a command is still running */
    GString *unread;            /* HMP: input after that command */
} MonitorClient;

typedef struct MonitorState {
    GPtrArray *listeners;
    GPtrArray *clients;
    guint reaper_id;
} MonitorState;

/* Events may come from any thread: they wait here for the main thread. */
typedef struct MonitorEvents {
    QemuMutex lock;
    GQueue lines;               /* of char *, each a whole line */
    bool scheduled;             /* an idle source will drain */
    bool closed;                /* after monitor_cleanup(): drop */
} MonitorEvents;

static MonitorState monitor_state;
static MonitorEvents monitor_events;
/* The QMP client whose request runs now (main thread), for getfd. */
static MonitorClient *monitor_cur_client;
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
    if (c->wait_id) {
        g_source_remove(c->wait_id);
    }
    close(c->fd);
    if (c->received_fd >= 0) {
        close(c->received_fd);
    }
    c->listener->client_count--;
    json_splitter_destroy(&c->splitter);
    g_string_free(c->out, TRUE);
    if (c->line) {
        g_string_free(c->line, TRUE);
        g_string_free(c->unread, TRUE);
    }
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

static void monitor_client_send_json(MonitorClient *c, JsonObject *msg)
{
    g_autofree char *line = qmp_to_line(msg);

    json_object_unref(msg);
    monitor_client_send(c, line);
}

/* The splitter's callback: one whole QMP message, or why there is none. */
static void monitor_qmp_message(void *opaque, const char *text, size_t len,
                                Error *err)
{
    MonitorClient *c = opaque;
    JsonObject *reply;

    if (c->dead) {
        error_free(err);
        return;
    }
    if (err) {
        reply = qmp_error_response(err, NULL);
    } else {
        trace_qmp_request(c->fd, len);
        vm_lock();
        monitor_cur_client = c;
        reply = qmp_dispatch_text(&c->session, text, len);
        monitor_cur_client = NULL;
        vm_unlock();
    }
    monitor_client_send_json(c, reply);
}

static JsonObject *monitor_qmp_greeting(void)
{
    g_autoptr(VersionInfo) version = qmp_query_version(NULL);
    JsonObject *greeting = json_object_new();
    JsonObject *qmp = json_object_new();

    json_object_set_member(qmp, "version", visit_out_VersionInfo(version));
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    json_object_set_object_member(greeting, "QMP", qmp);
    return greeting;
}

static gboolean monitor_client_readable(int fd, GIOCondition cond,
                                        gpointer opaque);
static void monitor_hmp_input(MonitorClient *c, const char *data,
                              size_t len);

/* The waiting command ended: prompt, then the input held back. */
static void monitor_hmp_wait_done(void *opaque, GString *out)
{
    MonitorClient *c = opaque;
    g_autoptr(GString) unread = c->unread;

    c->wait_id = 0;
    c->unread = g_string_new(NULL);
    g_string_append(out, HMP_PROMPT);
    monitor_client_send(c, out->str);
    monitor_hmp_input(c, unread->str, unread->len);
    if (!c->wait_id && !c->dead && !c->in_watch) {
        c->in_watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                    monitor_client_readable, c);
    }
}

static void monitor_hmp_run_line(MonitorClient *c, const char *line)
{
    Monitor mon = { .out = g_string_new(NULL) };

    vm_lock();
    hmp_handle_line(&mon, line);
    vm_unlock();
    if (mon.wait) {
        c->wait_id = hmp_wait_start(mon.wait, monitor_hmp_wait_done, c);
    } else {
        monitor_printf(&mon, HMP_PROMPT);
    }
    monitor_client_send(c, mon.out->str);
    g_string_free(mon.out, TRUE);
}

static void monitor_hmp_input(MonitorClient *c, const char *data, size_t len)
{
    for (size_t i = 0; i < len && !c->dead; i++) {
        if (c->wait_id) {
            g_string_append_len(c->unread, data + i, len - i);
            return;
        }
        if (data[i] != '\n') {
            if (c->line->len >= HMP_MAX_LINE_BYTES) {
                c->line_too_long = true;
                g_string_truncate(c->line, 0);
            }
            if (data[i] != '\r') {
                g_string_append_c(c->line, data[i]);
            }
            continue;
        }
        if (c->line_too_long) {
            monitor_client_send(c, "line too long\r\n" HMP_PROMPT);
            c->line_too_long = false;
        } else {
            monitor_hmp_run_line(c, c->line->str);
        }
        g_string_truncate(c->line, 0);
    }
}

int monitor_take_received_fd(void)
{
    int fd;

    if (!monitor_cur_client) {
        return -1;
    }
    fd = monitor_cur_client->received_fd;
    monitor_cur_client->received_fd = -1;
    return fd;
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
            if (c->received_fd >= 0) {
                close(c->received_fd);
            }
            c->received_fd = fd;
            trace_monitor_client_received_fd(c->fd, fd);
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
        json_splitter_feed(&c->splitter, buf, len);
    } else {
        monitor_hmp_input(c, buf, len);
    }
    /* Dead, or HMP waiting for a command: read no more for now. */
    if (c->dead || c->wait_id) {
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
    c->received_fd = -1;
    l->client_count++;
    c->out = g_string_new(NULL);
    g_ptr_array_add(monitor_state.clients, c);
    trace_monitor_client_open(fd, monitor_state.clients->len);
    c->in_watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                monitor_client_readable, c);
    if (mode == MONITOR_MODE_QMP) {
        json_splitter_init(&c->splitter, QMP_MAX_MESSAGE_BYTES,
                           QMP_MAX_DEPTH, monitor_qmp_message, c);
        c->session.commands = qapi_commands;
        monitor_client_send_json(c, monitor_qmp_greeting());
    } else {
        c->line = g_string_new(NULL);
        c->unread = g_string_new(NULL);
        monitor_client_send(c, HMP_BANNER HMP_PROMPT);
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
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
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
    struct stat st;

    g_source_remove(l->watch_id);
    close(l->fd);
    /* Unlink our socket, not one someone put in its place since. */
    if (l->unix_path && lstat(l->unix_path, &st) == 0 &&
        st.st_dev == l->unix_dev && st.st_ino == l->unix_ino) {
        unlink(l->unix_path);
    }
    g_free(l->unix_path);
    g_free(l->label);
    g_free(l->filename);
    g_free(l);
}

/* A socket file nobody listens on is left over from a dead process. */
static bool monitor_unix_is_stale(const struct sockaddr_un *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool stale;

    if (fd < 0) {
        return false;
    }
    stale = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 &&
            (errno == ECONNREFUSED || errno == ENOENT);
    close(fd);
    return stale;
}

static int monitor_listen_unix(const char *path, MonitorListener *l,
                               Error **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        error_setg(errp, "socket path is longer than %zu bytes",
                   sizeof(addr.sun_path) - 1);
        return -1;
    }
    strcpy(addr.sun_path, path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error_setg(errp, "'%s' exists and is not a socket", path);
            return -1;
        }
        if (!monitor_unix_is_stale(&addr)) {
            error_setg(errp, "'%s' is in use by another process", path);
            return -1;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot create a socket");
        return -1;
    }
    /* On Linux the socket's mode becomes the file's: no window at 0644. */
    if (fchmod(fd, 0600) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0 ||
        lstat(path, &st) < 0) {
        error_setg_errno(errp, errno, "cannot listen on '%s'", path);
        close(fd);
        return -1;
    }
    l->unix_path = g_strdup(path);
    l->unix_dev = st.st_dev;
    l->unix_ino = st.st_ino;
    return fd;
}

static int monitor_listen_tcp(const char *host, const char *port,
                              Error **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    int err, fd = -1, saved_errno = 0;

    err = getaddrinfo(host, port, &hints, &res);
    if (err) {
        error_setg(errp, "cannot resolve '%s': %s", host, gai_strerror(err));
        return -1;
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        int one = 1;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                    SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            listen(fd, SOMAXCONN) < 0) {
            saved_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved_errno, "cannot listen on %s:%s", host,
                         port);
    }
    return fd;
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

static int monitor_listen_spec(const char *spec, MonitorListener *l,
                               Error **errp)
{
    g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
    const char *addr = parts[0];
    g_autofree char *host = NULL;
    const char *port;

    if (!monitor_check_options(parts + 1, errp)) {
        return -1;
    }
    if (g_str_has_prefix(addr, "unix:") && addr[5]) {
        return monitor_listen_unix(addr + 5, l, errp);
    }
    if (!g_str_has_prefix(addr, "tcp:")) {
        error_setg(errp, "expected unix:PATH or tcp:HOST:PORT");
        return -1;
    }
    addr += 4;
    if (addr[0] == '[') {
        const char *close_bracket = strchr(addr, ']');

        if (!close_bracket || close_bracket[1] != ':') {
            error_setg(errp, "expected tcp:[IPV6]:PORT");
            return -1;
        }
        host = g_strndup(addr + 1, close_bracket - addr - 1);
        port = close_bracket + 2;
    } else {
        port = strrchr(addr, ':');
        if (!port) {
            error_setg(errp, "expected tcp:HOST:PORT");
            return -1;
        }
        host = g_strndup(addr, port - addr);
        port++;
    }
    if (!*host) {
        g_free(host);
        host = g_strdup("127.0.0.1");   /* loopback unless asked */
    }
    if (!*port || strspn(port, "0123456789") != strlen(port) ||
        atoi(port) > 65535) {
        error_setg(errp, "port '%s' is not a number in [0, 65535]", port);
        return -1;
    }
    return monitor_listen_tcp(host, port, errp);
}

static void monitor_state_init(void)
{
    if (!monitor_state.clients) {
        monitor_state.clients = g_ptr_array_new_with_free_func(
            monitor_client_free);
        monitor_state.listeners = g_ptr_array_new_with_free_func(
            monitor_listener_free);
    }
}

static void monitor_listener_start(MonitorListener *l)
{
    l->watch_id = g_unix_fd_add(l->fd, G_IO_IN, monitor_listener_accept, l);
    g_ptr_array_add(monitor_state.listeners, l);
}

static bool monitor_add_listener(MonitorMode mode, const char *option,
                                 const char *spec, Error **errp)
{
    MonitorListener *l = g_new0(MonitorListener, 1);

    monitor_state_init();
    l->mode = mode;
    l->fd = monitor_listen_spec(spec, l, errp);
    if (l->fd < 0) {
        error_prepend(errp, "%s %s: ", option, spec);
        g_free(l->unix_path);
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
    l->fd = fd;
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
    if (path) {
        l->fd = monitor_listen_unix(path, l, errp);
        l->filename = g_strdup_printf("unix:%s,server=on", path);
    } else if (!monitor_adopt_fd(fd, l, errp)) {
        l->fd = -1;
    }
    if (l->fd < 0) {
        error_prepend(errp, "-chardev socket,id=%s: ", id);
        g_free(l->unix_path);
        g_free(l->filename);
        g_free(l);
        return false;
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

/* ---- events */

static void monitor_broadcast(const char *line)
{
    GPtrArray *clients = monitor_state.clients;

    for (guint i = 0; clients && i < clients->len; i++) {
        MonitorClient *c = g_ptr_array_index(clients, i);

        if (c->mode == MONITOR_MODE_QMP && c->session.negotiated &&
            !c->dead) {
            monitor_client_send(c, line);
        }
    }
}

static void monitor_drain_events(void)
{
    GQueue lines = G_QUEUE_INIT;
    char *line;

    qemu_mutex_lock(&monitor_events.lock);
    lines = monitor_events.lines;
    g_queue_init(&monitor_events.lines);
    qemu_mutex_unlock(&monitor_events.lock);

    while ((line = g_queue_pop_head(&lines))) {
        monitor_broadcast(line);
        g_free(line);
    }
}

static gboolean monitor_events_cb(gpointer opaque)
{
    qemu_mutex_lock(&monitor_events.lock);
    monitor_events.scheduled = false;
    qemu_mutex_unlock(&monitor_events.lock);
    monitor_drain_events();
    return G_SOURCE_REMOVE;
}

void monitor_qapi_event_emit(const char *event_name, JsonObject *data)
{
    gint64 now_us = g_get_real_time();
    JsonObject *msg = json_object_new();
    JsonObject *timestamp = json_object_new();
    bool schedule = false;
    char *line;

    json_object_set_string_member(msg, "event", event_name);
    if (data) {
        json_object_set_object_member(msg, "data", data);
    }
    json_object_set_int_member(timestamp, "seconds", now_us / G_USEC_PER_SEC);
    json_object_set_int_member(timestamp, "microseconds",
                               now_us % G_USEC_PER_SEC);
    json_object_set_object_member(msg, "timestamp", timestamp);
    line = qmp_to_line(msg);
    json_object_unref(msg);
    trace_qmp_event(event_name);

    bool owner = g_main_context_is_owner(g_main_context_default());

    qemu_mutex_lock(&monitor_events.lock);
    if (monitor_events.closed) {
        g_free(line);
    } else {
        g_queue_push_tail(&monitor_events.lines, line);
        /* The main thread drains at once below: nothing to schedule. */
        schedule = !owner && !monitor_events.scheduled;
        monitor_events.scheduled |= schedule;
    }
    qemu_mutex_unlock(&monitor_events.lock);

    if (owner) {
        monitor_drain_events();     /* in order with the replies */
    } else if (schedule) {
        GSource *source = g_idle_source_new();

        g_source_set_priority(source, G_PRIORITY_DEFAULT);
        g_source_set_callback(source, monitor_events_cb, NULL, NULL);
        g_source_attach(source, NULL);
        g_source_unref(source);
    }
}

/* ---- teardown */

/* Give each client a last chance to receive what it is owed. */
static void monitor_flush_all(void)
{
    gint64 deadline_us = g_get_monotonic_time() +
                         MONITOR_CLEANUP_FLUSH_MS * 1000;

    for (guint i = 0; i < monitor_state.clients->len; i++) {
        MonitorClient *c = g_ptr_array_index(monitor_state.clients, i);

        for (;;) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
            gint64 left_ms = (deadline_us - g_get_monotonic_time()) / 1000;

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
    qemu_mutex_lock(&monitor_events.lock);
    monitor_events.scheduled = true;    /* no more idle sources */
    qemu_mutex_unlock(&monitor_events.lock);
    monitor_drain_events();
    qemu_mutex_lock(&monitor_events.lock);
    monitor_events.closed = true;
    qemu_mutex_unlock(&monitor_events.lock);

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
