/*
 * Incoming migration: -incoming URI|defer, migrate-incoming, the
 * `migration-incoming` thread that loads the stream, and the hand-over.
 *
 * A connection is a migration only once its header is accepted: the
 * thread first waits up to INCOMING_HEADER_TIMEOUT_MS for a header this
 * VM can take.  A connection that stays silent, closes, or sends
 * anything else (garbage, another restraint's incompatible stream) is
 * dropped, its reason sent back and logged, and the listener takes the
 * next one: nothing reached the guest, so a stray connection never
 * spoils a destination (the status stays setup).  exec: and fd: have
 * one connection only, their relay's: there, a bad header fails the
 * incoming migration as a bad stream would.  A failure after the
 * header goes back to the source as its reason (the return path).
 *
 * The main loop accepts one connection; the thread reads and checks the
 * whole stream (migration/stream.c writes pages only at checked
 * addresses inside guest RAM), loads the vCPU states, answers "loaded",
 * and on the source's "go" gives the guest the source's run state: a
 * running guest starts, or stays paused when restraint was started with
 * -S or got a stop while waiting (QEMU's behaviour); a paused or crashed
 * one stays so.  A failure leaves
 * the VM in inmigrate, never run; migrate-incoming may be tried again.
 */
#include "qemu/osdep.h"

#include <glib-unix.h>
#include <sys/socket.h>

#include "hw/guest-abi.h"
#include "migration/channel.h"
#include "migration/incoming.h"
#include "migration/misc.h"
#include "migration/migration.h"
#include "migration/options.h"
#include "migration/vmstate.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qemu/atomic.h"
#include "qemu/clock.h"
#include "sysemu/cpus.h"
#include "sysemu/physmem.h"
#include "sysemu/runstate.h"
#include "sysemu/vm-lock.h"
#include "trace.h"

/* The loader asks the physmem probe one batch at a time. */
_Static_assert(MIG_PROBE_PAGES == RAM_PROBE_MAX_PAGES,
               "a probe batch is the same number of pages on both sides");

/* How long the destination waits for the source's "go", ms. */
#define INCOMING_GO_TIMEOUT_MS 60000
/* A source sends its header as soon as it connected (ram_save_setup()
 * flushes it): a connection silent this long is not a migration, ms. */
#define INCOMING_HEADER_TIMEOUT_MS 5000
/* After a refusal, how long we read on so that the source reads our
 * reason before our close can reset the connection, ms. */
#define INCOMING_REFUSAL_LINGER_MS 2000

typedef struct IncomingState {
    int status;                 /* (atomic) MigrationStatus */
    bool enabled;               /* -incoming was given */
    bool autostart;             /* no -S */
    MigrationUri uri;           /* main thread */
    int listen_fd;
    guint listen_source;
    QemuMutex lock;                /* fd, error_desc */
    int fd;
    char *error_desc;
    GThread *thread;
    int thread_done;            /* (atomic) */
    int cancel;                 /* (atomic) */
    uint64_t bytes;             /* (atomic) read so far */
    int64_t start_ms;
    int64_t total_time_ms;
    /* exec: or fd: (a relay's one connection): no other will come. */
    bool one_shot;
    /* The header, read and checked before the parser reads it again. */
    uint8_t header[MIG_STREAM_HEADER_BYTES];
    size_t header_replay_bytes;     /* (incoming thread) left to serve */
} IncomingState;

static IncomingState incoming = {
    .status = MIGRATION_STATUS_NONE,
    .listen_fd = -1,
    .fd = -1,
};

static bool incoming_set_status(MigrationStatus old, MigrationStatus new)
{
    int expected = old;

    if (!qatomic_cmpxchg(&incoming.status, &expected, new)) {
        return false;
    }
    trace_migration_incoming_status(MigrationStatus_str(old),
                                    MigrationStatus_str(new));
    if (migrate_events()) {
        qapi_event_send_migration(new);
    }
    return true;
}

MigrationStatus migration_incoming_status(void)
{
    return qatomic_read_seq(&incoming.status);
}

static void incoming_stop_listening(void)
{
    if (incoming.listen_source) {
        g_source_remove(incoming.listen_source);
        incoming.listen_source = 0;
    }
    if (incoming.listen_fd >= 0) {
        close(incoming.listen_fd);
        incoming.listen_fd = -1;
        if (incoming.uri.kind == MIGRATION_URI_UNIX && incoming.uri.path) {
            unlink(incoming.uri.path);
        }
    }
    migration_uri_clear(&incoming.uri);
}

