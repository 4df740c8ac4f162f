"""An idle vCPU costs nothing: the idle guest sleeps in the VMM until it
is given a workload (RS_DB_WAIT_GEN), so it makes (almost) no KVM exits;
x-set-workload wakes it; stop/cont, quit and migration work while every
vCPU is asleep."""

import os
import sys
import tempfile
import time

from restraint_vm import Checks, RestraintVM, migrate_and_wait, poll
from restraint_vm import require_kvm

CHECKS = Checks()
check = CHECKS.check
CPUS = 8
# The former idle loop slept 10 ms per exit: ~100 exits/s per vCPU, so a
# one-second window saw ~100.  A waiting vCPU exits only when kicked
# (pause, a quota set); none happens in the window, the margin is slack.
IDLE_WINDOW_S = 1.0
IDLE_MAX_EXITS = 3


def workloads(vm):
    return vm.cmd('x-query-workload')


def all_started(vm):
    """Every vCPU has run its first pass (and gone to sleep)."""
    return all(w['exits'] > 0 for w in workloads(vm))


def test_idle_vcpus_make_no_exits_and_wake_on_a_workload():
    with RestraintVM(args=['-smp', str(CPUS), '-m', '256M']) as vm:
        check(poll(lambda: all_started(vm), 20),
              'every vCPU ran and reached its idle wait')
        before = workloads(vm)
        time.sleep(IDLE_WINDOW_S)
        after = workloads(vm)
        exits = [a['exits'] - b['exits'] for a, b in zip(after, before)]
        check(max(exits) <= IDLE_MAX_EXITS,
              f'idle vCPUs made (almost) no exits in {IDLE_WINDOW_S} s '
              f'(per vCPU: {exits})')
        # The wake: a workload published while the vCPU waits ends it.
        for cpu in (1, CPUS - 1):
            vm.cmd('x-set-workload', cpu_index=cpu, kind='write',
                   size=1 << 20)
        woke = poll(lambda: all(workloads(vm)[c]['pages-written'] > 0
                                for c in (1, CPUS - 1)), 20)
        check(woke, 'x-set-workload wakes a sleeping vCPU and it writes')
        vm.cmd('x-set-workload', cpu_index=1, kind='idle')
        check(poll(lambda: workloads(vm)[1]['kind'] == 'idle', 20),
              'a writer goes back to idle')
        # Pause and resume with vCPUs asleep: all park, then all wake.
        vm.cmd('stop')
        check(vm.cmd('query-status')['status'] == 'paused',
              'stop pauses a VM whose vCPUs are asleep')
        a = workloads(vm)[CPUS - 1]['pages-written']
        time.sleep(0.2)
        check(workloads(vm)[CPUS - 1]['pages-written'] == a,
              'no guest progress while paused')
        vm.cmd('cont')
        check(poll(lambda: workloads(vm)[CPUS - 1]['pages-written'] > a, 20),
              'cont resumes the writer next to sleeping vCPUs')
        vm.cmd('x-set-workload', cpu_index=2, kind='read', size=1 << 20)
        check(poll(lambda: workloads(vm)[2]['bytes-read'] > 0, 20),
              'a vCPU that slept through stop/cont still wakes')
        t0 = time.monotonic()
        vm.cmd('quit')
        vm.proc.wait(timeout=20)
        check(vm.proc.returncode == 0,
              f'quit with sleeping vCPUs exits 0 in '
              f'{time.monotonic() - t0:.2f} s')


def test_idle_guest_migrates():
    tmp = tempfile.mkdtemp(prefix='restraint-idle-')
    sock = os.path.join(tmp, 'in.sock')
    args = ['-smp', '4', '-m', '128M']
    src = RestraintVM(args, name='src')
    dst = RestraintVM(args + ['-S', '-incoming', 'unix:' + sock], name='dst')
    with src, dst:
        check(poll(lambda: all_started(src), 20), 'source vCPUs are asleep')
        end = migrate_and_wait(src, 'unix:' + sock)
        check(end == 'completed', f'an idle guest migrates (got {end})')
        check(poll(lambda: dst.cmd('query-migrate').get('status') ==
                   'completed', 20), 'the destination completes')
        hs, hd = src.cmd('x-query-ram-hash'), dst.cmd('x-query-ram-hash')
        check(hs['hash'] == hd['hash'], 'destination RAM equals the source')
        dst.cmd('cont')
        dst.cmd('x-set-workload', cpu_index=3, kind='write', size=1 << 20)
        check(poll(lambda: workloads(dst)[3]['pages-written'] > 0, 20),
              'a vCPU migrated asleep wakes on the destination')


def main():
    require_kvm()
    test_idle_vcpus_make_no_exits_and_wake_on_a_workload()
    test_idle_guest_migrates()
    return CHECKS.exit_code()


if __name__ == '__main__':
    sys.exit(main())
