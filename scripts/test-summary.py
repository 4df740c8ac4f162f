#!/usr/bin/env python3
"""Count results of meson test logs (testlog.json) and extra result files.

usage: test-summary.py LOG.json... [--extra NAME=STATUS ...]
STATUS is pass, skip (could not run here, e.g. no /dev/kvm) or anything
else for a failure.  Prints one line per failed test, then 'N passed,
N failed, N skipped'.
A test that passed with skipped cases inside (GLib TAP lines
"ok N /path # SKIP why") counts once as passed and once per skipped case
as skipped, each named.  Exits 1 when anything failed.
"""
import json
import re
import sys

SKIPPED_CASE = re.compile(r'^ok \d+ (\S+) # SKIP ?(.*)$', re.M)


def main():
    passed = failed = skipped = 0
    failures = []
    args = sys.argv[1:]
    extras = []
    if '--extra' in args:
        i = args.index('--extra')
        extras = args[i + 1:]
        args = args[:i]
    for path in args:
        try:
            with open(path, encoding='utf-8') as f:
                lines = f.readlines()
        except OSError as e:
            failures.append(f'{path}: {e.strerror}')
            failed += 1
            continue
        for line in lines:
            t = json.loads(line)
            result = t.get('result')
            name = f"{t.get('name')} ({path.split('/')[0]})"
            if result in ('OK', 'EXPECTEDFAIL'):
                passed += 1
                for case, why in SKIPPED_CASE.findall(t.get('stdout') or ''):
                    skipped += 1
                    print(f'SKIPPED: {name} {case}: {why}')
            elif result == 'SKIP':
                skipped += 1
            else:
                failed += 1
                failures.append(f'{name}: {result}')
    for spec in extras:
        name, _, status = spec.partition('=')
        if status == 'pass':
            passed += 1
        elif status == 'skip':
            skipped += 1
        else:
            failed += 1
            failures.append(f'{name}: {status}')
    for f in failures:
        print(f'FAILED: {f}')
    print(f'{passed} passed, {failed} failed, {skipped} skipped')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
