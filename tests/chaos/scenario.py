"""One cycle's plan, drawn from the cycle's own seeded generator: the
convergence policy, the fault and when it strikes, the destination's
flags, and which chaos clients run.  The plan depends only on (seed,
cycle), so a replay draws the same plans in the same order."""

import random

POLICIES = ('none', 'auto-converge', 'dirty-limit', 'x-adaptive-converge')
# fault -> weight
FAULTS = {
    'none': 3,
    'kill-dest': 2,         # kill -9 of the destination mid-stream
    'stop-dest': 2,         # SIGSTOP of the destination, SIGCONT later
    'cut': 2,               # the TCP proxy closes the connection
    'netem': 2,             # a degraded link between two namespaces
    'silent-dest': 1,       # a "destination" that accepts and says nothing
    'silent-conn': 1,       # a silent connection to the real destination
    'quit-dest': 1,         # QMP quit on the destination
    'quit-source': 0.3,     # QMP quit on the source (it is restarted)
    'cancel': 2,            # migrate_cancel at a random point
    # SIGTERM to the source's migration thread while its connect is in
    # progress (a full accept queue): the source must exit cleanly.
    'term-connecting': 0.3,
}
SOURCE_CLIENTS = ('limits', 'calc', 'params', 'illegal')


def cycle_rng(seed, cycle):
    return random.Random(seed * 1000003 + cycle)


class Scenario:
    def __init__(self, seed, cycle):
        rng = cycle_rng(seed, cycle)
        self.rng = rng
        self.cycle = cycle
        self.policy = rng.choice(POLICIES)
        self.fault = rng.choices(list(FAULTS), list(FAULTS.values()))[0]
        self.fault_delay_s = rng.uniform(0.0, 1.0)
        self.freeze_s = rng.uniform(0.2, 3.0)
        # -S: the destination waits for cont, so its RAM can be hashed.
        self.dest_S = rng.random() < 0.5
        # A second client doing stop/cont during the migration makes
        # the run state at switchover unknowable; without it the
        # destination must end in the state the source had.
        self.stopcont = rng.random() < 0.5
        self.paused_source = not self.stopcont and rng.random() < 0.25
        self.pause_before_switchover = rng.random() < 0.15
        # A fault on the stream strikes within its first second: the
        # bandwidth makes the stream last longer than that.
        stream = self.fault in ('kill-dest', 'stop-dest', 'cut',
                                'quit-dest', 'netem')
        self.max_bandwidth = rng.choice([16 << 20, 32 << 20, 64 << 20] +
                                        ([] if stream else [0, 256 << 20]))
        self.clients = [k for k in SOURCE_CLIENTS if rng.random() < 0.6]
        if self.stopcont:
            self.clients += ['stopcont', 'stopcont']
        if self.pause_before_switchover:
            self.clients.append('continue')
        if self.fault == 'cancel':
            self.clients.append('cancel')
        self.dest_clients = rng.randint(0, 2)
        # One per client (at most 8 on the source, 2 on the destination).
        self.client_seeds = [rng.getrandbits(32) for _ in range(12)]
        self.deadline_s = 15.0

    def describe(self):
        flags = [f'policy={self.policy}', f'fault={self.fault}',
                 f'bw={self.max_bandwidth >> 20}M']
        flags += ['dest -S'] if self.dest_S else []
        flags += ['source paused'] if self.paused_source else []
        flags += ['pause-before-switchover'] \
            if self.pause_before_switchover else []
        flags += [f"clients={','.join(self.clients) or '-'}+"
                  f'{self.dest_clients} on dest']
        return ' '.join(flags)
