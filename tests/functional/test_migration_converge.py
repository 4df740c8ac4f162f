"""Each convergence policy (auto-converge, dirty-limit, x-adaptive-converge)
brings a migration that cannot converge on its own to completion, and the
destination then holds exactly the source's RAM.

vCPU 0 stamps a 32 MiB region at full speed: every pass finds the whole
region dirty again, far more than max-bandwidth x downtime-limit, so
without a policy the migration never completes (the control row checks
this for a few passes).  Each policy must be seen at work (throttle
percentage, per-vCPU quotas, only the writer held) before completion."""

import os
import sys
import tempfile

from restraint_vm import Checks, RestraintVM, require_kvm
from restraint_vm import poll as poll_until

CHECKS = Checks()
check = CHECKS.check
MIB = 1 << 20
BANDWIDTH = 64 * MIB
SLOW_BANDWIDTH = 16 * MIB
DOWNTIME_MS = 100
# A migration left alone for this many passes has shown it cannot finish.
CONTROL_PASSES = 4
WARM_SWEEPS = 3
TERMINAL = ('completed', 'failed', 'cancelled')
VM_ARGS = ['-smp', '2', '-m', '80M', '-accel', 'kvm,dirty-ring-size=4096']


def poll(fn, timeout=90.0, step=0.05):
    return poll_until(fn, timeout, step)


def set_caps(vm, **caps):
    vm.cmd('migrate-set-capabilities',
           capabilities=[{'capability': k.replace('_', '-'), 'state': v}
                         for k, v in caps.items()])


def seen_auto_converge(src):
    return src.cmd('query-migrate').get('cpu-throttle-percentage', 0) > 0


def seen_dirty_limit(src):
    limits = src.cmd('query-vcpu-dirty-limit')
    return len(limits) == 2 and all(v['limit-rate'] == 16 for v in limits)


def seen_adaptive(src):
    limits = src.cmd('query-vcpu-dirty-limit')
    return bool(limits) and all(v['cpu-index'] == 0 for v in limits)


# name, capability, extra parameters, the policy at work (a poll predicate)
POLICIES = [
    ('auto-converge', 'auto_converge',
     {'cpu_throttle_initial': 90, 'cpu_throttle_increment': 5},
     seen_auto_converge, 'cpu-throttle-percentage > 0'),
    ('dirty-limit', 'dirty_limit', {'vcpu_dirty_limit': 16},
     seen_dirty_limit, 'every vCPU held to vcpu-dirty-limit 16'),
    ('x-adaptive-converge', 'x_adaptive_converge', {},
     seen_adaptive, 'only the writer, vCPU 0, is held'),
]


def source():
    return RestraintVM(VM_ARGS + ['-workload', 'cpu=0,kind=stamp,size=32M',
                                  '-workload', 'cpu=1,kind=read,size=32M'],
                       name='src')


def start_migration(src, sock, cap=None, params=None, bandwidth=BANDWIDTH):
    set_caps(src, events=True, **({cap: True} if cap else {}))
    src.cmd('migrate-set-parameters', max_bandwidth=bandwidth,
            downtime_limit=DOWNTIME_MS, **(params or {}))
    # Past its first sweep (page faults), the writer runs at full speed.
    swept = poll(lambda: src.cmd('x-query-workload')[0]['sweeps'] >=
                 WARM_SWEEPS, 30)
    check(swept, f'the writer has stamped its region {WARM_SWEEPS} times')
    src.cmd('migrate', uri='unix:' + sock)


def test_without_a_policy_it_does_not_converge(tmp):
    sock = os.path.join(tmp, 'none.sock')
    dst = RestraintVM(VM_ARGS + ['-S', '-incoming', 'unix:' + sock],
                      name='dst')
    with source() as src, dst:
        start_migration(src, sock)

        def passes():
            info = src.cmd('query-migrate')
            if info.get('status') in TERMINAL:
                return info['status']
            n = info.get('ram', {}).get('dirty-sync-count', 0)
            return n >= CONTROL_PASSES and n
        seen = poll(passes)
        check(isinstance(seen, int),
              f'none: still migrating after {CONTROL_PASSES} passes '
              f'({seen}): the workload needs a policy')
        reply = dst.qmp('x-query-ram-hash')
        check('an incoming migration is loading guest RAM' in
              reply.get('error', {}).get('desc', ''),
              f'the destination refuses to hash RAM it is loading: {reply}')
        src.cmd('migrate_cancel')
        poll(lambda: src.cmd('query-migrate')['status'] in TERMINAL, 30)


def test_policy_converges_with_equal_ram(tmp, name, cap, params, at_work,
                                         at_work_what):
    sock = os.path.join(tmp, name + '.sock')
    dst = RestraintVM(VM_ARGS + ['-S', '-incoming', 'unix:' + sock],
                      name='dst')
    with source() as src, dst:
        # A link too slow for any policy to finish on first, so that the
        # policy is seen at work however long a busy host takes to get
        # there; then the link this test is about.
        start_migration(src, sock, cap, params, SLOW_BANDWIDTH)

        def seen_at_work():
            # The status is read first: at work after a status that was
            # not terminal means at work before completion.
            status = src.cmd('query-migrate')['status']
            if status in TERMINAL:
                return status
            return at_work(src) or None

        working = poll(seen_at_work)
        check(working is True,
              f'{name}: at work before completion ({at_work_what}; '
              f'saw {working})')
        src.cmd('migrate-set-parameters', max_bandwidth=BANDWIDTH)
        end = poll(lambda: src.cmd('query-migrate')['status'] in TERMINAL
                   and src.cmd('query-migrate')['status'])
        info = src.cmd('query-migrate')
        check(end == 'completed',
              f'{name}: the migration converges ({end}, '
              f'{info.get("ram", {}).get("dirty-sync-count")} passes, '
              f'{info.get("total-time")} ms, {info.get("error-desc", "")})')
        if end != 'completed':
            return
        check(src.cmd('query-status')['status'] == 'postmigrate',
              f'{name}: the source ends postmigrate')
        poll(lambda: dst.cmd('query-migrate').get('status') == 'completed',
             10)
        hs, hd = src.cmd('x-query-ram-hash'), dst.cmd('x-query-ram-hash')
        check(hs['hash'] == hd['hash'],
              f"{name}: destination RAM equals the source's at switchover "
              f"({hs['hash']} vs {hd['hash']})")
        stamp = dst.cmd('x-check-stamp', cpu_index=0)
        check(stamp['bad-pages'] == 0 and stamp['stamp'] > WARM_SWEEPS,
              f'{name}: every stamp page checks out {stamp}')
        check(src.cmd('query-vcpu-dirty-limit') == [],
              f'{name}: no quota left on the source')


def main():
    require_kvm()
    with tempfile.TemporaryDirectory(prefix='restraint-conv-') as tmp:
        print('# test_without_a_policy_it_does_not_converge', flush=True)
        test_without_a_policy_it_does_not_converge(tmp)
        for row in POLICIES:
            print(f'# test_policy_converges_with_equal_ram/{row[0]}',
                  flush=True)
            test_policy_converges_with_equal_ram(tmp, *row)
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
