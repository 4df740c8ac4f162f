/*
 * JSON <-> C for the QAPI builtin types; see qapi-visit-core.h.
 */
#include "qemu/osdep.h"

#include <math.h>

#include "qapi/qapi-visit-core.h"

void qapi_error_missing(const char *path, Error **errp)
{
    error_setg(errp, "Parameter '%s' is missing", path);
}

void qapi_error_type(const char *path, const char *expected, Error **errp)
{
    error_setg(errp, "Invalid parameter type for '%s', expected: %s",
               path ? path : "null", expected);
}

static void qapi_error_range(const char *path, const char *c_type,
                             Error **errp)
{
    error_setg(errp, "Parameter '%s' expects %s", path ? path : "null",
               c_type);
}

char *qapi_path_member(const char *path, const char *member)
{
    if (!path || !*path) {
        return g_strdup(member);
    }
    return g_strdup_printf("%s.%s", path, member);
}

char *qapi_path_index(const char *path, unsigned index)
{
    return g_strdup_printf("%s[%u]", path ? path : "", index);
}

bool qapi_in_object(JsonNode *node, const char *path, JsonObject **out,
                    Error **errp)
{
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        qapi_error_type(path, "object", errp);
        return false;
    }
    *out = json_node_get_object(node);
    return true;
}

bool qapi_in_array(JsonNode *node, const char *path, JsonArray **out,
                   Error **errp)
{
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        qapi_error_type(path, "array", errp);
        return false;
    }
    *out = json_node_get_array(node);
    return true;
}

bool qapi_check_members(JsonObject *obj, const char *path,
                        const char *const *known, Error **errp)
{
    JsonObjectIter iter;
    const char *name;
    JsonNode *value;

    json_object_iter_init(&iter, obj);
    while (json_object_iter_next(&iter, &name, &value)) {
        bool found = false;

        for (const char *const *k = known; *k; k++) {
            if (strcmp(*k, name) == 0) {
                found = true;
                break;
            }
        }
        if (!found) {
            g_autofree char *member_path = qapi_path_member(path, name);

            error_setg(errp, "Parameter '%s' is unexpected", member_path);
            return false;
        }
    }
    return true;
}

static bool qapi_holds_int(JsonNode *node)
{
    return JSON_NODE_HOLDS_VALUE(node) &&
           json_node_get_value_type(node) == G_TYPE_INT64;
}

/* Any integer type: read it as int64 and check [min, max]. */
static bool visit_in_signed(JsonNode *node, const char *path, int64_t min,
                            int64_t max, const char *c_type, int64_t *out,
                            Error **errp)
{
    int64_t value;

    if (!qapi_holds_int(node)) {
        qapi_error_type(path, "integer", errp);
        return false;
    }
    value = json_node_get_int(node);
    if (value < min || value > max) {
        qapi_error_range(path, c_type, errp);
        return false;
    }
    *out = value;
    return true;
}

/*
 * Unsigned integers.  The JSON reader refuses literals beyond
 * INT64_MAX (json-glib holds integers as int64), so every value that
 * reaches here fits; negative ones are refused.
 */
static bool visit_in_unsigned(JsonNode *node, const char *path,
                              uint64_t max, const char *c_type,
                              uint64_t *out, Error **errp)
{
    int64_t value;

    if (!qapi_holds_int(node)) {
        qapi_error_type(path, "integer", errp);
        return false;
    }
    value = json_node_get_int(node);
    if (value < 0 || (uint64_t)value > max) {
        qapi_error_range(path, c_type, errp);
        return false;
    }
    *out = value;
    return true;
}

bool visit_in_int64(JsonNode *node, const char *path, int64_t *out,
                    Error **errp)
{
    return visit_in_signed(node, path, INT64_MIN, INT64_MAX, "int64_t", out,
                           errp);
}

