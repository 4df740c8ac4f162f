/*
 * The hand-written half of the QAPI code: JSON <-> C for the builtin
 * types, QEMU-worded argument errors, and the command table type.
 * scripts/qapi-gen.py generates the rest (qapi-types.h, qapi-visit.h,
 * qapi-commands.h, qapi-events.h, qapi-introspect.h in the build tree).
 *
 * Input functions take the JSON value and its @path, the name a user
 * sees in errors ("cpu-index", "caps[0].state"), and return false with
 * @errp set when the value does not fit.  Output functions return a new
 * JsonNode the caller owns.
 */
#ifndef QAPI_VISIT_CORE_H
#define QAPI_VISIT_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "qapi/error.h"

/* Error texts (QEMU's wording). */
void qapi_error_missing(const char *path, Error **errp);
void qapi_error_type(const char *path, const char *expected, Error **errp);

/* "a" + "b" -> "a.b"; NULL + "b" -> "b"; "a" + 3 -> "a[3]". */
char *qapi_path_member(const char *path, const char *member);
char *qapi_path_index(const char *path, unsigned index);

/* Containers. */
bool qapi_in_object(JsonNode *node, const char *path, JsonObject **out,
                    Error **errp);
bool qapi_in_array(JsonNode *node, const char *path, JsonArray **out,
                   Error **errp);
/* Refuse members of @obj not in the NULL-terminated list @known. */
bool qapi_check_members(JsonObject *obj, const char *path,
                        const char *const *known, Error **errp);

/*
 * Scalars: visit_in_NAME(node, path, CTYPE *out, errp) for each builtin
 * type, its C type in brackets: int64 int32 int16 int8 (intN_t), uint64
 * uint32 uint16 uint8 (uintN_t), size (uint64_t), number (double), bool,
 * str (char *: *out is a new string).
 */
#define QAPI_DECLARE_VISIT_IN(name, ctype)                                  \
    bool visit_in_##name(JsonNode *node, const char *path, ctype *out,    \
                         Error **errp)
QAPI_DECLARE_VISIT_IN(int64, int64_t);
QAPI_DECLARE_VISIT_IN(int32, int32_t);
QAPI_DECLARE_VISIT_IN(int16, int16_t);
QAPI_DECLARE_VISIT_IN(int8, int8_t);
QAPI_DECLARE_VISIT_IN(uint64, uint64_t);
QAPI_DECLARE_VISIT_IN(uint32, uint32_t);
QAPI_DECLARE_VISIT_IN(uint16, uint16_t);
QAPI_DECLARE_VISIT_IN(uint8, uint8_t);
QAPI_DECLARE_VISIT_IN(size, uint64_t);
QAPI_DECLARE_VISIT_IN(number, double);
QAPI_DECLARE_VISIT_IN(bool, bool);
QAPI_DECLARE_VISIT_IN(str, char *);
/* *out is a new reference to a copy of the value. */
bool visit_in_any(JsonNode *node, const char *path, JsonNode **out,
                  Error **errp);
/* @lookup has @count names; *out is the index of the one given. */
bool qapi_in_enum(JsonNode *node, const char *path,
                  const char *const *lookup, int count, int *out,
                  Error **errp);

JsonNode *visit_out_int64(int64_t value);
JsonNode *visit_out_uint64(uint64_t value);
JsonNode *visit_out_number(double value);
JsonNode *visit_out_bool(bool value);
JsonNode *visit_out_str(const char *value);     /* NULL -> "" */
JsonNode *visit_out_any(const JsonNode *value); /* NULL -> null */
JsonNode *qapi_empty_object(void);                /* {} */
#define visit_out_int32 visit_out_int64
#define visit_out_int16 visit_out_int64
#define visit_out_int8 visit_out_int64
#define visit_out_uint32 visit_out_uint64
#define visit_out_uint16 visit_out_uint64
#define visit_out_uint8 visit_out_uint64
#define visit_out_size visit_out_uint64

/* Search a generated lookup table; -1 when @name is not there. */
int qapi_enum_parse(const char *const *lookup, int count, const char *name);

/*
 * One QMP command as the generated table lists it.  The marshaller
 * checks @args (never NULL), calls the handler and sets *ret to the
 * reply's "return" value, or sets @errp.
 */
typedef void QmpMarshalFunc(JsonObject *args, JsonNode **ret, Error **errp);

typedef enum QmpCommandFlags {
    QMP_CMD_NONE = 0,
    QMP_CMD_UNSTABLE = 1 << 0,  /* has the feature 'unstable' */
} QmpCommandFlags;

typedef struct QmpCommand {
    const char *name;
    QmpMarshalFunc *fn;
    unsigned flags;             /* QmpCommandFlags */
} QmpCommand;

#endif /* QAPI_VISIT_CORE_H */