static gboolean incoming_accept_cb(gint fd, GIOCondition cond,
                                   gpointer opaque);

/*
 * Main loop, once the thread judged a header or was joined: close the
 * listener once a migration began, or listen again after a dropped
 * connection (status still setup, no thread).
 */
static void incoming_listener_update(void)
{
    if (incoming.listen_fd < 0 || incoming.listen_source) {
        return;
    }
    if (migration_incoming_status() != MIGRATION_STATUS_SETUP) {
        incoming_stop_listening();
    } else if (!incoming.thread) {
        trace_migration_incoming_rearm();
        incoming.listen_source = g_unix_fd_add(incoming.listen_fd, G_IO_IN,
                                               incoming_accept_cb, NULL);
    }
}

typedef struct IncomingReader {
    IncomingState *in;
    MigrationBufferedReader channel;
} IncomingReader;

/* The checked header again first, then the connection, buffered. */
static bool incoming_read(void *opaque, void *buf, size_t len, Error **errp)
{
    IncomingReader *r = opaque;
    IncomingState *in = r->in;
    size_t replay = MIN(len, in->header_replay_bytes);

    memcpy(buf, in->header + sizeof(in->header) - in->header_replay_bytes,
           replay);
    in->header_replay_bytes -= replay;
    if (len > replay &&
        !migration_buffered_reader_read(&r->channel, (uint8_t *)buf + replay,
                                        len - replay, errp)) {
        return false;
    }
    qatomic_fetch_add_relaxed(&r->in->bytes, len);
    return true;
}

/* The incoming migration failed: @err is its reason.  VM lock held. */
static void incoming_fail(IncomingState *in, MigrationStatus old,
                          Error *err)
{
    qemu_mutex_lock(&in->lock);
    g_free(in->error_desc);
    in->error_desc = g_strdup(error_get_pretty(err));
    qemu_mutex_unlock(&in->lock);
    error_report("incoming migration failed: %s", error_get_pretty(err));
    incoming_set_status(old, MIGRATION_STATUS_FAILED);
}

/*
 * Is this connection a migration to us?  Its header must come within
 * INCOMING_HEADER_TIMEOUT_MS and pass mig_header_check().  If not, the
 * peer hears why (a restraint source shows it; we linger for it to read
 * it) and the connection is dropped: false.
 */
static bool incoming_accept_header(IncomingState *in,
                                   const MigLoadTarget *target)
{
    MigStreamHeader h = { 0 };
    Error *err = NULL;

    if (migration_channel_read_within(in->fd, in->header, sizeof(in->header),
                                      INCOMING_HEADER_TIMEOUT_MS, &in->cancel,
                                      &err)) {
        mig_header_decode(in->header, &h);
        if (mig_header_check(&h, target, &err)) {
            in->header_replay_bytes = sizeof(in->header);
            vm_lock();
            incoming_set_status(MIGRATION_STATUS_SETUP,
                                MIGRATION_STATUS_ACTIVE);
            vm_unlock();
            return true;
        }
    } else {
        error_prepend(&err, "no migration stream header: ");
    }
    trace_migration_incoming_dropped(error_get_pretty(err));
    if (in->one_shot) {
        /* The relay's stream was all there was: nothing to wait for. */
        vm_lock();
        in->total_time_ms = clock_ms() - in->start_ms;
        incoming_fail(in, MIGRATION_STATUS_SETUP, err);
        vm_unlock();
    } else if (!qatomic_load_acquire(&in->cancel)) {
        warn_report("incoming migration: dropped a connection (%s); still "
                    "listening", error_get_pretty(err));
        migration_rp_refuse(in->fd, error_get_pretty(err),
                            h.magic == MIG_STREAM_MAGIC ?
                            INCOMING_REFUSAL_LINGER_MS : 0, &in->cancel);
    }
    error_free(err);
    return false;
}

/* "loaded", then wait for "go": false if the source did not commit. */
static bool incoming_handshake(IncomingState *in, Error **errp)
{
    uint64_t word = MIG_ACK_LOADED;

    if (!migration_channel_write_all(in->fd, &word, sizeof(word), errp)) {
        return false;
    }
    if (migration_channel_wait_readable(in->fd, INCOMING_GO_TIMEOUT_MS,
                                        &in->cancel) <= 0) {
        error_setg(errp, "the source did not commit the switchover");
        return false;
    }
    if (!migration_channel_read_all(in->fd, &word, sizeof(word), errp)) {
        error_prepend(errp, "the source ended the migration before "
                      "committing it: ");
        return false;
    }
    if (word != MIG_ACK_GO) {
        error_setg(errp, "unexpected reply 0x%016" PRIx64 " from the source",
                   word);
        return false;
    }
    return true;
}

