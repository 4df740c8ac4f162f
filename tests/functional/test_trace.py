"""Trace events as a person debugging uses them: `-trace PATTERN` (QEMU's
spelling, a glob) enables exactly the events whose names match, `-D FILE`
sends them to a file instead of stderr, `-PATTERN` disables, and
`-trace help` lists every event declared in the trace-events files."""

import glob
import os
import re
import subprocess
import sys
import tempfile
import time
import fnmatch

from restraint_vm import Checks, RestraintVM, require_kvm

CHECKS = Checks()
check = CHECKS.check
SRC = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# TID@SECONDS.MICROSECONDS:name args
LINE_RE = re.compile(r'^\d+@\d+\.\d{6}:([a-z_][a-z0-9_]*)( .*)?$')
VM_ARGS = ['-smp', '2', '-m', '296M', '-accel', 'kvm,dirty-ring-size=4096',
           '-workload', 'cpu=0,kind=write,size=128M',
           '-workload', 'cpu=1,kind=read,size=128M']



def declared_events():
    names = []
    for path in glob.glob(os.path.join(SRC, '**', 'trace-events'),
                          recursive=True):
        if '/build' in path or '/tests/' in path:
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith('#'):
                    names.append(line.split('(', 1)[0])
    return names


def trace_lines(text):
    """The event names of the trace lines in @text; other lines apart."""
    events, other = [], []
    for line in text.splitlines():
        m = LINE_RE.match(line)
        if m:
            events.append(m.group(1))
        elif line.strip():
            other.append(line)
    return events, other


def exercise(vm):
    """Do something that fires events of several subsystems."""
    vm.cmd('set-vcpu-dirty-limit', cpu_index=0, dirty_rate=50)
    time.sleep(1.0)
    vm.cmd('set-vcpu-dirty-limit', cpu_index=0, dirty_rate=80)
    vm.cmd('query-vcpu-dirty-limit')
    vm.hmp('info status')
    vm.cmd('cancel-vcpu-dirty-limit', cpu_index=0)
    vm.cmd('stop')
    vm.cmd('cont')


def test_help_lists_every_declared_event():
    r = subprocess.run([os.environ['RESTRAINT'], '-trace', 'help'],
                       capture_output=True, text=True, timeout=30)
    listed = r.stdout.split()
    declared = declared_events()
    check(r.returncode == 0, '-trace help exits 0')
    check(sorted(listed) == sorted(declared),
          f'-trace help lists the {len(declared)} declared events '
          f'(missing {set(declared) - set(listed)}, '
          f'extra {set(listed) - set(declared)})')


def test_pattern_to_file_enables_exactly_the_matches(tmp):
    path = os.path.join(tmp, 'trace.log')
    with RestraintVM(VM_ARGS + ['-trace', 'dirtylimit_*', '-D', path]) as vm:
        exercise(vm)
        stderr_text = vm.output()
    with open(path) as f:
        events, other = trace_lines(f.read())
    check(not other, f'-D file holds only trace lines ({other[:3]})')
    check('dirtylimit_set' in events and 'dirtylimit_cancel' in events,
          f'dirtylimit_set and dirtylimit_cancel were traced '
          f'({sorted(set(events))})')
    check(events.count('dirtylimit_set') == 2,
          'one dirtylimit_set per set-vcpu-dirty-limit')
    stray = [e for e in events if not fnmatch.fnmatchcase(e, 'dirtylimit_*')]
    check(not stray, f'no event outside dirtylimit_* ({sorted(set(stray))})')
    check(not trace_lines(stderr_text)[0],
          'with -D nothing is traced on stderr')


def test_several_patterns_and_a_negation_on_stderr():
    with RestraintVM(VM_ARGS + ['-trace', 'dirtylimit_*', '-trace',
                                'runstate_set', '-trace', 'qmp_*',
                                '-trace', '-qmp_event']) as vm:
        exercise(vm)
    events, _ = trace_lines(vm.output())
    wanted = ['dirtylimit_*', 'runstate_set', 'qmp_*']
    stray = [e for e in events
             if not any(fnmatch.fnmatchcase(e, p) for p in wanted)]
    check(not stray, f'only the patterns given ({sorted(set(stray))})')
    check('runstate_set' in events and 'qmp_request' in events and
          'dirtylimit_set' in events,
          f'each pattern traced something ({sorted(set(events))})')
    check('qmp_event' not in events, '-qmp_event disabled what qmp_* enabled')


def test_no_trace_option_traces_nothing_and_a_bad_pattern_warns():
    with RestraintVM(VM_ARGS) as vm:
        exercise(vm)
    check(not trace_lines(vm.output())[0], 'no -trace: no trace lines')
    with RestraintVM(VM_ARGS + ['-trace', 'no_such_event_*']) as vm:
        pass
    check('no_such_event_*: no trace event matches' in vm.output(),
          'a pattern that matches nothing is warned about')


def main():
    require_kvm()
    test_help_lists_every_declared_event()
    with tempfile.TemporaryDirectory(prefix='restraint-trace-') as tmp:
        test_pattern_to_file_enables_exactly_the_matches(tmp)
    test_several_patterns_and_a_negation_on_stderr()
    test_no_trace_option_traces_nothing_and_a_bad_pattern_warns()
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
