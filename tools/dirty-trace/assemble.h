/*
 * Turning the recorder's raw spool (raw.h) into a trace (trace.h).
 */
#ifndef DIRTY_TRACE_ASSEMBLE_H
#define DIRTY_TRACE_ASSEMBLE_H

#include "trace.h"

typedef struct DtAssembleOptions {
    const char *program;        /* the command line, for the trace */
    uint64_t t0_ns;             /* CLOCK_MONOTONIC when recording began */
    uint64_t end_ns;            /* ... and when the last process ended */
    uint32_t interval_ms;
    bool keep_addresses;        /* DIRTY_TRACE_F_ADDRESSES */
} DtAssembleOptions;

/* Every <pid>-<ns>.raw file in dir, one process each. */
DirtyTrace *dt_assemble(const char *dir, const DtAssembleOptions *opts,
                        Error **errp);

#endif /* DIRTY_TRACE_ASSEMBLE_H */
