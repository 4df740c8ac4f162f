/*
 * Error objects, QEMU's Error ** discipline.
 *
 * A function that can fail takes Error **errp last and returns bool (or a
 * pointer, NULL on failure).  On failure it calls error_setg(errp, ...)
 * exactly once.  errp may be NULL (the caller does not care).
 * Messages are lower-case, name the thing at fault and what is allowed.
 */
#ifndef QAPI_ERROR_H
#define QAPI_ERROR_H

#include <stdbool.h>

typedef enum ErrorClass {
    ERROR_CLASS_GENERIC_ERROR = 0,
    ERROR_CLASS_COMMAND_NOT_FOUND,
    ERROR_CLASS_DEVICE_NOT_FOUND,       /* QEMU's class: no such device */
} ErrorClass;

typedef struct Error Error;

void error_set(Error **errp, ErrorClass err_class, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
#define error_setg(errp, ...) \
    error_set((errp), ERROR_CLASS_GENERIC_ERROR, __VA_ARGS__)
/* Like error_setg, with ": strerror(os_errno)" appended. */
void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Prefix an existing error's message: "fmt...: old message". */
void error_prepend(Error **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Move local_err into *dst_errp (or free it if dst_errp is NULL). */
void error_propagate(Error **dst_errp, Error *local_err);

const char *error_get_pretty(const Error *err);
ErrorClass error_get_class(const Error *err);
const char *error_class_name(ErrorClass err_class);
void error_free(Error *err);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Error, error_free)

/* "restraint: message" on stderr. */
void error_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void warn_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Progress a user asked for ("restraint: message"), not a problem. */
void info_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* error_report() the error's message, then free it. */
void error_report_err(Error *err);

#endif /* QAPI_ERROR_H */
