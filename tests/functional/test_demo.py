"""make demo runs to its end (in its short DEMO_QUICK=1 form) and leaves
valid PNG plots where it says they are."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

from restraint_vm import Checks, require_kvm

SRC = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# A plot with axes, lines and text is tens of KiB; an empty image is ~1 KiB.
MIN_PNG_BYTES = 8 * 1024
DEMO_TIMEOUT_S = 600
CHECKS = Checks()
check = CHECKS.check



def main():
    require_kvm()
    with tempfile.TemporaryDirectory(prefix='restraint-demo-') as out:
        env = dict(os.environ, DEMO_QUICK='1', DEMO_OUT=out)
        r = subprocess.run([sys.executable, os.path.join(SRC, 'scripts',
                                                         'demo')],
                           env=env, capture_output=True, text=True,
                           timeout=DEMO_TIMEOUT_S)
        print(r.stdout[-6000:], r.stderr[-3000:], flush=True)
        check(r.returncode == 0, f'the demo exits 0 (got {r.returncode})')
        for act in ('Act 1', 'Act 2', 'Act 3', 'Act 4', 'demo done'):
            check(act in r.stdout, f'the demo reaches "{act}"')
        check(re.search(r'^dirty-ring\s+\d+', r.stdout, re.M) is not None,
              'act 1 prints a dirty-ring measurement')
        if not shutil.which('gnuplot'):
            CHECKS.skip('PNG checks: gnuplot is not installed (Debian '
                        'package gnuplot-nox, scripts/install-deps)')
        else:
            pngs = [line.strip() for line in r.stdout.splitlines()
                    if line.strip().endswith('.png')]
            check(len(pngs) >= 1, f'the demo names its plots: {pngs}')
            migrated = 'Act 3' in r.stdout and 'not usable' not in r.stdout
            # Act 4 in its quick form plots the league shipped in docs/.
            league = os.path.exists(os.path.join(
                SRC, 'docs', 'devel', 'convergence-league-runs.jsonl'))
            check(len(pngs) == (2 if migrated else 1) + league,
                  'one plot per story told')
            if league:
                check(re.search(r'adaptive converges where any policy '
                                r'converges: \d+ of \d+', r.stdout)
                      is not None, 'act 4 prints the league\'s targets')
            for p in pngs:
                ok = os.path.isfile(p)
                data = open(p, 'rb').read() if ok else b''
                check(data.startswith(PNG_SIGNATURE),
                      f'{os.path.basename(p)} is a PNG')
                check(len(data) >= MIN_PNG_BYTES,
                      f'{os.path.basename(p)} is not trivial '
                      f'({len(data)} bytes)')
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
