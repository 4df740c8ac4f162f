/*
 * util/sockets.c on loopback, no KVM: addresses parse or are refused
 * with the form expected; a UNIX listener is private, replaces a socket
 * file left by a dead process, refuses a live one and a non-socket, and
 * unlinks only its own file; TCP listen, accept and connect.
 */
#include "qemu/osdep.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "qemu/sockets.h"

#define CONNECT_TIMEOUT_MS 5000

static const struct {
    const char *str;
    bool ok;
    SocketAddrKind kind;
    const char *host, *port, *path;
    const char *error;          /* a part of the message when refused */
} addr_cases[] = {
    { "tcp:127.0.0.1:4444", true, SOCKET_ADDR_TCP, "127.0.0.1", "4444" },
    { "tcp::0", true, SOCKET_ADDR_TCP, "", "0" },
    { "tcp:[::1]:65535", true, SOCKET_ADDR_TCP, "::1", "65535" },
    { "tcp:host.example:80", true, SOCKET_ADDR_TCP, "host.example", "80" },
    { "unix:/run/x.sock", true, SOCKET_ADDR_UNIX, NULL, NULL, "/run/x.sock" },
    { "tcp:localhost:65536", false, .error = "from 0 to 65535" },
    { "tcp:localhost:000080", false, .error = "from 0 to 65535" },
    { "tcp:localhost:-1", false, .error = "from 0 to 65535" },
    { "tcp:localhost:", false, .error = "from 0 to 65535" },
    { "tcp:localhost", false, .error = "expected tcp:HOST:PORT" },
    { "tcp:[::1:80", false, .error = "expected tcp:[IPV6]:PORT" },
    { "unix:", false, .error = "UNIX socket path" },
    { "ftp:x", false, .error = "expected tcp:HOST:PORT or unix:PATH" },
};

static void test_addresses_parse_or_are_refused(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(addr_cases); i++) {
        SocketAddr a;
        Error *err = NULL;
        bool ok = socket_addr_parse(addr_cases[i].str, &a, &err);

        g_assert_cmpint(ok, ==, addr_cases[i].ok);
        if (!ok) {
            g_assert_nonnull(strstr(error_get_pretty(err),
                                    addr_cases[i].error));
            error_free(err);
            continue;
        }
        g_assert_cmpint(a.kind, ==, addr_cases[i].kind);
        g_assert_cmpstr(a.host, ==, addr_cases[i].host);
        g_assert_cmpstr(a.port, ==, addr_cases[i].port);
        g_assert_cmpstr(a.path, ==, addr_cases[i].path);
        socket_addr_clear(&a);
    }
}

static void test_unix_path_too_long_is_refused(void)
{
    g_autofree char *str = g_strdup_printf("unix:/%0200d", 0);
    SocketAddr a;
    Error *err = NULL;

    g_assert_false(socket_addr_parse(str, &a, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "1 to 107 bytes"));
    error_free(err);
}

static bool listen_on(const char *str, const SocketListenOpts *opts,
                      SocketListener *l, Error **errp)
{
    SocketAddr a;
    bool ok;

    g_assert_true(socket_addr_parse(str, &a, NULL));
    ok = socket_listen(&a, opts, l, errp);
    socket_addr_clear(&a);
    return ok;
}

static int connect_to(const char *str, Error **errp)
{
    SocketAddr a;
    int fd;

    g_assert_true(socket_addr_parse(str, &a, NULL));
    fd = socket_connect(&a, CONNECT_TIMEOUT_MS, NULL, errp);
    socket_addr_clear(&a);
    return fd;
}

