"""calc-dirty-rate / query-dirty-rate and their HMP commands as a user
sees them: each mode within 25% of the guest's own counters (read over
QMP with x-query-workload around the window, so the edges are loose; the
published 3% is asserted in test-dirtyrate.c, whose truth is read at the
window's very edges), QEMU's shapes, errors and HMP lines."""

import re
import sys
import time

from restraint_vm import Checks, RestraintVM, QMPError, poll, require_kvm

CHECKS = Checks()
check = CHECKS.check
BAND = 0.25
PAGE = 4096
MIB = 1 << 20




def measured(vm):
    r = vm.cmd('query-dirty-rate')
    return r if r['status'] == 'measured' else None


def stores(vm):
    return [w['pages-written'] for w in vm.cmd('x-query-workload')]


def test_modes_against_ground_truth():
    # Two vCPUs at 100 and 40 MB/s, sequential: distinct pages = stores.
    vm = RestraintVM(args=['-m', '528M', '-smp', '2',
                           '-accel', 'kvm,dirty-ring-size=4096',
                           '-workload', 'cpu=0,kind=write,rate=100',
                           '-workload', 'cpu=1,kind=write,rate=40'])
    vm.launch()
    try:
        poll(lambda: all(s > 0 for s in stores(vm)))
        for mode in ['page-sampling', 'dirty-ring', 'dirty-bitmap']:
            before = stores(vm)
            t0 = time.monotonic()
            vm.cmd('calc-dirty-rate', calc_time=1, mode=mode)
            r = poll(lambda: measured(vm))
            after = stores(vm)
            elapsed = time.monotonic() - t0
            # The window is inside [t0, now]: the stores over that span,
            # scaled to the window, bound the truth.
            total_mb = sum(a - b for a, b in zip(after, before)) * PAGE / MIB
            truth = total_mb / elapsed
            rate = r.get('dirty-rate', -1)
            check(abs(rate - truth) <= BAND * truth,
                  f'{mode}: {rate} MB/s vs ground truth {truth:.0f} MB/s')
            check(r['mode'] == mode and r['calc-time'] == 1 and
                  r['calc-time-unit'] == 'second', f'{mode}: shape {r}')
            if mode == 'dirty-ring':
                # Each vCPU against its own stores: on a busy host a vCPU
                # may fall short of its pace, and the truth is what it did.
                v = {x['id']: x['dirty-rate'] for x in r['vcpu-dirty-rate']}
                per_cpu = [(a - b) * PAGE / MIB / elapsed
                           for a, b in zip(after, before)]
                check(all(abs(v[i] - t) <= BAND * t + 2
                          for i, t in enumerate(per_cpu)),
                      f'dirty-ring per vCPU {v} vs ground truth '
                      f'{[round(t) for t in per_cpu]}')
                # Sequential writers store each page once per window.
                faults = r['x-write-fault-rate']
                check(abs(faults - truth) <= BAND * truth,
                      f'dirty-ring: write-fault rate {faults} MB/s reported '
                      f'apart, vs ground truth {truth:.0f} MB/s')
            if mode == 'page-sampling':
                low, high = r['x-dirty-rate-low'], r['x-dirty-rate-high']
                check(low <= truth * (1 + BAND) and
                      high >= truth * (1 - BAND) and low < high,
                      f'page-sampling: the interval [{low}, {high}] meets '
                      f'the ground truth {truth:.0f} MB/s')
                check(r['sample-pages'] == 512, 'default sample-pages 512')
            else:
                check(r['sample-pages'] == 0, f'{mode}: sample-pages 0')
        ms = vm.cmd('query-dirty-rate', calc_time_unit='millisecond')
        check(ms['calc-time'] >= 1000 and
              ms['calc-time-unit'] == 'millisecond', 'calc-time in ms')
    finally:
        vm.shutdown()


ERRORS = [
    ({'calc-time': 0}, 'Calculation time is out of range [50ms, 60000ms].'),
    ({'calc-time': 49, 'calc-time-unit': 'millisecond'},
     'Calculation time is out of range [50ms, 60000ms].'),
    ({'calc-time': 61}, 'Calculation time is out of range [50ms, 60000ms].'),
    ({'calc-time': 1, 'sample-pages': 127},
     'sample-pages is out of range[128, 16384].'),
    ({'calc-time': 1, 'sample-pages': 16385},
     'sample-pages is out of range[128, 16384].'),
    ({'calc-time': 1, 'sample-pages': 512, 'mode': 'dirty-bitmap'},
     'sample-pages is used only in page-sampling mode'),
    ({'calc-time': 1, 'mode': 'dirty-ring'},
     'mode dirty-ring is not enabled, use other method instead.'),
]


def test_errors_and_hmp():
    vm = RestraintVM(args=['-m', '272M', '-workload',
                           'cpu=0,kind=write,rate=20'])
    vm.launch()
    try:
        r = vm.cmd('query-dirty-rate')
        check(r['status'] == 'unstarted' and 'dirty-rate' not in r,
              'unstarted before any measurement')
        for args, desc in ERRORS:
            reply = vm.qmp('calc-dirty-rate', args)
            err = reply.get('error', {})
            check(err.get('class') == 'GenericError' and
                  err.get('desc') == desc, f'{args} -> {desc!r}')
        reply = vm.qmp('calc-dirty-rate', {'calc-time': 'x'})
        check('error' in reply, 'a wrong type is refused')

        out = vm.hmp('calc_dirty_rate -b 1')
        check('Starting dirty rate measurement with period 1 seconds' in out
              and "[Please use 'info dirty_rate' to check results]" in out,
              f'HMP calc_dirty_rate: {out!r}')
        again = vm.hmp('calc_dirty_rate 1')
        check('the dirty rate is already being measured.' in again,
              f'HMP while measuring: {again!r}')
        check('Status: measuring' in vm.hmp('info dirty_rate'),
              'info dirty_rate while measuring')
        poll(lambda: measured(vm))
        info = vm.hmp('info dirty_rate')
        lines = info.replace('\r\n', '\n').split('\n')
        check(lines[0] == 'Status: measured' and
              re.match(r'Start Time: \d+ \(s\)$', lines[1]) and
              lines[2] == 'Period: 1 (sec)' and
              lines[3] == 'Mode: dirty-bitmap' and
              re.match(r'Dirty rate: \d+ \(MB/s\)$', lines[4]),
              f'info dirty_rate lines: {lines}')
        check('Incorrect period length specified!' in
              vm.hmp('calc_dirty_rate 0'), 'HMP: period 0')
        check('Either dirty ring or dirty bitmap can be specified!' in
              vm.hmp('calc_dirty_rate -r -b 1'), 'HMP: -r and -b')
        out = vm.hmp('calc_dirty_rate -r 1')
        check('mode dirty-ring is not enabled' in out, f'HMP -r: {out!r}')
        out = vm.hmp('calc_dirty_rate 1 256')
        poll(lambda: measured(vm))
        info = vm.hmp('info dirty_rate')
        check('Sample Pages: 256 (per GB)' in info and
              'Mode: page-sampling' in info and '95% interval' in info,
              f'info dirty_rate, page-sampling: {info!r}')
    finally:
        vm.shutdown()


def main():
    require_kvm()
    test_modes_against_ground_truth()
    test_errors_and_hmp()
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
