/*
 * The code qapi-gen.py generates, driven through the QMP dispatcher with
 * the check-only command table (argument checking, no handlers, no VM):
 * argument errors in QEMU's words, protocol errors, marshalling,
 * enum helpers, and introspection covering every command.
 */
#include "qemu/osdep.h"

#include "monitor/qmp-dispatch.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-introspect.h"
#include "qapi/qapi-visit.h"

/* Run @request on a session; returns the reply as compact JSON text. */
static char *run(QmpSession *session, const char *request)
{
    JsonObject *reply = qmp_dispatch_text(session, request, strlen(request));
    char *line = qmp_to_line(reply);

    json_object_unref(reply);
    g_assert_true(g_str_has_suffix(line, "\r\n"));
    line[strlen(line) - 2] = '\0';
    return line;
}

static void test_enum_str_and_parse(void)
{
    g_assert_cmpstr(RunState_str(RUN_STATE_GUEST_PANICKED), ==,
                    "guest-panicked");
    g_assert_cmpstr(RunState_str(RUN_STATE__MAX), ==, "(invalid)");
    g_assert_cmpint(RunState_parse("colo"), ==, RUN_STATE_COLO);
    g_assert_cmpint(RunState_parse("nope"), ==, -1);
    g_assert_cmpint(RunState_parse(NULL), ==, -1);
    g_assert_cmpint(ShutdownCause_parse("host-qmp-quit"), ==,
                    SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    g_assert_cmpint(SYS_EMU_TARGET_X86_64, ==, 0);
    g_assert_cmpstr(QMPCapability_str(QMP_CAPABILITY_OOB), ==, "oob");
}

static const struct {
    const char *request;
    const char *reply;
} arg_cases[] = {
    { "{\"execute\": \"x-set-workload\", \"arguments\": {}}",
      "Parameter 'cpu-index' is missing" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": {\"cpu-index\": 0}}",
      "Parameter 'kind' is missing" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": "
      "{\"cpu-index\": \"0\", \"kind\": \"write\"}}",
      "Invalid parameter type for 'cpu-index', expected: integer" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": "
      "{\"cpu-index\": 0, \"kind\": \"fly\"}}",
      "Parameter 'kind' does not accept value 'fly'" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": "
      "{\"cpu-index\": 0, \"kind\": \"write\", \"bogus\": 1}}",
      "Parameter 'bogus' is unexpected" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": "
      "{\"cpu-index\": 0, \"kind\": \"write\", \"rate\": -1}}",
      "Parameter 'rate' expects uint64_t" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": "
      "{\"cpu-index\": 0, \"kind\": \"write\", \"size\": 1.5}}",
      "Invalid parameter type for 'size', expected: integer" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": "
      "{\"cpu-index\": 0, \"kind\": \"write\", \"pattern\": null}}",
      "Invalid parameter type for 'pattern', expected: string" },
    { "{\"execute\": \"x-set-workload\", \"arguments\": {\"cpu-index\": 1, "
      "\"kind\": \"mixed\", \"size\": 4096, \"rate\": 5, "
      "\"pattern\": \"random\"}, \"id\": 7}",
      "{\"return\":{},\"id\":7}" },
    { "{\"execute\": \"human-monitor-command\", \"arguments\": "
      "{\"command-line\": 1}}",
      "Invalid parameter type for 'command-line', expected: string" },
    { "{\"execute\": \"human-monitor-command\", \"arguments\": "
      "{\"command-line\": \"x\", \"cpu-index\": true}}",
      "Invalid parameter type for 'cpu-index', expected: integer" },
    { "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}",
      "Parameter 'x' is unexpected" },
    { "{\"execute\": \"query-status\", \"id\": {\"any\": [\"thing\"]}}",
      "{\"return\":{},\"id\":{\"any\":[\"thing\"]}}" },
};

static void test_argument_errors(void)
{
    QmpSession session = {
        .commands = qapi_commands_check_only, .negotiated = true,
    };

    for (size_t i = 0; i < G_N_ELEMENTS(arg_cases); i++) {
        g_autofree char *reply = run(&session, arg_cases[i].request);

        if (arg_cases[i].reply[0] == '{') {
            g_assert_cmpstr(reply, ==, arg_cases[i].reply);
        } else {
            g_autofree char *want = g_strdup_printf(
                "{\"error\":{\"class\":\"GenericError\",\"desc\":\"%s\"}}",
                arg_cases[i].reply);

            g_assert_cmpstr(reply, ==, want);
        }
    }
}

static void test_nested_argument_paths(void)
{
    QmpSession session = { .commands = qapi_commands_check_only };
    g_autofree char *bad_elem = run(&session,
        "{\"execute\": \"qmp_capabilities\", "
        "\"arguments\": {\"enable\": [\"oob\", \"x\"]}, \"id\": 1}");
    g_autofree char *not_array = run(&session,
        "{\"execute\": \"qmp_capabilities\", "
        "\"arguments\": {\"enable\": \"oob\"}}");

    g_assert_cmpstr(bad_elem, ==, "{\"error\":{\"class\":\"GenericError\","
                    "\"desc\":\"Parameter 'enable[1]' does not accept value "
                    "'x'\"},\"id\":1}");
    g_assert_cmpstr(not_array, ==, "{\"error\":{\"class\":\"GenericError\","
                    "\"desc\":\"Invalid parameter type for 'enable', "
                    "expected: array\"}}");
    g_assert_false(session.negotiated);
}

static const struct {
    const char *request;
    const char *reply;
} protocol_cases[] = {
    /* Before negotiation. */
    { "{\"execute\": \"query-status\", \"id\": \"a\"}",
      "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Expecting "
      "capabilities negotiation with 'qmp_capabilities'\"},\"id\":\"a\"}" },
    { "{\"execute\": \"qmp_capabilities\", \"id\": 1}",
      "{\"return\":{},\"id\":1}" },
    /* After. */
    { "{\"execute\": \"qmp_capabilities\"}",
      "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Capabilities "
      "negotiation is already complete, command ignored\"}}" },
    { "{\"execute\": \"no-such-command\", \"id\": null}",
      "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command "
      "no-such-command has not been found\"},\"id\":null}" },
    { "[\"execute\"]",
      "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input must be "
      "a JSON object\"}}" },
    { "{\"id\": 5}",
      "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input lacks "
      "member 'execute'\"},\"id\":5}" },
    { "{\"execute\": 1}",
      "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member "
      "'execute' must be a string\"}}" },
    { "{\"execute\": \"stop\", \"arguments\": []}",
      "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member "
      "'arguments' must be an object\"}}" },
    { "{\"execute\": \"stop\", \"extra\": 1}",
      "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member "
      "'extra' is unexpected\"}}" },
};

static void test_protocol_errors(void)
{
    QmpSession session = { .commands = qapi_commands_check_only };

    for (size_t i = 0; i < G_N_ELEMENTS(protocol_cases); i++) {
        g_autofree char *reply = run(&session, protocol_cases[i].request);

        g_assert_cmpstr(reply, ==, protocol_cases[i].reply);
    }
}

static void test_parse_error_is_generic_error(void)
{
    QmpSession session = { .commands = qapi_commands_check_only };
    g_autofree char *reply = run(&session, "{\"execute\": }");

    g_assert_true(g_str_has_prefix(reply, "{\"error\":{\"class\":"
                                   "\"GenericError\",\"desc\":\"JSON parse "
                                   "error: "));
}

static char *node_to_text(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

static void test_marshal_out_and_back(void)
{
    g_autoptr(WorkloadInfoList) list = g_new0(WorkloadInfoList, 1);
    g_autoptr(WorkloadInfoList) back = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonNode) again = NULL;
    g_autofree char *text = NULL;
    g_autofree char *text_again = NULL;
    Error *err = NULL;

    list->value = g_new0(WorkloadInfo, 1);
    *list->value = (WorkloadInfo) {
        .cpu_index = 3, .kind = WORKLOAD_KIND_STAMP,
        .pattern = WORKLOAD_PATTERN_RANDOM, .region_offset = 16 * MiB,
        .region_size = 64 * MiB,
        .target_rate = 0, .pages_written = 12345, .bytes_read = 0,
        .sweeps = 7, .guest_tsc = (uint64_t)INT64_MAX, .exits = 42,
    };
    node = visit_out_WorkloadInfoList(list);
    text = node_to_text(node);
    g_assert_cmpstr(text, ==, "[{\"cpu-index\":3,\"kind\":\"stamp\","
                    "\"pattern\":\"random\",\"region-offset\":16777216,"
                    "\"region-size\":67108864,"
                    "\"target-rate\":0,\"pages-written\":12345,"
                    "\"bytes-read\":0,\"sweeps\":7,"
                    "\"guest-tsc\":9223372036854775807,\"exits\":42}]");
    g_assert_true(visit_in_WorkloadInfoList(node, "r", &back, &err));
    g_assert_null(err);
    again = visit_out_WorkloadInfoList(back);
    text_again = node_to_text(again);
    g_assert_cmpstr(text, ==, text_again);
}

static void test_optional_members_out(void)
{
    g_autoptr(SchemaInfo) info = g_new0(SchemaInfo, 1);
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *text = NULL;

    info->name = g_strdup("x");
    info->meta_type = SCHEMA_META_TYPE_ENUM;
    node = visit_out_SchemaInfo(info);
    text = node_to_text(node);
    g_assert_cmpstr(text, ==, "{\"name\":\"x\",\"meta-type\":\"enum\"}");
}

static JsonObject *find_entity(JsonArray *schema, const char *name)
{
    for (guint i = 0; i < json_array_get_length(schema); i++) {
        JsonObject *e = json_array_get_object_element(schema, i);

        if (strcmp(json_object_get_string_member(e, "name"), name) == 0) {
            return e;
        }
    }
    return NULL;
}

static void test_introspection_covers_every_command(void)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *schema;
    JsonObject *cmd, *args, *member;
    JsonArray *members;

    g_assert_true(json_parser_load_from_data(parser, qapi_introspect_json,
                                             -1, NULL));
    schema = json_node_get_array(json_parser_get_root(parser));
    for (const QmpCommand *c = qapi_commands; c->name; c++) {
        JsonObject *e = find_entity(schema, c->name);

        g_assert_nonnull(e);
        g_assert_cmpstr(json_object_get_string_member(e, "meta-type"), ==,
                        "command");
        g_assert_nonnull(find_entity(schema, json_object_get_string_member(
            e, "arg-type")));
        g_assert_nonnull(find_entity(schema, json_object_get_string_member(
            e, "ret-type")));
    }

    cmd = find_entity(schema, "x-set-workload");
    g_assert_cmpstr(json_array_get_string_element(
        json_object_get_array_member(cmd, "features"), 0), ==, "unstable");
    args = find_entity(schema, json_object_get_string_member(cmd,
                                                             "arg-type"));
    members = json_object_get_array_member(args, "members");
    /* cpu-index kind size rate pattern offset trace process speed loop */
    g_assert_cmpuint(json_array_get_length(members), ==, 10);
    member = json_array_get_object_element(members, 2);
    g_assert_cmpstr(json_object_get_string_member(member, "name"), ==,
                    "size");
    g_assert_cmpstr(json_object_get_string_member(member, "type"), ==,
                    "size");
    g_assert_true(json_object_has_member(member, "default"));
    member = json_array_get_object_element(members, 1);
    g_assert_cmpstr(json_object_get_string_member(member, "type"), ==,
                    "WorkloadKind");
    g_assert_false(json_object_has_member(member, "default"));
    g_assert_nonnull(find_entity(schema, "WorkloadKind"));
    g_assert_nonnull(find_entity(schema, "[WorkloadInfo]"));
    g_assert_nonnull(find_entity(schema, "SHUTDOWN"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qapi/enum/str-and-parse", test_enum_str_and_parse);
    g_test_add_func("/qapi/args/errors-in-qemu-words", test_argument_errors);
    g_test_add_func("/qapi/args/nested-paths-name-the-element",
                    test_nested_argument_paths);
    g_test_add_func("/qapi/dispatch/protocol-errors", test_protocol_errors);
    g_test_add_func("/qapi/dispatch/parse-error-is-generic-error",
                    test_parse_error_is_generic_error);
    g_test_add_func("/qapi/marshal/out-and-back", test_marshal_out_and_back);
    g_test_add_func("/qapi/marshal/absent-optional-members-are-omitted",
                    test_optional_members_out);
    g_test_add_func("/qapi/introspect/covers-every-command",
                    test_introspection_covers_every_command);
    return g_test_run();
}