static void test_unix_listener_is_private_and_unlinks_its_own(void)
{
    static const SocketListenOpts opts = { .unix_private = true };
    g_autofree char *dir = g_dir_make_tmp("test-sockets-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autofree char *str = g_strconcat("unix:", path, NULL);
    g_autofree char *old = g_strconcat(path, ".old", NULL);
    SocketListener l, l2;
    Error *err = NULL;
    struct stat st;
    int c, s;

    g_assert_true(listen_on(str, &opts, &l, NULL));
    g_assert_cmpint(l.fd, >=, 0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);

    /* A live listener is not taken over. */
    g_assert_false(listen_on(str, &opts, &l2, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "in use"));
    g_clear_pointer(&err, error_free);

    c = connect_to(str, NULL);
    s = socket_accept(l.fd, 0);
    g_assert_cmpint(s, >=, 0);
    g_assert_cmpint(write(c, "x", 1), ==, 1);
    close(c);
    close(s);

    /* Someone else's file in its place is left alone. */
    g_assert_cmpint(rename(path, old), ==, 0);
    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    socket_listener_close(&l);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));

    /* A file that is not a socket is refused... */
    g_assert_false(listen_on(str, &opts, &l2, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "is not a socket"));
    g_clear_pointer(&err, error_free);
    unlink(path);

    /* ...a socket left by a dead process is replaced... */
    g_assert_true(listen_on(str, &(SocketListenOpts){ 0 }, &l2,
                            NULL));
    close(l2.fd);
    g_assert_true(listen_on(str, &opts, &l, NULL));
    /* ...and closing ours unlinks it. */
    socket_listener_close(&l);
    g_assert_cmpint(stat(path, &st), <, 0);
    g_free(l2.unix_path);
    unlink(old);
    rmdir(dir);
}

static void test_unix_without_private_refuses_an_existing_path(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-sockets-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autofree char *str = g_strconcat("unix:", path, NULL);
    SocketListener l;
    Error *err = NULL;

    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    g_assert_false(listen_on(str, &(SocketListenOpts){ 0 }, &l, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "cannot listen on unix:"));
    error_free(err);
    unlink(path);
    rmdir(dir);
}

static void test_tcp_listen_accept_connect(void)
{
    static const SocketListenOpts opts = { .nonblock = true };
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    g_autofree char *str = NULL;
    SocketListener l;
    char byte = 0;
    int c, s, port;

    g_assert_true(listen_on("tcp:127.0.0.1:0", &opts, &l, NULL));
    g_assert_null(l.unix_path);
    /* Non-blocking: nobody is waiting yet. */
    g_assert_cmpint(socket_accept(l.fd, SOCK_NONBLOCK), <, 0);
    g_assert_cmpint(errno, ==, EAGAIN);
    g_assert_cmpint(getsockname(l.fd, (struct sockaddr *)&ss, &len), ==, 0);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    str = g_strdup_printf("tcp:127.0.0.1:%d", port);

    c = connect_to(str, NULL);
    g_assert_cmpint(c, >=, 0);
    s = socket_accept(l.fd, 0);
    g_assert_cmpint(s, >=, 0);
    g_assert_cmpint(write(c, "y", 1), ==, 1);
    g_assert_cmpint(read(s, &byte, 1), ==, 1);
    g_assert_cmpint(byte, ==, 'y');
    close(c);
    close(s);
    socket_listener_close(&l);
}

static void test_connect_refused_names_the_address(void)
{
    SocketListener l;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    g_autofree char *str = NULL;
    Error *err = NULL;

    /* A port nobody listens on: ours, closed. */
    g_assert_true(listen_on("tcp:127.0.0.1:0", &(SocketListenOpts){ 0 }, &l,
                            NULL));
    g_assert_cmpint(getsockname(l.fd, (struct sockaddr *)&ss, &len), ==, 0);
    str = g_strdup_printf("tcp:127.0.0.1:%d",
                          ntohs(((struct sockaddr_in *)&ss)->sin_port));
    socket_listener_close(&l);
    g_assert_cmpint(connect_to(str, &err), <, 0);
    g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                   "cannot connect to tcp:127.0.0.1:"));
    error_free(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sockets/parse", test_addresses_parse_or_are_refused);
    g_test_add_func("/sockets/unix-path-too-long",
                    test_unix_path_too_long_is_refused);
    g_test_add_func("/sockets/unix-private",
                    test_unix_listener_is_private_and_unlinks_its_own);
    g_test_add_func("/sockets/unix-existing",
                    test_unix_without_private_refuses_an_existing_path);
    g_test_add_func("/sockets/tcp", test_tcp_listen_accept_connect);
    g_test_add_func("/sockets/connect-refused",
                    test_connect_refused_names_the_address);
    return g_test_run();
}
