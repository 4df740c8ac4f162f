/*
 * What the start-up hands the probe commands (monitor/qmp-cmds-probe.c):
 * the monitor reads no command-line state of its own.
 */
#ifndef MONITOR_QMP_PROBE_H
#define MONITOR_QMP_PROBE_H

/* -uuid for query-uuid (copied); NULL: the nil UUID, QEMU's default. */
void qmp_probe_set_uuid(const char *uuid);

#endif /* MONITOR_QMP_PROBE_H */
