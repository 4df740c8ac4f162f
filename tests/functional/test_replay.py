"""The replay workload as a user drives it: -workload kind=replay from the
command line, x-set-workload and HMP workload at run time, progress in
x-query-workload and info workload; a bad trace is a clear error and the
VM keeps running."""

import os
import subprocess
import sys

from restraint_vm import Checks, RestraintVM, poll, require_kvm

RESTRAINT = os.environ['RESTRAINT']
TRACES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), 'traces')
SQLITE = os.path.join(TRACES, 'sqlite.dtrace')
SQLITE_PID, SQLITE_INTERVALS, SQLITE_PAGES = 3953, 115, 18025
CHECKS = Checks()
check = CHECKS.check


def replay_of(vm, cpu):
    return vm.cmd('x-query-workload')[cpu].get('replay')


def test_command_line_replay_runs_to_the_end():
    with RestraintVM(args=['-m', '256M', '-workload',
                           f'cpu=0,kind=replay,trace={SQLITE},speed=1000'
                           ]) as vm:
        r = replay_of(vm, 0)
        check(r is not None and r['process'] == SQLITE_PID and
              r['intervals'] == SQLITE_INTERVALS and
              r['distinct-pages'] == SQLITE_PAGES and r['speed'] == 1000,
              f'x-query-workload names the trace and its figures ({r})')
        check(poll(lambda: replay_of(vm, 0)['loops-completed'] == 1),
              'the replay finishes one pass')
        w = vm.cmd('x-query-workload')[0]
        check(w['replay']['intervals-completed'] == SQLITE_INTERVALS and
              w['pages-written'] == w['replay']['page-writes'],
              f'ground truth is the trace\'s own counts ({w["replay"]})')
        out = vm.hmp('info workload')
        check('replay' in out and f'pid {SQLITE_PID}' in out and
              '1 passes done' in out,
              f'info workload shows the replay ({out!r})')


def test_run_time_replay_and_bad_traces():
    with RestraintVM(args=['-m', '256M', '-smp', '2', '-workload',
                           'cpu=1,kind=write,size=8M,rate=10']) as vm:
        bad = [
            ({'trace': '/nonexistent.dtrace'}, 'nonexistent'),
            ({'trace': os.path.join(TRACES, 'README.md')},
             'not a dirty-page trace'),
            ({'trace': SQLITE, 'process': 1}, 'has no process 1'),
            ({'trace': SQLITE, 'size': 8 << 20}, 'give size= at least'),
            ({'trace': SQLITE, 'speed': 0}, 'out of range'),
            ({}, 'needs trace=FILE'),
        ]
        for extra, want in bad:
            args = {'cpu-index': 1, 'kind': 'replay', **extra}
            reply = vm.qmp('x-set-workload', args)
            desc = reply.get('error', {}).get('desc', '')
            check(want in desc, f'{extra} is refused naming the problem '
                  f'({desc!r})')
        w = vm.cmd('x-query-workload')[1]
        check(w['kind'] == 'write' and 'replay' not in w and
              vm.cmd('query-status')['running'],
              'after refusals the vCPU keeps its workload and the VM runs')
        out = vm.hmp(f'workload 0 replay trace={SQLITE} speed=2 loop=on')
        check(out == '', f'HMP workload starts a replay ({out!r})')
        check(poll(lambda: (replay_of(vm, 0) or {}).get(
                  'intervals-completed', 0) > 0),
              'the run-time replay makes progress')
        r = replay_of(vm, 0)
        check(r['loop'] and r['speed'] == 2, f'loop and speed are kept ({r})')


def test_bad_replay_options_are_refused():
    cases = [
        (['-workload', 'cpu=0,kind=replay'], 'needs trace=FILE'),
        (['-workload', 'cpu=0,kind=write,trace=x'], 'kind=replay only'),
        (['-workload', f'cpu=0,kind=replay,trace={SQLITE},speed=fast'],
         'speed must be a number'),
        (['-workload', f'cpu=0,kind=replay,trace={SQLITE},speed=5000'],
         'out of range'),
        (['-workload', f'cpu=0,kind=replay,trace={SQLITE},loop=maybe'],
         'loop must be on or off'),
        (['-m', '64M', '-workload', f'cpu=0,kind=replay,trace={SQLITE}'],
         'give size= at least'),
    ]
    for args, want in cases:
        r = subprocess.run([RESTRAINT, *args], capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 1 and want in r.stderr,
              f'{" ".join(args)} is refused ({r.stderr.strip()!r})')


def test_a_throttled_replay_falls_behind():
    """sqlite dirties ~52 MB/s; held to 1 MB/s its replay falls behind the
    recording by almost a second per second, and the lag says so."""
    with RestraintVM(args=['-m', '256M', '-accel', 'kvm,dirty-ring-size=4096',
                           '-workload', f'cpu=0,kind=replay,trace={SQLITE},'
                           'loop=on']) as vm:
        check(poll(lambda: replay_of(vm, 0)['intervals-completed'] >= 3),
              'the replay runs')
        vm.cmd('set-vcpu-dirty-limit', cpu_index=0, dirty_rate=1)
        lag = poll(lambda: replay_of(vm, 0)['lag-us'] >= 2000000 and
                   replay_of(vm, 0))
        check(bool(lag), f'under a 1 MB/s quota the replay lags >= 2 s '
              f'behind the recording ({replay_of(vm, 0)})')
        vm.cmd('cancel-vcpu-dirty-limit', cpu_index=0)


def main():
    require_kvm()
    test_bad_replay_options_are_refused()
    test_command_line_replay_runs_to_the_end()
    test_run_time_replay_and_bad_traces()
    test_a_throttled_replay_falls_behind()
    return CHECKS.exit_code()


if __name__ == '__main__':
    sys.exit(main())
