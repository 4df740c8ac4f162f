#!/usr/bin/env python3
"""Generate restraint's QMP code from the QAPI schema.

    scripts/qapi-gen.py -o OUTDIR [--depfile FILE] qapi/qapi-schema.json

The generator itself is the package scripts/qapi/ (see its __init__.py);
this is only its command-line entry point.
"""

import os
import sys

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qapi.main import main  # noqa: E402

if __name__ == '__main__':
    main()
