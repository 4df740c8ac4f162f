"""The foundation as a user sees it: the binary, its options, its run
states, signals and guest crashes, driven over QMP from another process."""

import os
import signal
import subprocess
import sys
import time

from restraint_vm import Checks, RestraintVM, QMPError, poll, require_kvm

RESTRAINT = os.environ['RESTRAINT']
CHECKS = Checks()
check = CHECKS.check



def run_cli(*args):
    return subprocess.run([RESTRAINT, *args], capture_output=True, text=True,
                          timeout=30)



def test_help_and_version():
    r = run_cli('-help')
    check(r.returncode == 0 and '-accel kvm[,dirty-ring-size=N]' in r.stdout,
          '-help lists the QEMU-spelled options')
    r = run_cli('-version')
    check(r.returncode == 0 and 'restraint version' in r.stdout,
          '-version prints the version')


def test_bad_options_are_refused():
    cases = [
        (['-m', 'lots'], '-m lots: not a size'),
        (['-smp', '0'], 'from 1 to 1024'),
        (['-accel', 'kvm,dirty-ring-size=1000'], 'power of two >= 1024'),
        (['-accel', 'tcg'], "supports only 'kvm'"),
        (['-workload', 'cpu=0,kind=dance'], 'kind must be idle'),
        (['-workload', 'cpu=0,kind=write,offset=5000'], 'multiple of 4 KiB'),
        (['-m', '256M', '-workload', 'cpu=0,kind=write,offset=8M'],
         'above the system area'),
        (['-m', '256M', '-workload', 'cpu=0,kind=write,offset=200M,size=64M'],
         'past the end of RAM'),
        (['-m', '256M', '-workload', 'cpu=0,kind=write,size=256M'],
         'system area'),
        (['-bogus', 'x'], 'unknown option'),
        (['-kernel', '/nonexistent.elf'], '/nonexistent.elf'),
        (['-qmp', 'carrier-pigeon:1'], 'carrier-pigeon'),
    ]
    for args, want in cases:
        r = run_cli(*args)
        check(r.returncode == 1 and want in r.stderr,
              f'{" ".join(args)} is refused naming the problem '
              f'({r.stderr.strip()!r})')


def test_a_vcpu_may_use_nearly_all_ram():
    """Regions are no longer confined to an equal slice per vCPU."""
    with RestraintVM(args=['-S', '-m', '2G', '-smp', '2',
                           '-workload', 'cpu=0,kind=write,size=1G',
                           '-workload', 'cpu=1,kind=read,size=256M']) as vm:
        w = vm.cmd('x-query-workload')
        check(w[0]['region-size'] == 1 << 30 and
              w[1]['region-size'] == 256 << 20,
              f'cpu 0 gets 1 GiB and cpu 1 256 MiB of a 2 GiB guest ({w})')
        check(w[0]['region-offset'] == 16 << 20,
              'without offset cpu 0 keeps its default start (16 MiB)')
    with RestraintVM(args=['-S', '-m', '256M', '-smp', '2',
                           '-workload', 'cpu=0,kind=write,offset=32M,size=64M',
                           '-workload', 'cpu=1,kind=write,offset=64M,size=64M'
                           ]) as vm:
        w = vm.cmd('x-query-workload')
        check([x['region-offset'] for x in w] == [32 << 20, 64 << 20],
              f'overlapping regions start where asked ({w})')
        vm.cmd('x-set-workload', {'cpu-index': 1, 'kind': 'write',
                                  'offset': 128 << 20, 'size': 1 << 20})
        w = vm.cmd('x-query-workload')
        check(w[1]['region-offset'] == 128 << 20,
              'x-set-workload moves the region')
        err = vm.qmp('x-set-workload', {'cpu-index': 1, 'kind': 'write',
                                        'offset': 4 << 20})
        err = err.get('error', {}).get('desc', '')
        check('above the system area' in err,
              f'x-set-workload refuses the system area ({err!r})')


def test_dirty_ring_above_kernel_maximum():
    r = run_cli('-accel', 'kvm,dirty-ring-size=1048576')
    check(r.returncode == 1 and 'too large' in r.stderr,
          f'a ring above the kernel maximum is refused ({r.stderr.strip()!r})')


def test_S_starts_paused_until_cont():
    with RestraintVM(args=['-S', '-workload', 'cpu=0,kind=write,size=64M']) as vm:
        st = vm.cmd('query-status')
        check(st['status'] == 'prelaunch' and not st['running'],
              '-S starts in prelaunch, not running')
        w = vm.cmd('x-query-workload')[0]
        time.sleep(0.2)
        check(vm.cmd('x-query-workload')[0]['pages-written'] ==
              w['pages-written'], 'no guest progress before cont')
        vm.cmd('cont')
        check(vm.cmd('query-status')['status'] == 'running',
              'cont makes it running')
        check(poll(lambda: vm.cmd('x-query-workload')[0]['pages-written'] > 0),
              'the guest writes after cont')
        vm.cmd('stop')
        check(vm.cmd('query-status')['status'] == 'paused', 'stop pauses')
        a = vm.cmd('x-query-workload')[0]['pages-written']
        time.sleep(0.2)
        check(vm.cmd('x-query-workload')[0]['pages-written'] == a,
              'no guest progress while paused')
        names = [e['event'] for e in vm.events()]
        check('RESUME' in names and 'STOP' in names,
              f'RESUME and STOP events were sent ({names})')


def test_sigterm_and_sigint_exit_0():
    for sig in (signal.SIGTERM, signal.SIGINT):
        vm = RestraintVM(args=['-smp', '2', '-workload',
                               'cpu=0,kind=write,size=64M',
                               '-workload', 'cpu=1,kind=read,size=64M'])
        vm.launch()
        vm.proc.send_signal(sig)
        try:
            rc = vm.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f'{sig.name} ends the VMM with exit status 0 (got {rc})')
        vm.shutdown()


def test_guest_crash_leaves_the_vmm_up(guest_env, what):
    elf = os.environ.get(guest_env)
    if not elf:
        check(False, f'{guest_env} is set by meson')
        return
    # -S, then cont: the crash comes after we are connected to see it.
    with RestraintVM(args=['-S', '-kernel', elf]) as vm:
        vm.cmd('cont')
        ev = vm.event_wait('GUEST_PANICKED', timeout=20)
        check(ev is not None, f'{what}: GUEST_PANICKED is sent')
        st = poll(lambda: vm.cmd('query-status')['status'] == 'guest-panicked')
        check(st, f'{what}: run state is guest-panicked')
        try:
            vm.cmd('cont')
            check(False, f'{what}: cont is refused')
        except QMPError as e:
            check('cannot be resumed' in e.desc,
                  f'{what}: cont is refused ({e.desc})')
        check(vm.cmd('query-version')['qemu']['major'] >= 0,
              f'{what}: the monitor still answers')
        check(vm.is_running(), f'{what}: the VMM process is still up')


def main():
    require_kvm()
    test_help_and_version()
    test_bad_options_are_refused()
    test_dirty_ring_above_kernel_maximum()
    test_a_vcpu_may_use_nearly_all_ram()
    test_S_starts_paused_until_cont()
    test_sigterm_and_sigint_exit_0()
    test_guest_crash_leaves_the_vmm_up('TEST_GUEST_UD2', 'ud2 (triple fault)')
    test_guest_crash_leaves_the_vmm_up('TEST_GUEST_PANIC', 'panic doorbell')
    return CHECKS.exit_code()


if __name__ == '__main__':
    sys.exit(main())
