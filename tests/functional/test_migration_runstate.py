"""The run state across a migration, as a user (or a second, careless
QMP client) drives it on real KVM: a client looping stop/cont during a
dirty-limit migration never leaves both sides running and the
destination holds exactly the source's RAM; a paused source arrives
paused on a destination started without -S, a crashed one arrives
guest-panicked; a stop on a destination still waiting keeps the guest
paused when it arrives; cont is refused, with its reason, wherever the
guest must stay stopped."""

import os
import sys
import tempfile
import threading

from restraint_vm import RestraintVM, QMPError, require_kvm
from restraint_vm import poll as poll_until
# The same helpers and verdicts as the other migration tests.
from test_migration import CHECKS, runstate, set_caps, status, vm_args
from test_migration import wait_status, written

check = CHECKS.check
MIB = 1 << 20
TERMINAL = ('completed', 'failed', 'cancelled')
# Slow enough that the client's loop overlaps every phase, switchover too.
BANDWIDTH = 48 * MIB
DIRTY_LIMIT_MBPS = 8
# The writer of the other tests, MB/s: dirty, but far below any link.
WRITE_MBPS = 16


def poll(fn, timeout=60.0, step=0.05):
    return poll_until(fn, timeout, step)


def source_and_destination(tmp, name, dst_args=None):
    """A source whose vCPU 0 writes (paced: the migration converges even
    on a slow, instrumented build), and a destination (without -S by
    default) listening on a socket in @tmp."""
    sock = os.path.join(tmp, name + '.sock')
    src = RestraintVM(vm_args(['-workload',
                               f'cpu=0,kind=write,size=16M,rate={WRITE_MBPS}']),
                      name='src')
    dst = RestraintVM(vm_args(dst_args or ['-incoming', 'unix:' + sock]),
                      name='dst')
    return src, dst, sock


def frozen(vm):
    """The guest makes no progress: its counter stands still over 20
    samples (a running writer moves it between any two)."""
    first = written(vm)
    return all(written(vm) == first for _ in range(20))


def cont_error(vm):
    try:
        vm.cmd('cont')
        return None
    except QMPError as e:
        return e.desc


def run_states_of(events):
    """STOP/RESUME in the order received."""
    return [e['event'] for e in events if e['event'] in ('STOP', 'RESUME')]


def alternate(seq, first):
    return all(ev == (first if i % 2 == 0 else
                      ('RESUME' if first == 'STOP' else 'STOP'))
               for i, ev in enumerate(seq))


class StopContLoop:
    """A second QMP client sending stop, cont, stop, ... until told."""

    def __init__(self, vm):
        self.client = vm.connect()
        self.done = threading.Event()
        self.counts = {'stop': 0, 'cont': 0, 'refused': 0}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.done.is_set():
            for name in ('stop', 'cont'):
                reply = self.client.qmp(name)
                self.counts[name] += 1
                self.counts['refused'] += 'error' in reply

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(30)
        self.client.close()


