#!/usr/bin/env python3
"""convergence-league: the four convergence policies (none, auto-converge,
dirty-limit, x-adaptive-converge) ranked on real programs' dirty-page
traces (traces/), replayed by a 4-vCPU guest, migrated between two fresh
restraint processes over a UNIX socket.

Cells: policy x mix x bandwidth.  A mix gives each of the 4 vCPUs a
replayed trace (loop=on: the program runs on), a reader or nothing.  Per
cell and run: converged, total time, downtime, bytes sent, each vCPU's
slowdown and the reader's throughput.

  slowdown  a replaying vCPU's lag behind its recorded schedule
            (x-query-workload replay.lag-us, the application's own time)
            grown during the migration, as % of the migration's wall
            time: 0 = ran as recorded, 50 = did half a second's work per
            second, 100 = stood still.  Measured the same way over
            BASELINE_S before the migration (the host's own slowdown,
            printed as "base").
  reader %  the read-only vCPU's bytes read per second during the
            migration, as % of the same before it.

Each cell runs REPEATS times; runs go round the cells (every cell once,
then again), so an interrupted or time-limited run still covers them
all.  Tables give the median and the spread (max - min).  Results are
written as JSON lines to --out (default build/league/runs.jsonl in the
source tree; --append adds to it) as they come; --report rebuilds the
tables from that file alone, --plot DIR draws them (gnuplot).

Options (environment in brackets): --repeats N [BENCH_REPEATS; default
3, 1 with --quick], --quick [BENCH_QUICK=1: two mixes, shorter
time limit], --mixes a,b  --policies a,b  --bandwidths 64,256 (MiB/s),
--time-limit S (give up: "did not converge"), --budget S (stop starting
runs after S seconds).  Never fails on a figure."""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'functional'))
from restraint_vm import RestraintVM, require_kvm  # noqa: E402

MIB = 1 << 20
TRACES = os.environ.get('TRACES_DIR') or os.path.join(ROOT, 'traces')
# Each vCPU's slice of RAM (the default layout): the largest replay,
# redis (253.5 MiB of pages + 7.5 MiB of schedule), fits.
SLICE_MB = 272
RAM_MB = 16 + 4 * SLICE_MB
READ_MB = 256
DOWNTIME_MS = 300
BASELINE_S = 2.0
WARMUP_S = 3.0            # the replays lay out, fault in and run
POLL_S = 0.2

# What a vCPU runs: a trace (and its process), 'read' or 'idle'.
GCC_CC1 = 4921            # the largest cc1 of traces/gcc.dtrace
WORKLOADS = {
    'redis': ('redis.dtrace', None),
    'sqlite': ('sqlite.dtrace', None),
    'gcc': ('gcc.dtrace', GCC_CC1),
    'python': ('python.dtrace', None),
    'xz': ('xz.dtrace', None),
}
MIXES = {
    # key-value store + database + compiler + a reader
    'kv-db-cc-read': ['redis', 'sqlite', 'gcc', 'read'],
    # two runtimes, a database and a reader
    'py-xz-db-read': ['python', 'xz', 'sqlite', 'read'],
    # every vCPU writes
    'all-write': ['redis', 'python', 'xz', 'gcc'],
    # one heavy writer, a light one, a reader, an idle vCPU
    'xz-kv-read-idle': ['xz', 'redis', 'read', 'idle'],
}
QUICK_MIXES = ['kv-db-cc-read', 'all-write']
POLICIES = {
    'none': None,
    'auto-converge': 'auto-converge',
    'dirty-limit': 'dirty-limit',
    'adaptive': 'x-adaptive-converge',
}
BANDWIDTHS_MIB = [64, 256]


def workload_arg(cpu, what):
    if what == 'idle':
        return f'cpu={cpu},kind=idle'
    if what == 'read':
        return f'cpu={cpu},kind=read,size={READ_MB}M'
    trace, pid = WORKLOADS[what]
    arg = (f'cpu={cpu},kind=replay,trace={os.path.join(TRACES, trace)},'
           'loop=on')
    return arg + (f',process={pid}' if pid else '')


def vm_args(mix):
    args = ['-smp', '4', '-m', f'{RAM_MB}M',
            '-accel', 'kvm,dirty-ring-size=4096']
    for cpu, what in enumerate(MIXES[mix]):
        args += ['-workload', workload_arg(cpu, what)]
    return args


