"""What the chaos driver checks and counts.

EventLog follows one process's QMP events (MIGRATION, STOP, RESUME) in
the order the process emitted them and reports every transition the
state machines do not allow.  Tally counts operations, faults, outcomes
and violations for the final table.  resources() reads a process's fd
and thread counts from /proc.
"""

import os
import threading
import time

# MIGRATION status changes a source may make (qapi/migration.json,
# docs/devel/migration.md).  A cancel that arrives after the commit is
# too late, so cancelling may still end completed.
SOURCE_TRANSITIONS = {
    'none': {'setup'},
    'completed': {'setup'},
    'failed': {'setup'},
    'cancelled': {'setup'},
    'setup': {'active', 'failed', 'cancelling'},
    'active': {'pre-switchover', 'device', 'failed', 'cancelling'},
    'pre-switchover': {'device', 'failed', 'cancelling'},
    'device': {'completed', 'failed', 'cancelling'},
    'cancelling': {'cancelled', 'completed'},
}
# A destination listens (setup), accepts (active) and ends; after a
# failure it may listen again (migrate-incoming, or a re-armed listener
# after a connection that never spoke).
DEST_TRANSITIONS = {
    'none': {'setup'},
    'failed': {'setup'},
    'setup': {'active', 'failed'},
    'active': {'completed', 'failed', 'setup'},
    'completed': set(),
}
TERMINAL = ('completed', 'failed', 'cancelled')
SWITCHOVER = ('pre-switchover', 'device')


class EventLog:
    """The state machines of one process, fed with its events."""

    def __init__(self, name, role, migration_status, running, report):
        """@role: 'source' or 'dest'; @report(text): a violation."""
        self.name = name
        self.role = role
        self.status = migration_status or 'none'
        self.running = running
        self.report = report
        self.lock = threading.Lock()
        self.events = []            # (local time, event), in order
        self.completed_at = None    # the MIGRATION completed event
        self.early_resume = False   # a destination's RESUME, not judged

    def feed(self, ev):
        with self.lock:
            self.events.append((time.time(), ev))
            name = ev.get('event')
            if self.early_resume:
                self._judge_early_resume(ev)
            if name == 'MIGRATION':
                self._migration(ev['data']['status'])
            elif name == 'STOP':
                self._stop()
            elif name == 'RESUME':
                self._resume()
            elif name == 'GUEST_PANICKED':
                self.report(f'{self.name}: the guest panicked')

    def _migration(self, new):
        table = SOURCE_TRANSITIONS if self.role == 'source' \
            else DEST_TRANSITIONS
        if new not in table.get(self.status, set()):
            self.report(f'{self.name}: illegal migration status change '
                        f'{self.status} -> {new}')
        if new == 'completed':
            self.completed_at = time.time()
            if self.role == 'source' and self.running:
                self.report(f'{self.name}: the migration completed while '
                            'the source guest was running (both sides '
                            'may run)')
        self.status = new

    def _stop(self):
        if not self.running:
            self.report(f'{self.name}: STOP while already stopped '
                        '(two stops raced)')
        self.running = False

    def _resume(self):
        if self.running:
            self.report(f'{self.name}: RESUME while already running')
        if self.role == 'dest' and self.status != 'completed':
            # QEMU's order: the guest starts, then the status says
            # completed, in one step; judged by the next event.
            self.early_resume = True
        self.running = True

    def _judge_early_resume(self, ev):
        self.early_resume = False
        if ev.get('event') != 'MIGRATION' or \
                ev['data']['status'] != 'completed':
            self.report(f'{self.name}: the destination ran before its '
                        f'migration completed (status {self.status}, then '
                        f"{ev.get('event')} {ev.get('data', '')})")

    def resumed_after_completion(self):
        """True when a RESUME follows the last MIGRATION completed."""
        with self.lock:
            seen = False
            for _, ev in self.events:
                name = ev.get('event')
                if name == 'MIGRATION':
                    seen = ev['data']['status'] == 'completed'
                elif name == 'RESUME' and seen:
                    return True
            return False


def resources(pid):
    """(open fds, threads) of process @pid, or None once it is gone."""
    try:
        return (len(os.listdir(f'/proc/{pid}/fd')),
                len(os.listdir(f'/proc/{pid}/task')))
    except OSError:
        return None


class Tally:
    """Counters for the final table, and the violations with their
    cycle, so that a run's report says what to replay."""

    ROWS = ['operations', 'operations refused', 'faults injected',
            'faults skipped', 'migrations completed', 'migrations failed',
            'migrations cancelled', 'retries', 'pages lost', 'crashes',
            'hangs', 'leaked fds', 'leaked threads', 'invariant violations']

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {row: 0 for row in self.ROWS}
        self.violations = []        # (cycle, text)
        self.faults = {}            # fault name -> times injected
        self.skips = set()          # why a fault could not be injected
        self.cycle = 0

    def add(self, row, n=1):
        with self.lock:
            self.counts[row] += n

    def fault(self, name):
        with self.lock:
            self.counts['faults injected'] += 1
            self.faults[name] = self.faults.get(name, 0) + 1

    def skip_fault(self, why):
        with self.lock:
            self.counts['faults skipped'] += 1
            self.skips.add(why)

    def violation(self, text, row='invariant violations'):
        with self.lock:
            if row != 'invariant violations':
                self.counts[row] += 1
            self.counts['invariant violations'] += 1
            self.violations.append((self.cycle, text))
        print(f'VIOLATION (cycle {self.cycle}): {text}', flush=True)

    def table(self):
        width = max(len(r) for r in self.ROWS)
        lines = [f"{'':-<{width + 12}}"]
        for row in self.ROWS:
            lines.append(f'{row:<{width}}  {self.counts[row]:>10}')
        lines.append(f"{'':-<{width + 12}}")
        if self.faults:
            lines.append('faults: ' + ', '.join(
                f'{k} {v}' for k, v in sorted(self.faults.items())))
        for why in sorted(self.skips):
            lines.append(f'skipped: {why}')
        return '\n'.join(lines)
