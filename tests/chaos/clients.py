"""Chaos QMP clients: each is a thread with its own QMP connection and
its own seeded random generator, issuing random legal and illegal
commands from a table until told to stop.

A command marked must_fail is illegal in every state (a bad argument);
if it is accepted, that is a violation.  Any other command may be
accepted or refused, but it must be answered within the hang bound and
the connection must stay usable.
"""

import threading

from restraint_vm import QMPClient
from vms import CMD_TIMEOUT_S

POLICIES = ('auto-converge', 'dirty-limit', 'x-adaptive-converge')
RUNNING = ('setup', 'active', 'pre-switchover', 'device')


def caps(**states):
    return {'capabilities': [{'capability': k.replace('_', '-'), 'state': v}
                             for k, v in states.items()]}


def op_cont(c, rng):
    """cont, except on a source whose migration completed: resuming it
    then is legal (as in QEMU) but would make both sides run."""
    status = c.call('query-status')
    if status and status.get('return', {}).get('status') in \
            ('postmigrate', 'inmigrate') and c.role == 'source':
        return
    if c.role == 'dest':
        if status and status.get('return', {}).get('status') != 'inmigrate':
            return
        reply = c.call('cont')
        if reply and 'return' in reply:
            c.shared['dest-cont-accepted'] = True
        return
    c.call('cont')


def op_set_limit(c, rng):
    args = {'dirty-rate': rng.choice([1, 5, 20, 100, 400, 0])}
    if rng.random() < 0.7:
        args['cpu-index'] = rng.randrange(2)
    c.call('set-vcpu-dirty-limit', args)


def op_cancel_limit(c, rng):
    c.call('cancel-vcpu-dirty-limit',
           {'cpu-index': rng.randrange(2)} if rng.random() < 0.5 else {})


def op_calc(c, rng):
    mode = rng.choice(['page-sampling', 'dirty-ring', 'dirty-bitmap'])
    args = {'calc-time': rng.randint(50, 400), 'calc-time-unit': 'millisecond',
            'mode': mode}
    if mode == 'page-sampling' and rng.random() < 0.5:
        args['sample-pages'] = rng.choice([128, 512, 4096])
    c.call('calc-dirty-rate', args)


def op_set_params(c, rng):
    choices = {
        'max-bandwidth': lambda: rng.choice([0, 16, 64, 256]) << 20,
        'downtime-limit': lambda: rng.choice([50, 300, 1000]),
        'cpu-throttle-initial': lambda: rng.randint(1, 99),
        'cpu-throttle-increment': lambda: rng.randint(1, 99),
        'cpu-throttle-tailslow': lambda: rng.random() < 0.5,
        'max-cpu-throttle': lambda: rng.randint(1, 99),
        'throttle-trigger-threshold': lambda: rng.randint(1, 100),
        'x-vcpu-dirty-limit-period': lambda: rng.choice([1, 100, 1000]),
        'vcpu-dirty-limit': lambda: rng.choice([1, 10, 100]),
    }
    names = rng.sample(sorted(choices), rng.randint(1, 3))
    c.call('migrate-set-parameters', {n: choices[n]() for n in names})


def op_set_policy(c, rng):
    """Turn one policy on (or all off): refused while migrating."""
    on = rng.choice(POLICIES + (None,))
    c.call('migrate-set-capabilities',
           caps(**{p.replace('-', '_'): p == on for p in POLICIES}))


def op_cancel(c, rng):
    """migrate_cancel takes effect at once: when it returns, the status
    is cancelling or final, never still running (a lost cancel)."""
    def status():
        reply = c.call('query-migrate')
        return reply and reply.get('return', {}).get('status')
    before = status()
    reply = c.call('migrate_cancel')
    after = status()
    if before in RUNNING and reply and 'return' in reply and \
            after in RUNNING:
        c.tally.violation(f'{c.vm.name}: migrate_cancel returned but the '
                          f'migration is still {after}')


def op_continue(c, rng):
    reply = c.call('query-migrate')
    if reply and reply.get('return', {}).get('status') == 'pre-switchover':
        c.call('migrate-continue', {'state': 'pre-switchover'})


def simple(name, args=None, must_fail=False):
    def op(c, rng):
        c.call(name, args, must_fail)
    op.__name__ = name
    return op