#define DEFINE_VISIT_IN_SIGNED(bits)                                         \
    bool visit_in_int##bits(JsonNode *node, const char *path,               \
                            int##bits##_t *out, Error **errp)               \
    {                                                                        \
        int64_t value;                                                       \
                                                                             \
        if (!visit_in_signed(node, path, INT##bits##_MIN, INT##bits##_MAX,   \
                             "int" #bits "_t", &value, errp)) {              \
            return false;                                                    \
        }                                                                    \
        *out = value;                                                        \
        return true;                                                         \
    }

#define DEFINE_VISIT_IN_UNSIGNED(bits)                                       \
    bool visit_in_uint##bits(JsonNode *node, const char *path,              \
                             uint##bits##_t *out, Error **errp)             \
    {                                                                        \
        uint64_t value;                                                      \
                                                                             \
        if (!visit_in_unsigned(node, path, UINT##bits##_MAX,                 \
                               "uint" #bits "_t", &value, errp)) {           \
            return false;                                                    \
        }                                                                    \
        *out = value;                                                        \
        return true;                                                         \
    }

DEFINE_VISIT_IN_SIGNED(32)
DEFINE_VISIT_IN_SIGNED(16)
DEFINE_VISIT_IN_SIGNED(8)
DEFINE_VISIT_IN_UNSIGNED(32)
DEFINE_VISIT_IN_UNSIGNED(16)
DEFINE_VISIT_IN_UNSIGNED(8)

bool visit_in_uint64(JsonNode *node, const char *path, uint64_t *out,
                     Error **errp)
{
    return visit_in_unsigned(node, path, UINT64_MAX, "uint64_t", out, errp);
}

bool visit_in_size(JsonNode *node, const char *path, uint64_t *out,
                   Error **errp)
{
    return visit_in_unsigned(node, path, UINT64_MAX, "size", out, errp);
}

bool visit_in_number(JsonNode *node, const char *path, double *out,
                     Error **errp)
{
    double value;

    if (qapi_holds_int(node)) {
        *out = json_node_get_int(node);
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_DOUBLE) {
        qapi_error_type(path, "number", errp);
        return false;
    }
    value = json_node_get_double(node);
    if (!isfinite(value)) {
        qapi_error_range(path, "a finite number", errp);
        return false;
    }
    *out = value;
    return true;
}

bool visit_in_bool(JsonNode *node, const char *path, bool *out,
                   Error **errp)
{
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        qapi_error_type(path, "boolean", errp);
        return false;
    }
    *out = json_node_get_boolean(node);
    return true;
}

bool visit_in_str(JsonNode *node, const char *path, char **out,
                  Error **errp)
{
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        qapi_error_type(path, "string", errp);
        return false;
    }
    *out = g_strdup(json_node_get_string(node));
    return true;
}

bool visit_in_any(JsonNode *node, const char *path, JsonNode **out,
                  Error **errp)
{
    *out = json_node_copy(node);
    return true;
}

bool qapi_in_enum(JsonNode *node, const char *path,
                  const char *const *lookup, int count, int *out,
                  Error **errp)
{
    const char *name;
    int value;

    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        qapi_error_type(path, "string", errp);
        return false;
    }
    name = json_node_get_string(node);
    value = qapi_enum_parse(lookup, count, name);
    if (value < 0) {
        error_setg(errp, "Parameter '%s' does not accept value '%s'",
                   path ? path : "null", name);
        return false;
    }
    *out = value;
    return true;
}

int qapi_enum_parse(const char *const *lookup, int count, const char *name)
{
    if (!name) {
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (strcmp(lookup[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

JsonNode *visit_out_int64(int64_t value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_int(node, value);
    return node;
}

/*
 * json-glib holds integers as int64: a value beyond INT64_MAX goes out
 * as a JSON number, exact to 53 bits.  No restraint counter gets there.
 */
JsonNode *visit_out_uint64(uint64_t value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    if (value > INT64_MAX) {
        json_node_set_double(node, (double)value);
    } else {
        json_node_set_int(node, (int64_t)value);
    }
    return node;
}

JsonNode *visit_out_number(double value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_double(node, value);
    return node;
}

JsonNode *visit_out_bool(bool value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_boolean(node, value);
    return node;
}

JsonNode *visit_out_str(const char *value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_string(node, value ? value : "");
    return node;
}

JsonNode *visit_out_any(const JsonNode *value)
{
    if (!value) {
        return json_node_new(JSON_NODE_NULL);
    }
    return json_node_copy((JsonNode *)value);
}

JsonNode *qapi_empty_object(void)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(node, json_object_new());
    return node;
}
