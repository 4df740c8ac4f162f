"""scale-migration: migrating a mostly-zero guest as its RAM grows.  Two
restraint processes over a UNIX socket, a stamp writer over 64 MiB, the
rest never touched.  Per size: total time, GB/s of guest RAM, and the
source's resident memory and page tables afterwards (a first pass that
read every page would map the zero page 4 KiB at a time).  Median and
spread over the repeats, and the fitted log-log slope of the time.
Prints a table; never fails on time.

BENCH_QUICK=1: 1 and 8 GiB, one repeat."""

import math
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..',
                                'functional'))
from restraint_vm import RestraintVM, migrate_and_wait  # noqa: E402
from restraint_vm import poll, require_kvm  # noqa: E402

GIB = 1 << 30


def status_kib(pid, field):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def migrate_once(gib):
    tmp = tempfile.mkdtemp(prefix='restraint-scale-mig-')
    sock = os.path.join(tmp, 'in.sock')
    args = ['-smp', '2', '-m', f'{gib}G']
    src = RestraintVM(args + ['-workload', 'cpu=0,kind=stamp,size=64M'],
                      name='src')
    dst = RestraintVM(args + ['-S', '-incoming', 'unix:' + sock],
                      name='dst')
    with src, dst:
        poll(lambda: src.cmd('x-query-workload')[0]['sweeps'] > 0, 60)
        end = migrate_and_wait(src, 'unix:' + sock, 600)
        info = src.cmd('query-migrate')
        if end != 'completed':
            raise RuntimeError(f'{gib} GiB: migration {end}: {info}')
        return (info['total-time'] / 1000.0,
                status_kib(src.proc.pid, 'VmRSS') / 1024.0,
                status_kib(src.proc.pid, 'VmPTE') / 1024.0)


def main():
    require_kvm()
    quick = bool(os.environ.get('BENCH_QUICK'))
    sizes = [1, 8] if quick else [1, 8, 64]
    repeats = 1 if quick else 3
    print(f'scale-migration{" (BENCH_QUICK: a smoke run)" if quick else ""}:'
          f' median ±spread over {repeats} repeat(s)')
    print(f'  {"GiB":>5} {"time s":>14} {"GB/s":>14} {"src RSS MiB":>14}'
          f' {"src PTE MiB":>12}')
    medians = []
    for gib in sizes:
        runs = [migrate_once(gib) for _ in range(repeats)]
        t = [r[0] for r in runs]
        gbps = [gib * GIB / 1e9 / x for x in t]
        med_t = statistics.median(t)
        medians.append(med_t)
        print(f'  {gib:>5} {med_t:8.2f} ±{max(t) - min(t):<5.2f}'
              f' {statistics.median(gbps):8.2f} ±{max(gbps) - min(gbps):<5.2f}'
              f' {statistics.median(r[1] for r in runs):14.1f}'
              f' {statistics.median(r[2] for r in runs):12.1f}')
    xs = [math.log(g) for g in sizes]
    ys = [math.log(max(t, 1e-6)) for t in medians]
    n = len(xs)
    slope = ((n * sum(x * y for x, y in zip(xs, ys)) - sum(xs) * sum(ys)) /
             (n * sum(x * x for x in xs) - sum(xs) ** 2))
    print(f'  time vs RAM: log-log slope {slope:.2f} '
          f'({"linear or better" if slope <= 1.1 else "WORSE than linear"})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
