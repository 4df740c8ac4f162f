#!/usr/bin/env python3
"""restraint's chaos driver: a long-lived source restraint migrates, cycle
after cycle, to fresh destinations while several QMP clients at once
send random legal and illegal commands and a fault strikes at a random
point; invariants are checked after every step, and a table of what
happened is printed at the end.  Exit 1 on any violation, 77 without
KVM.  See docs/devel/chaos.md.

usage: chaos.py [--seed N] [--duration S] [--cycles N] [--only-cycle K]
The seed fixes every cycle's plan (policy, fault, clients, their
commands); replay a failure with the seed it printed.
"""

import argparse
import os
import random
import signal
import socket
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, '..', 'functional')]

from restraint_vm import poll, require_kvm          # noqa: E402
from cycle import Cycle                             # noqa: E402
from faults import NetnsLink                        # noqa: E402
from invariants import Tally                        # noqa: E402
from scenario import Scenario                       # noqa: E402
from vms import ChaosVM, Hang                       # noqa: E402

LEAK_SETTLE_S = 5.0         # fds and threads return to baseline within


def steady_resources(vm):
    """(fds, threads) once two reads 0.2 s apart agree: closed clients
    and ended threads go at the main loop's pace."""
    seen = [None]

    def same_twice():
        prev, seen[0] = seen[0], vm.resources()
        return seen[0] == prev and seen[0]
    return poll(same_twice, LEAK_SETTLE_S, 0.2) or vm.resources()


class Run:
    """The processes and faults shared by the cycles of one run."""

    def __init__(self, binary, tally, tmpdir):
        self.binary = binary
        self.tally = tally
        self.tmpdir = tmpdir
        self.source = None
        self.baseline = None        # the source's (fds, threads)
        self.cont_refused = False   # no cont after a completed migration
        self.link = NetnsLink()
        self.link_skip = self.link.up()
        if self.link_skip:
            self.link = None
        elif not self.link.netem:
            self.link_skip = 'netem: this kernel has no sch_netem; the ' \
                             'link fault uses tbf drops and delay instead'

    def free_port(self):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            return s.getsockname()[1]

    def ensure_source(self):
        src = self.source
        alive = src and src.proc and src.proc.poll() is None and \
            not src.expected_exit
        if alive and not src.retired:
            return src
        if alive:
            self.check_leaks(final=True)
        if src:
            self.end(src)
        self.source = ChaosVM('source', self.tally, 'src',
                              binary=self.binary).launch()
        self.baseline = None
        return self.source

    def end(self, vm):
        """Stop @vm; a crash or an unclean exit is a violation."""
        if vm.proc is None:
            return                  # ended already
        code = vm.crashed()
        if code is not None:
            self.crash(vm, f'exited with {code} unasked')
        killed = vm.proc is not None and vm.expected_exit and \
            vm.proc.poll() == -signal.SIGKILL
        code = vm.stop()
        if code not in (0, None) and not killed:
            self.crash(vm, f'exit code {code} at quit')

    end_dest = end

    def crash(self, vm, what):
        tail = '\n'.join(vm.output().splitlines()[-25:])
        self.tally.violation(f'{vm.name} (pid {vm.pid}) {what}:\n{tail}',
                             'crashes')

    def check_leaks(self, final=False):
        """Compare the source's fds and threads with its baseline."""
        src = self.source
        if not src or src.expected_exit or src.proc.poll() is not None:
            return
        if self.baseline is None:
            self.baseline = steady_resources(src)
            return
        base = self.baseline
        now = poll(lambda: (r := src.resources()) and r[0] <= base[0] and
                   r[1] <= base[1] and r, LEAK_SETTLE_S, 0.2) or \
            src.resources()
        fds, threads = now[0] - base[0], now[1] - base[1]
        if final and (fds > 0 or threads > 0):
            self.tally.add('leaked fds', max(fds, 0))
            self.tally.add('leaked threads', max(threads, 0))
            self.tally.violation(f'source holds {fds} more fds and '
                                 f'{threads} more threads than at its '
                                 f'baseline {base}')
        return now


