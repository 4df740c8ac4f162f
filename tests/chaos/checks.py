"""The checks after a chaos cycle's migration ended: what a completed
migration must leave on both sides, that a failed one leaves the source
running, and that no throttle outlives a migration.  A mixin of Cycle
(cycle.py): self.src, self.dst, self.sc, self.tally, self.run."""

import time

from restraint_vm import QMPError, poll
from faults import thread_ids
from vms import STAMP_CPU, WRITER_CPU

SETTLE_S = 5.0              # a state the checks wait for
THROTTLE_GONE_S = 1.0       # throttles are lifted within this
FULL_SPEED_SHARE = 0.25     # of the writer's rate before the migration
RUNNABLE_SHARE = 0.9        # of a window a vCPU never made to sleep wants
HASH_CHUNK = 1 << 20
PAGE = 4096


def writer_window(vm, window_s=0.3):
    """Over one window: the writer's pages per second (the guest's own
    count) and the share of the window its vCPU thread was running or
    waiting for a host CPU (/proc/.../schedstat).  A throttled vCPU
    sleeps; one starved by a busy host waits in the run queue: the
    share tells the two apart (None where schedstat is missing)."""
    tids = thread_ids(vm.pid, f'CPU {WRITER_CPU}/KVM')

    def busy_ns():
        try:
            with open(f'/proc/{vm.pid}/task/{tids[0]}/schedstat') as f:
                on_cpu_ns, waiting_ns = f.read().split()[:2]
            return int(on_cpu_ns) + int(waiting_ns)
        except (OSError, IndexError, ValueError):
            return None
    a, b0, t0 = vm.written(), busy_ns(), time.monotonic()
    time.sleep(window_s)
    b, b1, t1 = vm.written(), busy_ns(), time.monotonic()
    share = None if b0 is None or b1 is None else (b1 - b0) / 1e9 / (t1 - t0)
    return (b - a) / (t1 - t0), share


def writer_rate(vm):
    return writer_window(vm)[0]


def differing_pages(src, dst, deep_chunks=8):
    """Pages whose contents differ: chunk hashes, then page hashes in
    the first @deep_chunks differing chunks (whole chunks after)."""
    def h(vm, gpa, size):
        return vm.cmd('x-query-ram-hash', gpa=gpa, size=size)['hash']
    size = src.cmd('x-query-ram-hash')['size']
    bad, deep = 0, 0
    for gpa in range(0, size, HASH_CHUNK):
        n = min(HASH_CHUNK, size - gpa)
        if h(src, gpa, n) == h(dst, gpa, n):
            continue
        if deep < deep_chunks:
            deep += 1
            bad += sum(h(src, p, PAGE) != h(dst, p, PAGE)
                       for p in range(gpa, gpa + n, PAGE))
        else:
            bad += n // PAGE
    return bad


class CycleChecks:
    def check_source_runs_on(self):
        src, sc = self.src, self.sc
        state = src.runstate()
        if state in ('finish-migrate', 'postmigrate'):
            self.tally.violation(f'source left in {state} after its '
                                 f'migration ended {src.status()}')
            return
        if not sc.stopcont and not sc.paused_source and state != 'running':
            self.tally.violation(f'source is {state} after a failed '
                                 'migration; it was running')
        if state == 'paused':
            src.cmd('cont')
        if not poll(lambda: src.moving(), SETTLE_S):
            self.tally.violation(f'the source guest does not run after '
                                 f'a failed migration ({src.runstate()})')

    def check_completed(self, source_state):
        """@source_state: the source's run state at switchover, None
        when stop/cont clients made it unknowable."""
        src, dst, sc = self.src, self.dst, self.sc
        if poll(lambda: dst.status() == 'completed', SETTLE_S) is False:
            self.tally.violation(f'source completed but the destination '
                                 f'says {dst.status()}')
        resumed = src.log.resumed_after_completion()
        if not resumed:
            if src.runstate() != 'postmigrate':
                self.tally.violation(f'source is {src.runstate()} after '
                                     'a completed migration')
            if src.moving():
                self.tally.violation('source vCPUs still run after a '
                                     'completed migration (status '
                                     f'{src.runstate()})')
        tampered = self.shared.get('dest-cont-accepted')
        want = 'paused' if sc.dest_S else source_state
        if want and not tampered and \
                not poll(lambda: dst.runstate() == want, SETTLE_S):
            self.tally.violation(f'destination is {dst.runstate()} after '
                                 f'the migration, not {want} (source '
                                 f"{source_state or '?'}, -S "
                                 f'{sc.dest_S})')
        # A destination that has not run since holds the source's RAM
        # at switchover, page for page.
        if dst.runstate() == 'paused' and not tampered and not resumed:
            lost = differing_pages(src, dst)
            if lost:
                self.tally.add('pages lost', lost)
                self.tally.violation(f'{lost} pages of the destination '
                                     'differ from the source at switchover')
        if dst.runstate() == 'running':
            dst.cmd('stop')
        stamp = dst.cmd('x-check-stamp', cpu_index=STAMP_CPU)
        if stamp['bad-pages']:
            self.tally.add('pages lost', stamp['bad-pages'])
            self.tally.violation(f'stamp pages wrong on the destination: '
                                 f'{stamp}')
        self.run.end_dest(dst)
        self.dst = None
        self.resume_source()

    def resume_source(self):
        """cont after a completed migration, as QEMU allows; a restraint
        that refuses it gets a new source for the next cycle."""
        try:
            self.src.cmd('cont')
        except QMPError as e:
            if not self.run.cont_refused:
                print(f'chaos: cont after a completed migration is '
                      f'refused ({e.desc}): a new source follows each '
                      'completed migration', flush=True)
            self.run.cont_refused = True
            self.src.retired = True

    def check_no_throttle(self):
        """Within 1 s no quota and no throttle; the writer at full speed
        again (on a source that runs on)."""
        src = self.src
        src.cmd('cancel-vcpu-dirty-limit')

        def lifted():
            info = src.cmd('query-migrate')
            return not src.cmd('query-vcpu-dirty-limit') and \
                not info.get('cpu-throttle-percentage')
        if not poll(lifted, THROTTLE_GONE_S):
            self.tally.violation(
                f"throttle left behind: limits "
                f"{src.cmd('query-vcpu-dirty-limit')}, cpu-throttle "
                f"{src.cmd('query-migrate').get('cpu-throttle-percentage')}")
        if src.retired:
            return
        want = FULL_SPEED_SHARE * self.baseline
        windows = []
        for _ in range(3):
            rate, share = writer_window(src)
            windows.append(f'{rate:.0f} pages/s, runnable '
                           f"{'?' if share is None else f'{share:.0%}'}")
            if rate >= want or (share or 0) >= RUNNABLE_SHARE:
                return              # full speed, or a busy host
        self.tally.violation(f'the writer vCPU {WRITER_CPU} is held after '
                             f'the migration: {"; ".join(windows)} '
                             f'({self.baseline:.0f} pages/s before)')