def sample(vm):
    """(time, {cpu: (lag_us or None, bytes_read)})"""
    now = time.monotonic()
    out = {}
    for w in vm.cmd('x-query-workload'):
        r = w.get('replay')
        out[w['cpu-index']] = (r['lag-us'] if r else None, w['bytes-read'])
    return now, out


def per_vcpu(a, b, mix):
    """Slowdown % of each replaying vCPU and reader bytes/s, a -> b."""
    dt = b[0] - a[0]
    slow, read = {}, {}
    for cpu, what in enumerate(MIXES[mix]):
        if what in WORKLOADS:
            grown = (b[1][cpu][0] - a[1][cpu][0]) / 1e6
            slow[cpu] = 100.0 * grown / dt if dt > 0 else 0.0
        elif what == 'read':
            read[cpu] = (b[1][cpu][1] - a[1][cpu][1]) / dt if dt > 0 else 0
    return slow, read


def run_cell(tmp, policy, mix, bw_mib, time_limit, tag):
    sock = os.path.join(tmp, tag + '.sock')
    src = RestraintVM(vm_args(mix), name=f'src-{tag}')
    dst = RestraintVM(vm_args(mix) + ['-incoming', 'unix:' + sock],
                      name=f'dst-{tag}')
    with src, dst:
        cap = POLICIES[policy]
        if cap:
            src.cmd('migrate-set-capabilities',
                    capabilities=[{'capability': cap, 'state': True}])
        src.cmd('migrate-set-parameters', max_bandwidth=bw_mib * MIB,
                downtime_limit=DOWNTIME_MS)
        time.sleep(WARMUP_S)
        b0 = sample(src)
        time.sleep(BASELINE_S)
        b1 = sample(src)
        base_slow, base_read = per_vcpu(b0, b1, mix)
        start = sample(src)
        src.cmd('migrate', uri='unix:' + sock)
        deadline = time.monotonic() + time_limit
        last = start
        info = {}
        timeline = []       # (s since migrate, pass, remaining, sent MiB)
        while time.monotonic() < deadline:
            info = src.cmd('query-migrate')
            ram = info.get('ram', {})
            timeline.append((round(time.monotonic() - start[0], 2),
                             ram.get('dirty-sync-count', 0),
                             round(ram.get('remaining', 0) / MIB, 1),
                             round(ram.get('transferred', 0) / MIB, 1)))
            if info.get('status') in ('completed', 'failed', 'cancelled'):
                break
            last = sample(src)
            time.sleep(POLL_S)
        converged = info.get('status') == 'completed'
        if not converged and info.get('status') not in ('failed',):
            last = sample(src)
            src.cmd('migrate_cancel')
            end = time.monotonic() + 20
            while time.monotonic() < end:
                info = src.cmd('query-migrate')
                if info.get('status') in ('cancelled', 'failed',
                                          'completed'):
                    break
                time.sleep(0.1)
        slow, read = per_vcpu(start, last, mix)
        ram = info.get('ram', {})
        return {
            'policy': policy, 'mix': mix, 'bw_mib': bw_mib,
            'converged': converged,
            'status': info.get('status'),
            'total_ms': info.get('total-time', 0) if converged
            else time_limit * 1000,
            'downtime_ms': info.get('downtime') if converged else None,
            'sent_mib': ram.get('transferred', 0) / MIB,
            'passes': ram.get('dirty-sync-count', 0),
            'window_s': last[0] - start[0],
            'slowdown_pct': {str(k): v for k, v in slow.items()},
            'base_slowdown_pct': {str(k): v for k, v in base_slow.items()},
            'reader_pct': {str(k): 100.0 * read[k] / base_read[k]
                           if base_read.get(k) else 0.0 for k in read},
            'reader_mibps': {str(k): v / MIB for k, v in read.items()},
            'error': info.get('error-desc'),
            'timeline': timeline,
        }


# ---- report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median_low(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    return max(values) - min(values) if values else None


def fmt(values, digits=0):
    m = med(values)
    if m is None:
        return '-'
    s = spread(values)
    if len(values) < 2:
        return f'{m:.{digits}f}'
    return f'{m:.{digits}f} ({s:.{digits}f})'


def slow_sum(run):
    return sum(run['slowdown_pct'].values())


def lost_s(run):
    """Application seconds lost, summed over the vCPUs: the slowdowns
    times the time they were measured over."""
    window = run.get('window_s', run['total_ms'] / 1000.0)
    return slow_sum(run) * window / 100.0


