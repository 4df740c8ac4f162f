/*
 * Migration transports on loopback, no KVM: a connect that hangs
 * (the destination's accept queue is full) survives signals and ends
 * cleanly when cancelled.
 */
#include "qemu/osdep.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include "migration/channel.h"
#include "qemu/atomic.h"

/* Connections tried while filling the accept queue of a backlog-0
 * listener (Linux queues one, then drops SYNs). */
#define FILL_MAX_CONNECTIONS 8
/* A connect still pending after this long is held by the full queue. */
#define FILL_PENDING_MS 200
/* Signals sent to the connecting thread before the cancel, and the gap. */
#define SIGNALS_BEFORE_CANCEL 10
#define SIGNAL_GAP_US 10000

typedef struct Connector {
    MigrationUri uri;
    int cancelled;              /* (atomic) */
    pthread_t thread;
    int started;                /* (atomic) thread is set */
    int fd;
    Error *err;
} Connector;

static void on_signal(int sig)
{
}

static gpointer connector_run(gpointer opaque)
{
    Connector *c = opaque;

    c->thread = pthread_self();
    qatomic_store_release(&c->started, 1);
    c->fd = migration_channel_connect(&c->uri, &c->cancelled, &c->err);
    return NULL;
}

/* A backlog-0 listener on 127.0.0.1 whose queue holds a connection
 * nobody accepts, so the next connect hangs; its port, or 0. */
static int listener_with_full_queue(int *listen_fd, GArray *fillers)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);

    *listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(*listen_fd, >=, 0);
    g_assert_cmpint(bind(*listen_fd, (struct sockaddr *)&sin, sizeof(sin)),
                    ==, 0);
    g_assert_cmpint(listen(*listen_fd, 0), ==, 0);
    g_assert_cmpint(getsockname(*listen_fd, (struct sockaddr *)&sin, &len),
                    ==, 0);
    for (int i = 0; i < FILL_MAX_CONNECTIONS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        0);
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };

        g_array_append_val(fillers, fd);
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
            continue;
        }
        g_assert_cmpint(errno, ==, EINPROGRESS);
        if (poll(&pfd, 1, FILL_PENDING_MS) == 0) {
            return ntohs(sin.sin_port);     /* the queue is full */
        }
    }
    return 0;
}

static void test_a_hanging_connect_survives_signals_and_cancels(void)
{
    struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART */
    g_autoptr(GArray) fillers = g_array_new(false, false, sizeof(int));
    Connector c = { .fd = -1 };
    GThread *t;
    int listen_fd, port;

    port = listener_with_full_queue(&listen_fd, fillers);
    if (!port) {
        g_test_skip("the kernel accepted every connection: no full queue");
        goto out;
    }
    sigemptyset(&sa.sa_mask);
    g_assert_cmpint(sigaction(SIGUSR2, &sa, NULL), ==, 0);
    c.uri.kind = MIGRATION_URI_TCP;
    c.uri.host = g_strdup("127.0.0.1");
    c.uri.port = g_strdup_printf("%d", port);
    t = g_thread_new("connector", connector_run, &c);
    while (!qatomic_load_acquire(&c.started)) {
        g_usleep(1000);
    }
    /* Interrupt its poll() a few times: errno becomes EINTR. */
    for (int i = 0; i < SIGNALS_BEFORE_CANCEL; i++) {
        pthread_kill(c.thread, SIGUSR2);
        g_usleep(SIGNAL_GAP_US);
    }
    qatomic_store_release(&c.cancelled, 1);
    g_thread_join(t);
    g_assert_cmpint(c.fd, ==, -1);
    g_assert_nonnull(c.err);
    g_assert_nonnull(strstr(error_get_pretty(c.err), "connect cancelled"));
    error_free(c.err);
    migration_uri_clear(&c.uri);
out:
    for (guint i = 0; i < fillers->len; i++) {
        close(g_array_index(fillers, int, i));
    }
    close(listen_fd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/channel/a-hanging-connect-survives-signals-"
                    "and-cancels",
                    test_a_hanging_connect_survives_signals_and_cancels);
    return g_test_run();
}
