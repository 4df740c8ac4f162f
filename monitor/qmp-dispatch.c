/*
 * QMP dispatch: request checks with QEMU's wording, capability
 * negotiation, the call through the generated table.
 */
#include "qemu/osdep.h"

#include "monitor/qmp-dispatch.h"

#define QMP_CAPABILITIES "qmp_capabilities"

const QmpCommand *qmp_find_command(const QmpCommand *commands,
                                   const char *name)
{
    for (const QmpCommand *cmd = commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }
    return NULL;
}

JsonObject *qmp_error_response(Error *err, JsonNode *id)
{
    JsonObject *reply = json_object_new();
    JsonObject *error = json_object_new();

    json_object_set_string_member(error, "class",
                                  error_class_name(error_get_class(err)));
    json_object_set_string_member(error, "desc", error_get_pretty(err));
    json_object_set_object_member(reply, "error", error);
    if (id) {
        json_object_set_member(reply, "id", json_node_copy(id));
    }
    error_free(err);
    return reply;
}

char *qmp_to_line(JsonObject *msg)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;

    json_node_set_object(root, msg);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    return g_strconcat(text, "\r\n", NULL);
}

/*
 * The request must be {"execute": STR, "arguments"?: OBJECT, "id"?: ANY}.
 * Returns the command name, or NULL with @errp set.
 */
static const char *qmp_check_request(JsonObject *request, Error **errp)
{
    JsonObjectIter iter;
    const char *member;
    JsonNode *value;
    const char *name = NULL;

    json_object_iter_init(&iter, request);
    while (json_object_iter_next(&iter, &member, &value)) {
        if (strcmp(member, "execute") == 0) {
            if (!JSON_NODE_HOLDS_VALUE(value) ||
                json_node_get_value_type(value) != G_TYPE_STRING) {
                error_setg(errp, "QMP input member 'execute' must be a "
                           "string");
                return NULL;
            }
            name = json_node_get_string(value);
        } else if (strcmp(member, "arguments") == 0) {
            if (!JSON_NODE_HOLDS_OBJECT(value)) {
                error_setg(errp, "QMP input member 'arguments' must be an "
                           "object");
                return NULL;
            }
        } else if (strcmp(member, "id") != 0) {
            error_setg(errp, "QMP input member '%s' is unexpected", member);
            return NULL;
        }
    }
    if (!name) {
        error_setg(errp, "QMP input lacks member 'execute'");
    }
    return name;
}

static const QmpCommand *qmp_lookup(QmpSession *session, const char *name,
                                    Error **errp)
{
    bool is_capabilities = strcmp(name, QMP_CAPABILITIES) == 0;
    const QmpCommand *cmd;

    if (!session->negotiated && !is_capabilities) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Expecting capabilities negotiation with '%s'",
                  QMP_CAPABILITIES);
        return NULL;
    }
    if (session->negotiated && is_capabilities) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command "
                  "ignored");
        return NULL;
    }
    cmd = qmp_find_command(session->commands, name);
    if (!cmd) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "The command %s has not been found", name);
    }
    return cmd;
}

JsonObject *qmp_dispatch(QmpSession *session, JsonNode *request)
{
    g_autoptr(JsonObject) no_args = NULL;
    JsonObject *obj, *args, *reply;
    JsonNode *id, *ret = NULL;
    const QmpCommand *cmd;
    const char *name;
    Error *err = NULL;

    if (!JSON_NODE_HOLDS_OBJECT(request)) {
        error_setg(&err, "QMP input must be a JSON object");
        return qmp_error_response(err, NULL);
    }
    obj = json_node_get_object(request);
    id = json_object_get_member(obj, "id");
    name = qmp_check_request(obj, &err);
    if (!name) {
        return qmp_error_response(err, id);
    }
    cmd = qmp_lookup(session, name, &err);
    if (!cmd) {
        return qmp_error_response(err, id);
    }
    if (json_object_has_member(obj, "arguments")) {
        args = json_object_get_object_member(obj, "arguments");
    } else {
        args = no_args = json_object_new();
    }

    cmd->fn(args, &ret, &err);
    if (err) {
        assert(!ret);
        return qmp_error_response(err, id);
    }
    assert(ret);
    if (strcmp(name, QMP_CAPABILITIES) == 0) {
        session->negotiated = true;
    }
    reply = json_object_new();
    json_object_set_member(reply, "return", ret);
    if (id) {
        json_object_set_member(reply, "id", json_node_copy(id));
    }
    return reply;
}

JsonObject *qmp_dispatch_text(QmpSession *session, const char *text,
                              size_t len)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *gerr = NULL;
    Error *err = NULL;

    if (!json_parser_load_from_data(parser, text, len, &gerr)) {
        error_setg(&err, "JSON parse error: %s", gerr->message);
        g_error_free(gerr);
        return qmp_error_response(err, NULL);
    }
    return qmp_dispatch(session, json_parser_get_root(parser));
}