ILLEGAL = [
    simple('set-vcpu-dirty-limit', {'cpu-index': 9, 'dirty-rate': 10}, True),
    simple('set-vcpu-dirty-limit', {'dirty-rate': 1 << 40}, True),
    simple('calc-dirty-rate', {'calc-time': 10,
                               'calc-time-unit': 'millisecond'}, True),
    simple('calc-dirty-rate', {'calc-time': 1, 'sample-pages': 50}, True),
    simple('calc-dirty-rate', {'calc-time': 1, 'mode': 'dirty-ring',
                               'sample-pages': 512}, True),
    simple('migrate-set-parameters', {'max-cpu-throttle': 100}, True),
    simple('migrate-set-parameters', {'x-vcpu-dirty-limit-period': 0}, True),
    simple('migrate-set-capabilities',
           caps(auto_converge=True, dirty_limit=True), True),
    simple('migrate', {'uri': 'ftp:nowhere'}, True),
    simple('migrate', {'uri': 'unix:/nonexistent/x', 'blk': True}, True),
    simple('migrate-continue', {'state': 'active'}, True),
    simple('no-such-command', None, True),
]
QUERIES = [simple(n) for n in ('query-status', 'query-migrate',
                               'query-vcpu-dirty-limit', 'query-dirty-rate',
                               'query-migrate-parameters', 'x-query-workload',
                               'query-migrate-capabilities')] + \
    [simple('human-monitor-command', {'command-line': 'info migrate'})]

# Each client kind: (op, weight) pairs.
KINDS = {
    'stopcont': [(simple('stop'), 4), (op_cont, 4)] +
                [(q, 1) for q in QUERIES[:2]],
    'limits': [(op_set_limit, 4), (op_cancel_limit, 3)] +
              [(q, 1) for q in QUERIES[2:3]],
    'calc': [(op_calc, 3), (simple('query-dirty-rate'), 2)],
    'params': [(op_set_params, 3), (op_set_policy, 1),
               (simple('migrate-set-capabilities', caps(events=True)), 1)],
    'illegal': [(op, 1) for op in ILLEGAL] + [(q, 1) for q in QUERIES],
    'cancel': [(op_cancel, 1), (simple('query-migrate'), 6)],
    'continue': [(op_continue, 1)],
    'dest': [(op_cont, 2), (simple('query-dirty-rate'), 1)] +
            [(q, 1) for q in QUERIES] + [(op, 1) for op in ILLEGAL[:4]],
}


# The longest pause between two commands of a client, s: stop/cont in
# a tight loop, to land inside the switchover.
PAUSE_S = {'stopcont': 0.001, 'continue': 0.01}


class ChaosClient(threading.Thread):
    """One QMP connection issuing random @kind commands to @vm."""

    def __init__(self, vm, kind, rng, tally, shared):
        super().__init__(daemon=True, name=f'chaos-{vm.name}-{kind}')
        self.vm = vm
        self.role = vm.role
        self.kind = kind
        self.rng = rng
        self.tally = tally
        self.shared = shared
        self.pause_s = PAUSE_S.get(kind, 0.05)
        self.halt = threading.Event()
        self.client = None
        self.dead = False

    def call(self, name, args=None, must_fail=False):
        """Run one command; None when the process has gone away."""
        if self.dead:
            return None
        self.tally.add('operations')
        try:
            reply = self.client.qmp(name, args)
        except TimeoutError:
            if not (self.vm.frozen or self.vm.expected_exit):
                self.tally.violation(f'{self.vm.name}: {name} {args} not '
                                     f'answered within {CMD_TIMEOUT_S:.0f} s',
                                     'hangs')
            self.dead = True
            return None
        except (OSError, ConnectionError, ValueError):
            self.dead = True        # the driver judges the process
            return None
        self.client._events.clear()
        if 'error' in reply:
            self.tally.add('operations refused')
        elif must_fail:
            self.tally.violation(f'{self.vm.name}: illegal {name} {args} '
                                 'was accepted')
        return reply

    def run(self):
        try:
            self.client = QMPClient(self.vm.qmp_path, timeout=CMD_TIMEOUT_S)
            self.client.handshake()
        except (OSError, ConnectionError, TimeoutError, ValueError):
            return
        ops = [op for op, _ in KINDS[self.kind]]
        weights = [w for _, w in KINDS[self.kind]]
        while not self.halt.is_set() and not self.dead:
            op = self.rng.choices(ops, weights)[0]
            op(self, self.rng)
            self.halt.wait(self.rng.uniform(0, self.pause_s))
        self.client.close()

    def stop(self):
        self.halt.set()
