/*
 * libFuzzer target: bytes -> QMP framing -> json-glib -> dispatch ->
 * generated argument checking -> reply text, as a client's bytes go.
 *
 * The command table is qapi_commands_check_only: the same generated
 * argument checking as the real commands, with no handler and no VM.
 * The first input byte picks how the rest is cut into reads and whether
 * the session starts negotiated; the rest is the stream.
 *
 * Built and run by scripts/run-fuzz (clang -fsanitize=fuzzer,address).
 */
#include "qemu/osdep.h"

#include "monitor/json-splitter.h"
#include "monitor/qmp-dispatch.h"
#include "qapi/qapi-visit.h"

/* Small limits so the fuzzer reaches them with short inputs. */
#define FUZZ_MAX_MESSAGE_BYTES 4096
#define FUZZ_MAX_DEPTH 64

static void fuzz_message(void *opaque, const char *text, size_t len,
                         Error *err)
{
    QmpSession *session = opaque;
    JsonObject *reply;
    g_autofree char *line = NULL;

    if (err) {
        reply = qmp_error_response(err, NULL);
    } else {
        reply = qmp_dispatch_text(session, text, len);
    }
    line = qmp_to_line(reply);
    json_object_unref(reply);
    assert(g_str_has_suffix(line, "\r\n"));
    assert(!strchr(line, '\n') || strchr(line, '\n') == line +
           strlen(line) - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    QmpSession session = { .commands = qapi_commands_check_only };
    JsonSplitter js;
    size_t chunk_bytes, offset = 1;

    if (size < 1) {
        return 0;
    }
    session.negotiated = data[0] & 1;
    chunk_bytes = (data[0] >> 1) + 1;     /* 1 .. 128 bytes per read */
    json_splitter_init(&js, FUZZ_MAX_MESSAGE_BYTES, FUZZ_MAX_DEPTH,
                       fuzz_message, &session);
    while (offset < size) {
        size_t n = MIN(chunk_bytes, size - offset);

        json_splitter_feed(&js, (const char *)data + offset, n);
        offset += n;
    }
    json_splitter_destroy(&js);
    return 0;
}