def test_stop_cont_client_never_leaves_both_sides_running(tmp, start_paused):
    label = 'dst -S' if start_paused else 'dst without -S'
    sock = os.path.join(tmp, f'loop{int(start_paused)}.sock')
    src = RestraintVM(vm_args(['-workload', 'cpu=0,kind=stamp,size=32M',
                               '-workload', 'cpu=1,kind=write,size=16M']),
                      name='src')
    dst = RestraintVM(vm_args((['-S'] if start_paused else []) +
                              ['-incoming', 'unix:' + sock]), name='dst')
    with src, dst:
        set_caps(src, events=True, dirty_limit=True)
        src.cmd('migrate-set-parameters', max_bandwidth=BANDWIDTH,
                vcpu_dirty_limit=DIRTY_LIMIT_MBPS)
        poll(lambda: written(src) > 0, 10)
        src.events()
        with StopContLoop(src) as loop:
            src.cmd('migrate', uri='unix:' + sock)
            end = wait_status(src, TERMINAL, 120)
        check(end == 'completed', f'{label}: migration completes under a '
              f'stop/cont loop ({end}; {loop.counts})')
        check(loop.counts['stop'] > 10,
              f'{label}: the loop overlapped the migration {loop.counts}')
        check(poll(lambda: status(dst) in TERMINAL, 10) and
              status(dst) == 'completed', f'{label}: destination completed')
        s, d = src.cmd('query-status'), dst.cmd('query-status')
        check(not (s['running'] and d['running']),
              f'{label}: never both running (source {s}, destination {d})')
        check(s['status'] == 'postmigrate', f'{label}: source postmigrate')
        check(frozen(src), f'{label}: and its vCPUs are really stopped')
        if start_paused:
            check(d['status'] == 'paused', f'{label}: destination paused')
            hs, hd = src.cmd('x-query-ram-hash'), dst.cmd('x-query-ram-hash')
            check(hs['hash'] == hd['hash'],
                  f"{label}: destination RAM equals the source's "
                  f"({hs['hash']} vs {hd['hash']})")
            stamp = dst.cmd('x-check-stamp', cpu_index=0)
            check(stamp['bad-pages'] == 0,
                  f'{label}: every stamp page checks out {stamp}')
            dst.cmd('cont')
        desc = cont_error(src)
        check(desc is not None and 'migrated' in desc,
              f'{label}: cont on the source after completion is refused '
              f'({desc})')
        w = written(dst)
        dst_runs = runstate(dst) == 'running'
        check(not dst_runs or poll(lambda: written(dst) > w, 10),
              f'{label}: a running destination makes progress')
        check(frozen(src), f'{label}: the source stays stopped')
        seq = run_states_of(src.events())
        check(alternate(seq, 'STOP') and seq and seq[-1] == 'STOP',
              f'{label}: STOP and RESUME alternate and end with STOP '
              f'({len(seq)} events: ...{seq[-4:]})')


def test_paused_source_arrives_paused(tmp):
    src, dst, sock = source_and_destination(tmp, 'paused')
    with src, dst:
        src.cmd('migrate-set-parameters', max_bandwidth=0)
        poll(lambda: written(src) > 0, 10)
        src.cmd('stop')
        src.cmd('migrate', uri='unix:' + sock)
        check(wait_status(src, TERMINAL) == 'completed',
              'a paused source migrates')
        check(poll(lambda: status(dst) == 'completed', 10),
              'the destination completes')
        st = dst.cmd('query-status')
        check(st == {'running': False, 'status': 'paused'},
              f'it arrives paused on a destination without -S ({st})')
        check(frozen(dst), 'and its vCPUs do not run')
        hs, hd = src.cmd('x-query-ram-hash'), dst.cmd('x-query-ram-hash')
        check(hs['hash'] == hd['hash'], "with the source's RAM")
        dst.cmd('cont')
        w = written(dst)
        check(runstate(dst) == 'running' and
              poll(lambda: written(dst) > w, 10),
              'cont on the destination resumes the guest')


def test_panicked_source_arrives_panicked(tmp):
    elf = os.environ.get('TEST_GUEST_PANIC')
    if not check(bool(elf), 'TEST_GUEST_PANIC is set by meson'):
        return
    sock = os.path.join(tmp, 'panic.sock')
    src = RestraintVM(vm_args(['-S', '-kernel', elf]), name='src')
    dst = RestraintVM(vm_args(['-incoming', 'unix:' + sock]), name='dst')
    with src, dst:
        src.cmd('cont')
        src.event_wait('GUEST_PANICKED', timeout=20)
        check(poll(lambda: runstate(src) == 'guest-panicked', 10),
              'the source guest panicked')
        src.cmd('migrate', uri='unix:' + sock)
        end = wait_status(src, TERMINAL)
        check(end == 'completed', f'a panicked guest migrates ({end}: '
              f"{src.cmd('query-migrate').get('error-desc')})")
        check(poll(lambda: status(dst) == 'completed', 10),
              'the destination completes')
        st = dst.cmd('query-status')
        check(st == {'running': False, 'status': 'guest-panicked'},
              f'it arrives guest-panicked, not running ({st})')
        desc = cont_error(dst)
        check(desc is not None and 'cannot be resumed' in desc,
              f'cont is refused there ({desc})')
        # Resumed, this guest would only crash again: the events tell.
        seen = [e['event'] for e in dst.events()]
        check('RESUME' not in seen and 'GUEST_PANICKED' not in seen,
              f'the destination never ran the crashed guest ({seen})')