def cells_of(runs):
    cells = {}
    for r in runs:
        cells.setdefault((r['mix'], r['bw_mib'], r['policy']), []).append(r)
    return cells


def report(runs, out=sys.stdout):
    say = lambda s='': print(s, file=out, flush=True)  # noqa: E731
    cells = cells_of(runs)
    order_p = [p for p in POLICIES if any(k[2] == p for k in cells)]
    keys = sorted({(k[0], k[1]) for k in cells},
                  key=lambda k: (list(MIXES).index(k[0]), k[1]))
    say('median (spread = max - min) over the runs; slowdown per vCPU in '
        'cpu order (replaying vCPUs only), % of the migration\'s wall time '
        'the application fell behind its recording; sum: over the vCPUs; '
        'base: the same sum over the 2 s before the migration; lost s: '
        'application seconds lost, summed over the vCPUs; reader: % of '
        'its throughput before the migration')
    say(f'{"mix":<16} {"MiB/s":>5} {"policy":<13} {"conv":>4} '
        f'{"total ms":>13} {"down ms":>9} {"sent MiB":>11} '
        f'{"slowdown % per vCPU":<26} {"sum":>9} {"base":>5} '
        f'{"lost s":>9} {"reader %":>9}')
    for mix, bw in keys:
        for p in order_p:
            rs = cells.get((mix, bw, p))
            if not rs:
                continue
            conv = f'{sum(r["converged"] for r in rs)}/{len(rs)}'
            cpus = sorted(rs[0]['slowdown_pct'], key=int)
            per = ' '.join(f'{MIXES[mix][int(c)]}:'
                           f'{med([r["slowdown_pct"][c] for r in rs]):.0f}'
                           for c in cpus)
            base = med([sum(r['base_slowdown_pct'].values()) for r in rs])
            readers = [c for c in rs[0]['reader_pct']]
            rd = (fmt([r['reader_pct'][readers[0]] for r in rs])
                  if readers else '-')
            say(f'{mix:<16} {bw:>5} {p:<13} {conv:>4} '
                f'{fmt([r["total_ms"] for r in rs]):>13} '
                f'{fmt([r["downtime_ms"] for r in rs]):>9} '
                f'{fmt([r["sent_mib"] for r in rs]):>11} {per:<26} '
                f'{fmt([slow_sum(r) for r in rs]):>9} '
                f'{base:>5.0f} {fmt([lost_s(r) for r in rs], 1):>9} '
                f'{rd:>9}')
        say()
    targets(cells, keys, say)


def targets(cells, keys, say):
    """The issue's three policy targets, over the cells measured."""
    any_conv = adapt_conv = 0
    ratios = []
    slow_cmp = slow_won = lost_won = 0
    losses = []
    for mix, bw in keys:
        get = lambda p: cells.get((mix, bw, p), [])  # noqa: E731
        ad, au, dl = get('adaptive'), get('auto-converge'), get('dirty-limit')
        everyone = [r for p in POLICIES for r in get(p)]
        # A cell converges for a policy when most of its runs did.
        conv = lambda rs: bool(rs) and 2 * sum(  # noqa: E731
            r['converged'] for r in rs) > len(rs)
        if ad and any(conv(get(p)) for p in POLICIES) and everyone:
            any_conv += 1
            if conv(ad):
                adapt_conv += 1
            else:
                losses.append(f'{mix} @{bw}: adaptive did not converge')
        if ad and au:
            ratio = med([r['total_ms'] for r in ad]) / \
                med([r['total_ms'] for r in au])
            ratios.append((ratio, mix, bw))
            if ratio > 0.5:
                losses.append(f'{mix} @{bw}: adaptive/auto-converge total '
                              f'time {ratio:.2f}')
        if ad and dl:
            slow_cmp += 1
            a, d = med([slow_sum(r) for r in ad]), \
                med([slow_sum(r) for r in dl])
            lost_won += med([lost_s(r) for r in ad]) < \
                med([lost_s(r) for r in dl])
            if a < d:
                slow_won += 1
            else:
                losses.append(f'{mix} @{bw}: slowdown sum adaptive {a:.0f}'
                              f' >= dirty-limit {d:.0f}')
    say('targets (over the cells above):')
    if any_conv:
        say(f'  adaptive converges where any policy converges: {adapt_conv} '
            f'of {any_conv} cells -> '
            f'{"MET" if adapt_conv == any_conv else "NOT MET"}')
    else:
        say('  adaptive converges where any policy converges: no cell with '
            'adaptive where any policy converged')
    if ratios:
        rmed = statistics.median_low(r for r, _, _ in ratios)
        worst = max(ratios)
        say(f'  adaptive median total time / auto-converge\'s: median over '
            f'cells {rmed:.2f}, worst {worst[0]:.2f} ({worst[1]} @'
            f'{worst[2]}); <= 0.5 in '
            f'{sum(r <= 0.5 for r, _, _ in ratios)} of {len(ratios)} cells '
            f'-> {"MET" if all(r <= 0.5 for r, _, _ in ratios) else "NOT MET"}'
            ' (a cell that did not converge counts the time limit)')
    if slow_cmp:
        say(f'  adaptive slowdown sum < dirty-limit\'s: {slow_won} of '
            f'{slow_cmp} cells ({100.0 * slow_won / slow_cmp:.0f}%, target '
            f'>= 80%) -> '
            f'{"MET" if slow_won >= 0.8 * slow_cmp else "NOT MET"}')
        say(f'  (not a target) adaptive loses fewer application seconds '
            f'than dirty-limit: {lost_won} of {slow_cmp} cells')
    for line in losses:
        say(f'  loses: {line}')


