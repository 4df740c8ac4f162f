/*
 * HMP connections: a monitor socket's (server.c) and -monitor stdio.
 * One connection's input, whatever carries its bytes: bytes to lines, each line run under the VM lock, its
 * output and the prompt handed to the connection's send function.  A
 * command that waits (hmp_wait_until) holds back the input after it
 * until it ends; the connection stops reading meanwhile and is told to
 * resume after.  Main thread.
 */
#include "qemu/osdep.h"

#include <glib-unix.h>

#include "monitor/monitor-internal.h"
#include "sysemu/vm-lock.h"

void hmp_conn_init(HmpConn *h, HmpSendFunc *send, void (*resume)(void *),
                   void *opaque)
{
    memset(h, 0, sizeof(*h));
    h->line = g_string_new(NULL);
    h->unread = g_string_new(NULL);
    h->send = send;
    h->resume = resume;
    h->opaque = opaque;
    h->too_long_reply = "line too long\r\n";
    h->strip_cr = true;
    send(opaque, HMP_BANNER HMP_PROMPT);
}

/* The waiting command ended: prompt, then the input held back. */
static void hmp_conn_wait_done(void *opaque, GString *out)
{
    HmpConn *h = opaque;
    g_autoptr(GString) unread = h->unread;

    h->wait_id = 0;
    h->unread = g_string_new(NULL);
    g_string_append(out, HMP_PROMPT);
    h->send(h->opaque, out->str);
    hmp_conn_feed(h, unread->str, unread->len);
    if (!h->wait_id && !h->stopped) {
        h->resume(h->opaque);
    }
}

static void hmp_conn_run_line(HmpConn *h, const char *line)
{
    Monitor mon = { .out = g_string_new(NULL) };

    vm_lock();
    hmp_handle_line(&mon, line);
    vm_unlock();
    if (mon.wait) {
        h->wait_id = hmp_wait_start(mon.wait, hmp_conn_wait_done, h);
    } else {
        monitor_printf(&mon, HMP_PROMPT);
    }
    h->send(h->opaque, mon.out->str);
    g_string_free(mon.out, TRUE);
}

void hmp_conn_feed(HmpConn *h, const char *data, size_t len)
{
    for (size_t i = 0; i < len && !h->stopped; i++) {
        if (h->wait_id) {
            g_string_append_len(h->unread, data + i, len - i);
            return;
        }
        if (data[i] != '\n') {
            if (h->line->len >= HMP_MAX_LINE_BYTES) {
                h->too_long = true;
                g_string_truncate(h->line, 0);
            }
            if (data[i] != '\r' || !h->strip_cr) {
                g_string_append_c(h->line, data[i]);
            }
            continue;
        }
        if (h->too_long) {
            g_autofree char *reply = g_strconcat(h->too_long_reply,
                                                 HMP_PROMPT, NULL);

            h->send(h->opaque, reply);
            h->too_long = false;
        } else {
            hmp_conn_run_line(h, h->line->str);
        }
        g_string_truncate(h->line, 0);
    }
}

void hmp_conn_destroy(HmpConn *h)
{
    if (h->wait_id) {
        g_source_remove(h->wait_id);
    }
    g_string_free(h->line, TRUE);
    g_string_free(h->unread, TRUE);
    memset(h, 0, sizeof(*h));
}

/* ---- -monitor stdio */

typedef struct HMPStdio {
    guint watch_id;
    HmpConn conn;
} HMPStdio;

static HMPStdio *hmp_stdio;

static void hmp_stdio_send(void *opaque, const char *text)
{
    fputs(text, stdout);
    fflush(stdout);
}

static gboolean hmp_stdio_readable(int fd, GIOCondition cond, gpointer opaque)
{
    char buf[HMP_MAX_LINE_BYTES];
    ssize_t len = read(fd, buf, sizeof(buf));

    if (len < 0 && (errno == EINTR || errno == EAGAIN)) {
        return G_SOURCE_CONTINUE;
    }
    if (len <= 0) {
        hmp_stdio->watch_id = 0;    /* end of input: HMP stays quiet */
        return G_SOURCE_REMOVE;
    }
    hmp_conn_feed(&hmp_stdio->conn, buf, len);
    if (hmp_conn_busy(&hmp_stdio->conn)) {
        hmp_stdio->watch_id = 0;    /* back when the command ends */
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void hmp_stdio_resume(void *opaque)
{
    hmp_stdio->watch_id = g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP |
                                        G_IO_ERR, hmp_stdio_readable, NULL);
}

bool monitor_hmp_stdio_init(Error **errp)
{
    if (hmp_stdio) {
        error_setg(errp, "-monitor stdio: given twice");
        return false;
    }
    hmp_stdio = g_new0(HMPStdio, 1);
    hmp_conn_init(&hmp_stdio->conn, hmp_stdio_send, hmp_stdio_resume, NULL);
    /* A terminal's lines: kept as typed, as before. */
    hmp_stdio->conn.strip_cr = false;
    hmp_stdio->conn.too_long_reply = "line longer than "
        G_STRINGIFY(HMP_MAX_LINE_BYTES) " bytes ignored\n";
    hmp_stdio_resume(NULL);
    return true;
}

void monitor_hmp_stdio_cleanup(void)
{
    if (!hmp_stdio) {
        return;
    }
    if (hmp_stdio->watch_id) {
        g_source_remove(hmp_stdio->watch_id);
    }
    hmp_conn_destroy(&hmp_stdio->conn);
    g_free(hmp_stdio);
    hmp_stdio = NULL;
}