/*
 * The guest arrives as the source had it (QEMU does the same with its
 * global state): a running guest runs unless -S or a stop came while
 * we waited, a paused one waits for cont, a crashed one stays crashed.
 * VM lock held.
 */
static void incoming_hand_over(IncomingState *in, RunState source_state)
{
    Error *err = NULL;

    bool autostart = in->autostart && !runstate_stop_on_arrival();

    trace_migration_incoming_hand_over(RunState_str(source_state),
                                       autostart);
    if (source_state != RUN_STATE_RUNNING) {
        runstate_set(source_state);
        return;
    }
    runstate_set(RUN_STATE_PAUSED);
    if (autostart && !vm_start(&err)) {
        error_report_err(err);
    }
}

static gboolean incoming_join_cb(gpointer opaque)
{
    if (incoming.thread &&
        qatomic_load_acquire(&incoming.thread_done)) {
        g_thread_join(incoming.thread);
        incoming.thread = NULL;
    }
    incoming_listener_update();
    return G_SOURCE_REMOVE;
}

/* The thread's last words: the connection goes, the main loop joins. */
static void incoming_thread_end(IncomingState *in)
{
    qemu_mutex_lock(&in->lock);
    close(in->fd);
    in->fd = -1;
    qemu_mutex_unlock(&in->lock);
    qatomic_store_release(&in->thread_done, 1);
    g_idle_add(incoming_join_cb, NULL);
}

static gpointer incoming_thread(gpointer opaque)
{
    IncomingState *in = opaque;
    g_autofree uint8_t *cpu_states =
        g_malloc0((size_t)cpus_count() * VMSTATE_CPU_BYTES);
    g_autofree IncomingReader *reader = g_new0(IncomingReader, 1);
    MigLoadTarget target = {
        .ram_bytes = ram_size(),
        .system_bytes = RS_SYS_SIZE,
        .cpu_count = cpus_count(),
        .cpu_state_bytes = VMSTATE_CPU_BYTES,
        .ram = ram_host_base(),
        .cpu_states = cpu_states,
        .probe_untouched = ram_probe_untouched,
    };
    MigLoadStats stats;
    Error *err = NULL;
    bool ok;

    if (!incoming_accept_header(in, &target)) {
        incoming_thread_end(in);
        return NULL;
    }
    /* A migration began: no other source may connect. */
    g_idle_add(incoming_join_cb, NULL);
    reader->in = in;
    migration_buffered_reader_init(&reader->channel, in->fd);
    ok = mig_stream_load(incoming_read, reader, &target, &stats, &in->cancel,
                         &err);
    if (ok) {
        vm_lock();
        ok = vmstate_load_cpus(cpu_states, &err);
        vm_unlock();
    }
    if (ok) {
        ok = incoming_handshake(in, &err);
    } else {
        /* Tell the source why, rather than by a close. */
        migration_rp_refuse(in->fd, error_get_pretty(err),
                            INCOMING_REFUSAL_LINGER_MS, &in->cancel);
    }
    trace_migration_incoming_done(ok, stats.bytes, stats.normal_pages,
                                  stats.zero_pages);

    vm_lock();
    in->total_time_ms = clock_ms() - in->start_ms;
    if (ok) {
        /* The state first: who sees "completed" may act on the guest. */
        incoming_hand_over(in, vmstate_run_state_decode(stats.run_state));
        incoming_set_status(MIGRATION_STATUS_ACTIVE,
                            MIGRATION_STATUS_COMPLETED);
    } else {
        incoming_fail(in, MIGRATION_STATUS_ACTIVE, err);
    }
    qatomic_store_release(&in->thread_done, 1);
    vm_unlock();

    error_free(err);
    incoming_thread_end(in);
    return NULL;
}

