"""Migration convergence benchmark: a 2-vCPU guest, vCPU 0 writing at
full speed, vCPU 1 reading, max-bandwidth well below the write rate;
each policy (none, auto-converge, dirty-limit, adaptive) migrated in the
same run between two fresh restraint processes.  Prints a table: did it
converge, total time, downtime, the reader's throughput during the
migration as % of its baseline, the writer's throughput.  Each policy
runs REPEATS times (BENCH_REPEATS, default 3; BENCH_QUICK=1: once); the
table gives medians and the spread (max - min).  Never fails on a time.
BENCH_QUICK=1: smaller guest, shorter limits."""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'functional'))
from restraint_vm import RestraintVM, require_kvm  # noqa: E402

MIB = 1 << 20
PAGE = 4096
QUICK = os.environ.get('BENCH_QUICK') == '1'
WRITE_MB = 128 if QUICK else 512           # vCPU 0's region
READ_MB = 64 if QUICK else 128             # vCPU 1's region
RAM_MB = 16 + 2 * max(WRITE_MB, READ_MB)
BANDWIDTH = (64 if QUICK else 128) * MIB   # bytes/s, << the write rate
DOWNTIME_MS = 300
TIMEOUT_S = 20 if QUICK else 90            # give up: "did not converge"
BASELINE_S = 1.0
REPEATS = int(os.environ.get('BENCH_REPEATS') or (1 if QUICK else 3))
POLICIES = [
    ('none', None),
    ('auto-converge', 'auto-converge'),
    ('dirty-limit', 'dirty-limit'),
    ('adaptive', 'x-adaptive-converge'),
]


def counters(vm):
    w = vm.cmd('x-query-workload')
    return time.monotonic(), w[0]['pages-written'], w[1]['bytes-read']


def rates(a, b):
    dt = b[0] - a[0]
    return (b[1] - a[1]) * PAGE / MIB / dt, (b[2] - a[2]) / MIB / dt


def run_policy(tmp, name, cap):
    sock = os.path.join(tmp, name + '.sock')
    common = ['-smp', '2', '-m', f'{RAM_MB}M',
              '-accel', 'kvm,dirty-ring-size=4096']
    src = RestraintVM(common + [
        '-workload', f'cpu=0,kind=write,size={WRITE_MB}M',
        '-workload', f'cpu=1,kind=read,size={READ_MB}M'], name='src')
    dst = RestraintVM(common + ['-incoming', 'unix:' + sock], name='dst')
    with src, dst:
        if cap:
            src.cmd('migrate-set-capabilities',
                    capabilities=[{'capability': cap, 'state': True}])
        src.cmd('migrate-set-parameters', max_bandwidth=BANDWIDTH,
                downtime_limit=DOWNTIME_MS)
        time.sleep(BASELINE_S)                  # the writer fills its region
        a = counters(src)
        time.sleep(BASELINE_S)
        b = counters(src)
        base_write, base_read = rates(a, b)
        start = counters(src)
        src.cmd('migrate', uri='unix:' + sock)
        deadline = time.monotonic() + TIMEOUT_S
        info = src.cmd('query-migrate')
        last = start
        while time.monotonic() < deadline:
            info = src.cmd('query-migrate')
            if info.get('status') in ('completed', 'failed', 'cancelled'):
                break
            last = counters(src)
            time.sleep(0.1)
        converged = info.get('status') == 'completed'
        if not converged:
            last = counters(src)
            src.cmd('migrate_cancel')
        write, read = rates(start, last)
        return {
            'policy': name, 'converged': converged,
            'total_ms': info.get('total-time', 0) if converged
            else TIMEOUT_S * 1000,
            'downtime_ms': info.get('downtime'),
            'reader_pct': 100.0 * read / base_read if base_read else 0,
            'writer_mbps': write, 'base_writer_mbps': base_write,
            'passes': info.get('ram', {}).get('dirty-sync-count', 0),
            'throttle': info.get('cpu-throttle-percentage', 0),
            'error': info.get('error-desc'),
        }


def med_spread(rows, key):
    """'median (spread)' of @key over the runs that have it."""
    values = [r[key] for r in rows if r[key] is not None]
    if not values:
        return '-'
    return (f'{statistics.median_low(values):.1f} '
            f'({max(values) - min(values):.1f})')


def summarise(name, runs):
    done = [r for r in runs if r['converged']]
    return {
        'policy': name, 'converged': f'{len(done)}/{len(runs)}',
        'total_ms': med_spread(runs, 'total_ms'),
        'downtime_ms': med_spread(done, 'downtime_ms'),
        'passes': med_spread(runs, 'passes'),
        'reader_pct': med_spread(runs, 'reader_pct'),
        'writer_mbps': med_spread(runs, 'writer_mbps'),
        'base_writer_mbps': med_spread(runs, 'base_writer_mbps'),
        'runs': runs,
    }


def main():
    require_kvm()
    print(f'# migration-convergence: write {WRITE_MB} MiB on vCPU 0, read '
          f'{READ_MB} MiB on vCPU 1, max-bandwidth {BANDWIDTH // MIB} MiB/s,'
          f' downtime-limit {DOWNTIME_MS} ms, give up after {TIMEOUT_S} s, '
          f'{REPEATS} run(s) each{" (quick)" if QUICK else ""}', flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix='restraint-bench-') as tmp:
        for name, cap in POLICIES:
            runs = []
            for k in range(REPEATS):
                runs.append(run_policy(tmp, f'{name}-{k}', cap))
                print(f'# {name} run {k + 1}: done '
                      f'({runs[-1]["error"] or "ok"})', flush=True)
            rows.append(summarise(name, runs))
    print('\nmedian (spread = max - min) over the runs')
    cols = [('policy', 14), ('converged', 9), ('total ms', 16),
            ('downtime ms', 12), ('passes', 10), ('reader %', 12),
            ('writer MB/s', 16), ('(baseline)', 16)]
    print(' '.join(f'{c:>{w}}' if i else f'{c:<{w}}'
                   for i, (c, w) in enumerate(cols)))
    for r in rows:
        cells = [r['policy'], r['converged'], r['total_ms'], r['downtime_ms'],
                 r['passes'], r['reader_pct'], r['writer_mbps'],
                 r['base_writer_mbps']]
        print(' '.join(f'{v:>{w}}' if i else f'{v:<{w}}'
                       for i, (v, (_, w)) in enumerate(zip(cells, cols))))
    by = {r['policy']: r for r in rows}
    auto, adapt = by['auto-converge']['runs'], by['adaptive']['runs']
    if all(r['converged'] for r in adapt):
        ratio = (statistics.median_low(r['total_ms'] for r in adapt) /
                 statistics.median_low(r['total_ms'] for r in auto))
        print(f'\nadaptive total time / auto-converge total time (medians): '
              f'{ratio:.2f} (target <= 0.5'
              f'{"; auto-converge did not always converge" if not all(r["converged"] for r in auto) else ""})')
    for r in rows:
        downs = [x['downtime_ms'] for x in r['runs']
                 if x['converged'] and x['downtime_ms'] is not None]
        if downs:
            worst = max(downs)
            print(f'{r["policy"]}: worst downtime {worst} ms vs limit '
                  f'{DOWNTIME_MS} + 50 ms: '
                  f'{"within" if worst <= DOWNTIME_MS + 50 else "OVER"}')


if __name__ == '__main__':
    main()