def plot(runs, out_dir, name, title):
    """DIR/NAME.png: per cell (mix @ bandwidth), one bar per policy: the
    median total time (a cell that did not converge shows the time limit,
    marked x) and the median sum of the vCPUs' slowdowns.  Returns the PNG
    path, or None (with the reason printed) when gnuplot is missing or
    fails."""
    import shutil
    import subprocess
    cells = cells_of(runs)
    policies = [p for p in POLICIES if any(k[2] == p for k in cells)]
    keys = sorted({(k[0], k[1]) for k in cells},
                  key=lambda k: (list(MIXES).index(k[0]), k[1]))
    dat = os.path.join(out_dir, name + '.dat')
    with open(dat, 'w') as f:
        f.write('# cell, then per policy: total_s slowdown_sum_pct '
                'converged(1/0); medians\n')
        f.write('# cell ' + ' '.join(f'{p}_s {p}_slow {p}_conv'
                                     for p in policies) + '\n')
        for mix, bw in keys:
            row = [f'{mix}@{bw}']
            for p in policies:
                rs = cells.get((mix, bw, p), [])
                if not rs:
                    row += ['-', '-', '0']
                    continue
                conv = 2 * sum(r['converged'] for r in rs) > len(rs)
                row += [f'{med([r["total_ms"] for r in rs]) / 1000:.2f}',
                        f'{med([slow_sum(r) for r in rs]):.1f}',
                        '1' if conv else '0']
            f.write(' '.join(row) + '\n')
    gnuplot = shutil.which('gnuplot')
    if not gnuplot:
        print(f'gnuplot is not installed: data in {dat}, no plot')
        return None
    png = os.path.join(out_dir, name + '.png')
    n = len(policies)
    script = [
        f'set terminal pngcairo size 1200,{500 + 30 * len(keys)}',
        f'set output "{png}"',
        'set datafile missing "-"', 'set termoption noenhanced',
        'set yrange [0:*]', f'set xrange [-0.6:{len(keys) - 0.4}]',
        f'set multiplot layout 2,1 title "{title}"',
        'set style data histogram',
        'set style histogram clustered gap 1',
        'set style fill solid 0.8 border -1',
        'set grid ytics', 'set key outside right',
        'set xtics rotate by -20 scale 0 font ",9"',
        'set ylabel "total time (s)"',
        'set title "migration total time, median (x: did not converge '
        'in the time limit)"',
        'plot ' + ', '.join(
            f'"{dat}" using {2 + 3 * i}:xtic(1) title "{p}"'
            for i, p in enumerate(policies)) + ', ' + ', '.join(
            f'"{dat}" using ($0 - 0.5 + {(i + 1.0) / (n + 1):.3f}):'
            f'(${4 + 3 * i} > 0 ? 1/0 : ${2 + 3 * i}) with points pt 2 ps 2 '
            'lc rgb "black" notitle' for i in range(n)),
        'set ylabel "sum of slowdowns (%)"',
        'set title "the applications\' slowdown: replay lag grown during '
        'the migration, % of its time, summed over the vCPUs (median)"',
        'plot ' + ', '.join(
            f'"{dat}" using {3 + 3 * i}:xtic(1) title "{p}"'
            for i, p in enumerate(policies)),
        'unset multiplot',
    ]
    gp = os.path.join(out_dir, name + '.gp')
    with open(gp, 'w') as f:
        f.write('\n'.join(script) + '\n')
    r = subprocess.run([gnuplot, gp], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        print(f'gnuplot failed: {r.stderr.strip()}')
        return None
    return png


def parse():
    quick_env = os.environ.get('BENCH_QUICK') == '1'
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', default=quick_env)
    ap.add_argument('--repeats', type=int,
                    default=int(os.environ.get('BENCH_REPEATS') or 0))
    ap.add_argument('--mixes')
    ap.add_argument('--policies')
    ap.add_argument('--bandwidths')
    ap.add_argument('--time-limit', type=float)
    ap.add_argument('--budget', type=float, default=0,
                    help='stop starting runs after this many seconds')
    ap.add_argument('--out', default=os.path.join(ROOT, 'build', 'league',
                                                  'runs.jsonl'))
    ap.add_argument('--append', action='store_true',
                    help='add to --out instead of starting it afresh')
    ap.add_argument('--report', action='store_true',
                    help='only print the tables from --out')
    ap.add_argument('--plot', metavar='DIR',
                    help='also plot the cells into DIR/league-NAME.png '
                    '(NAME: --out without its extension)')
    a = ap.parse_args()
    a.repeats = a.repeats or (1 if a.quick else 3)
    a.mixes = a.mixes.split(',') if a.mixes else \
        (QUICK_MIXES if a.quick else list(MIXES))
    a.policies = a.policies.split(',') if a.policies else list(POLICIES)
    a.bandwidths = [int(x) for x in a.bandwidths.split(',')] \
        if a.bandwidths else BANDWIDTHS_MIB
    a.time_limit = a.time_limit or (25.0 if a.quick else 60.0)
    for m in a.mixes:
        if m not in MIXES:
            ap.error(f'no mix {m} (have {", ".join(MIXES)})')
    for p in a.policies:
        if p not in POLICIES:
            ap.error(f'no policy {p} (have {", ".join(POLICIES)})')
    return a


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    a = parse()
    name = 'league-' + os.path.splitext(os.path.basename(a.out))[0]
    if a.report:
        runs = load(a.out)
        report(runs)
        if a.plot:
            png = plot(runs, a.plot, name, 'convergence league: ' +
                       os.path.basename(a.out))
            print(f'plot: {png}' if png else 'no plot')
        return 0
    require_kvm()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    print(f'# convergence-league: 4 vCPUs, {RAM_MB} MiB, dirty ring 4096, '
          f'downtime-limit {DOWNTIME_MS} ms, time limit {a.time_limit:.0f} '
          f's, {a.repeats} run(s) per cell{" (quick)" if a.quick else ""}; '
          f'results in {a.out}', flush=True)
    for m in a.mixes:
        print(f'#   mix {m}: ' + ', '.join(
            f'vCPU {i} {w}' for i, w in enumerate(MIXES[m])), flush=True)
    t0 = time.monotonic()
    runs = []
    with tempfile.TemporaryDirectory(prefix='restraint-league-') as tmp, \
            open(a.out, 'a' if a.append else 'w') as log:
        cells = [(k, mix, bw, p) for k in range(a.repeats)
                 for mix in a.mixes for bw in a.bandwidths
                 for p in a.policies]
        for k, mix, bw, p in cells:
            if a.budget and time.monotonic() - t0 > a.budget:
                print(f'# budget spent: stopping after {len(runs)} of '
                      f'{len(cells)} runs', flush=True)
                break
            r = run_cell(tmp, p, mix, bw, a.time_limit,
                         f'{p}-{mix}-{bw}-{k}')
            r['repeat'] = k
            runs.append(r)
            log.write(json.dumps(r) + '\n')
            log.flush()
            why = f' ({r["error"]})' if r['error'] else ''
            print(f'# run {k + 1}: {mix} @{bw} MiB/s {p}: '
                  f'{r["status"]} {r["total_ms"]} ms, slowdown '
                  f'sum {slow_sum(r):.0f}%{why}'
                  f' [{time.monotonic() - t0:.0f} s]',
                  flush=True)
    print()
    report(runs)
    if a.plot and runs:
        png = plot(runs, a.plot, name, 'convergence league (this run)')
        print(f'plot: {png}' if png else 'no plot')
    return 0


if __name__ == '__main__':
    sys.exit(main())