static gboolean incoming_accept_cb(gint fd, GIOCondition cond,
                                   gpointer opaque)
{
    Error *err = NULL;
    int conn = migration_channel_accept(fd, &err);

    if (conn < 0) {
        warn_report("incoming migration: %s", error_get_pretty(err));
        error_free(err);
        return G_SOURCE_CONTINUE;
    }
    trace_migration_incoming_accepted(conn);
    qemu_mutex_lock(&incoming.lock);
    incoming.fd = conn;
    qemu_mutex_unlock(&incoming.lock);
    incoming.cancel = 0;
    incoming.bytes = 0;
    incoming.thread_done = 0;
    incoming.header_replay_bytes = 0;
    incoming.start_ms = clock_ms();
    incoming.thread = g_thread_try_new("migration-incoming", incoming_thread,
                                       &incoming, NULL);
    if (!incoming.thread) {
        error_report("incoming migration: cannot create its thread");
        close(conn);
        incoming.fd = -1;
        return G_SOURCE_CONTINUE;
    }
    /* One connection at a time: the next waits until this one is judged. */
    incoming.listen_source = 0;
    return G_SOURCE_REMOVE;
}

static bool incoming_listen(const char *uri, Error **errp)
{
    if (!migration_uri_parse(uri, &incoming.uri, errp)) {
        return false;
    }
    incoming.listen_fd = migration_channel_listen(&incoming.uri, errp);
    if (incoming.listen_fd < 0) {
        migration_uri_clear(&incoming.uri);
        return false;
    }
    incoming.one_shot = incoming.uri.kind == MIGRATION_URI_FD ||
                        incoming.uri.kind == MIGRATION_URI_EXEC;
    incoming.listen_source = g_unix_fd_add(incoming.listen_fd, G_IO_IN,
                                           incoming_accept_cb, NULL);
    qemu_mutex_lock(&incoming.lock);
    g_free(incoming.error_desc);
    incoming.error_desc = NULL;
    qemu_mutex_unlock(&incoming.lock);
    incoming_set_status(migration_incoming_status(), MIGRATION_STATUS_SETUP);
    trace_migration_incoming_listen(uri);
    return true;
}

bool migration_incoming_init(const char *uri, bool autostart, Error **errp)
{
    incoming.enabled = true;
    incoming.autostart = autostart;
    if (!strcmp(uri, "defer")) {
        return true;
    }
    if (!incoming_listen(uri, errp)) {
        error_prepend(errp, "-incoming %s: ", uri);
        return false;
    }
    return true;
}

void qmp_migrate_incoming(const char *uri, Error **errp)
{
    MigrationStatus status = migration_incoming_status();

    incoming_join_cb(NULL);
    if (!incoming.enabled) {
        error_setg(errp, "migrate-incoming needs restraint started with "
                   "-incoming defer");
        return;
    }
    if (status == MIGRATION_STATUS_SETUP ||
        status == MIGRATION_STATUS_ACTIVE || incoming.thread) {
        error_setg(errp, "an incoming migration is already in progress");
        return;
    }
    if (status == MIGRATION_STATUS_COMPLETED ||
        runstate_get() != RUN_STATE_INMIGRATE) {
        error_setg(errp, "the guest is not waiting for an incoming "
                   "migration anymore");
        return;
    }
    incoming_listen(uri, errp);
}

MigrationInfo *migration_incoming_query(void)
{
    MigrationInfo *info = g_new0(MigrationInfo, 1);
    MigrationStatus status = migration_incoming_status();

    info->has_status = true;
    info->status = status;
    if (status != MIGRATION_STATUS_SETUP) {
        info->has_total_time = true;
        info->total_time = status == MIGRATION_STATUS_ACTIVE ?
                           clock_ms() - incoming.start_ms :
                           incoming.total_time_ms;
        info->ram = g_new0(MigrationStats, 1);
        info->ram->transferred = qatomic_read(&incoming.bytes);
        info->ram->total = ram_size();
        info->ram->page_size = RS_PAGE_SIZE;
    }
    qemu_mutex_lock(&incoming.lock);
    info->error_desc = g_strdup(incoming.error_desc);
    qemu_mutex_unlock(&incoming.lock);
    return info;
}

void migration_incoming_shutdown(void)
{
    incoming_stop_listening();
    qatomic_store_release(&incoming.cancel, 1);
    qemu_mutex_lock(&incoming.lock);
    if (incoming.fd >= 0) {
        shutdown(incoming.fd, SHUT_RDWR);
    }
    qemu_mutex_unlock(&incoming.lock);
    /* Joined without the VM lock: the thread takes it to finish. */
    if (incoming.thread) {
        g_thread_join(incoming.thread);
        incoming.thread = NULL;
    }
    g_free(incoming.error_desc);
    incoming.error_desc = NULL;
}
