"""The command line: read the schema, run every generator, write a depfile."""

import argparse
import os
import sys

import qapi
from qapi.commands import CommandsOutput
from qapi.common import SchemaError
from qapi.events import EventsOutput
from qapi.introspect import IntrospectOutput
from qapi.schema import Schema
from qapi.types import TypesOutput
from qapi.visit import VisitOutput


OUTPUTS = [TypesOutput, VisitOutput, CommandsOutput, EventsOutput,
           IntrospectOutput]


def main():
    ap = argparse.ArgumentParser(description=qapi.__doc__.split('\n')[0])
    ap.add_argument('-o', '--output-dir', required=True)
    ap.add_argument('--depfile', help='write a Make-style dependency file')
    ap.add_argument('schema')
    args = ap.parse_args()
    try:
        schema = Schema(args.schema)
    except (SchemaError, KeyError, OSError) as e:
        msg = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        sys.exit(f'qapi-gen: {msg}')
    os.makedirs(args.output_dir, exist_ok=True)
    for cls in OUTPUTS:
        out = cls(schema)
        out.generate()
        out.write(args.output_dir)
    if args.depfile:
        target = os.path.join(args.output_dir, 'qapi-types.h')
        deps = ' '.join(f.replace(' ', '\\ ') for f in schema.files)
        with open(args.depfile, 'w', encoding='utf-8') as f:
            f.write(f'{target}: {deps}\n')