def src_migrated(src):
    """Did the source hand its guest over (postmigrate)?"""
    try:
        return src.runstate() == 'postmigrate'
    except Exception:   # gone or not answering: the next cycle restarts it
        return False


def one_cycle(run, seed, index):
    tally = run.tally
    tally.cycle = index
    try:
        src = run.ensure_source()
    except (RuntimeError, OSError) as e:
        tally.violation(f'the source did not start: {e}', 'crashes')
        return
    sc = Scenario(seed, index)
    print(f'cycle {index}: {sc.describe()}', flush=True)
    cycle = Cycle(run, sc)
    try:
        end = cycle.run_cycle()
        print(f'cycle {index}: {end}', flush=True)
    except Hang as e:
        print(f'cycle {index}: {e}', flush=True)
        tally.violation(str(e), 'hangs')
        src.expected_exit = True    # restart it
    except RuntimeError as e:
        tally.violation(f'a destination did not start: {e}', 'crashes')
    except (OSError, ConnectionError, ValueError) as e:
        print(f'cycle {index}: {e!r}', flush=True)
        for vm in (src, cycle.dst):
            if vm is not None and vm.crashed() is not None:
                run.crash(vm, f'died ({e})')
                vm.expected_exit = True
        if not src.expected_exit and (cycle.dst is None or
                                      not cycle.dst.expected_exit):
            tally.violation(f'lost the QMP connection: {e!r}')
            src.expected_exit = True
        if not src.expected_exit and src_migrated(src):
            # The migration completed before the fault hit the driver:
            # this source cannot run again, a new one follows.
            src.expected_exit = True
    finally:
        cycle.cleanup()
    if src.expected_exit:
        run.check_leaks(final=True)
        run.end(src)
    else:
        run.check_leaks()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int,
                    default=int(os.environ.get('CHAOS_SEED') or
                                random.SystemRandom().getrandbits(31)))
    ap.add_argument('--duration', type=float, default=60.0,
                    help='seconds; no new cycle starts after this')
    ap.add_argument('--cycles', type=int, default=0,
                    help='at most this many cycles (0: no limit)')
    ap.add_argument('--only-cycle', type=int, default=None,
                    help="run just cycle K of the seed's plan")
    args = ap.parse_args()
    print(f'chaos: seed {args.seed} duration {args.duration:.0f} s '
          f'(replay: tests/chaos/chaos.py --seed {args.seed} '
          f'--duration {args.duration:.0f})', flush=True)
    require_kvm()
    binary = os.environ.get('RESTRAINT')
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix='restraint-chaos-') as tmp:
        run = Run(binary, tally, tmp)
        if run.link_skip:
            print(f'chaos: {run.link_skip}', flush=True)
            tally.skips.add(run.link_skip)
        try:
            start = time.monotonic()
            index = args.only_cycle or 0
            while time.monotonic() - start < args.duration:
                try:
                    one_cycle(run, args.seed, index)
                except Exception:   # the driver's own bug: say so, stop
                    traceback.print_exc()
                    tally.violation('the chaos driver failed (a bug in '
                                    'tests/chaos, see the traceback)')
                    break
                index += 1
                if args.only_cycle is not None or \
                        (args.cycles and index >= args.cycles):
                    break
            run.check_leaks(final=True)
            if run.source:
                run.end(run.source)
        finally:
            ChaosVM.kill_all()
            if run.link:
                run.link.down()
    print(f'chaos: seed {args.seed}, {index - (args.only_cycle or 0)} '
          f'cycles in {time.monotonic() - start:.0f} s')
    print(tally.table())
    for cycle, text in tally.violations:
        print(f'violation in cycle {cycle} (replay: --seed {args.seed} '
              f'--only-cycle {cycle}): {text.splitlines()[0]}')
    return 1 if tally.violations else 0


if __name__ == '__main__':
    sys.exit(main())