def test_stop_while_waiting_keeps_the_arriving_guest_paused(tmp):
    src, dst, sock = source_and_destination(tmp, 'stopwait')
    with src, dst:
        set_caps(dst, events=True)
        dst.cmd('stop')
        check(runstate(dst) == 'inmigrate',
              'stop in inmigrate: the destination still waits')
        desc = cont_error(dst)
        check(desc is not None and 'incoming migration' in desc,
              f'and cont there is still refused ({desc})')
        src.cmd('migrate-set-parameters', max_bandwidth=0)
        poll(lambda: written(src) > 0, 10)
        src.cmd('migrate', uri='unix:' + sock)
        check(wait_status(src, TERMINAL) == 'completed',
              'a running source migrates')
        check(poll(lambda: status(dst) == 'completed', 10),
              'the destination completes')
        st = dst.cmd('query-status')
        check(st == {'running': False, 'status': 'paused'},
              f'the guest arrives paused, as the stop asked ({st})')
        check(frozen(dst), 'and its vCPUs do not run')
        check(run_states_of(dst.events()) == [],
              'no STOP or RESUME: it never ran here')
        dst.cmd('cont')
        w = written(dst)
        check(runstate(dst) == 'running' and
              poll(lambda: written(dst) > w, 10),
              'cont resumes it')


def test_cont_is_refused_where_the_guest_must_stay_stopped(tmp):
    src, dst, sock = source_and_destination(tmp, 'refuse',
                                            ['-incoming', 'defer'])
    with src, dst:
        desc = cont_error(dst)
        check(desc is not None and 'incoming migration' in desc,
              f'inmigrate: cont refused ({desc})')
        check(runstate(dst) == 'inmigrate', 'and the destination still waits')
        dst.cmd('migrate-incoming', uri='unix:' + sock)
        set_caps(src, pause_before_switchover=True)
        src.cmd('migrate-set-parameters', max_bandwidth=0)
        src.cmd('migrate', uri='unix:' + sock)
        check(wait_status(src, ('pre-switchover',) + TERMINAL) ==
              'pre-switchover', 'the source waits before the switchover')
        desc = cont_error(src)
        check(desc is not None and 'not finalized' in desc,
              f'finish-migrate: cont refused ({desc})')
        src.cmd('stop')
        check(runstate(src) == 'finish-migrate',
              'a stop during the switchover leaves finish-migrate')
        src.cmd('migrate-continue', state='pre-switchover')
        check(wait_status(src, TERMINAL) == 'completed', 'then it completes')
        desc = cont_error(src)
        check(desc is not None and 'migrated' in desc,
              f'postmigrate: cont refused ({desc})')
        src.cmd('stop')
        check(runstate(src) == 'postmigrate', 'and stop changes nothing')
        check(poll(lambda: runstate(dst) == 'running', 10),
              'the guest runs on the destination only')


def test_cancelled_switchover_gives_a_paused_guest_back_paused(tmp):
    src, dst, sock = source_and_destination(tmp, 'cancel')
    with src, dst:
        set_caps(src, pause_before_switchover=True, events=True)
        src.cmd('migrate-set-parameters', max_bandwidth=0)
        src.cmd('stop')
        src.events()
        src.cmd('migrate', uri='unix:' + sock)
        check(wait_status(src, ('pre-switchover',) + TERMINAL) ==
              'pre-switchover', 'a paused source reaches the switchover')
        src.cmd('migrate_cancel')
        check(wait_status(src, TERMINAL) == 'cancelled', 'cancelled')
        check(runstate(src) == 'paused' and frozen(src),
              'the guest is given back paused, as it was')
        check(run_states_of(src.events()) == [],
              'with no STOP or RESUME: it never ran')


def main():
    require_kvm()
    tests = [
        lambda tmp: test_stop_cont_client_never_leaves_both_sides_running(
            tmp, True),
        lambda tmp: test_stop_cont_client_never_leaves_both_sides_running(
            tmp, False),
        test_paused_source_arrives_paused,
        test_panicked_source_arrives_panicked,
        test_cont_is_refused_where_the_guest_must_stay_stopped,
        test_cancelled_switchover_gives_a_paused_guest_back_paused,
        test_stop_while_waiting_keeps_the_arriving_guest_paused,
    ]
    only = [int(a) for a in sys.argv[1:]]
    for i, t in enumerate(tests):
        if only and i not in only:
            continue
        print(f'# test {i}', flush=True)
        with tempfile.TemporaryDirectory(prefix='restraint-rs-') as tmp:
            t(tmp)
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
