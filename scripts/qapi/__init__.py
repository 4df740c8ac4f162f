"""Generate restraint's QMP code from the QAPI schema.

    scripts/qapi-gen.py -o OUTDIR [--depfile FILE] qapi/qapi-schema.json

The schema language is QEMU's: single-quoted JSON-like expressions, each
preceded by a '##' doc block whose first line is '# @name:' and which
documents every member, enum value and feature.  Supported expressions:

    { 'include': 'FILE.json' }
    { 'enum': NAME, 'data': [ VALUE, ... ], '*prefix': STR }
    { 'struct': NAME, 'data': { MEMBER: TYPE, ... }, '*base': NAME }
    { 'command': NAME, '*data': MEMBERS-OR-STRUCT, '*returns': TYPE,
      '*gen': false }
    { 'event': NAME, '*data': MEMBERS-OR-STRUCT }

A MEMBER starting with '*' is optional; a TYPE is a name or [ NAME ] for
an array, or { 'type': TYPE, 'features': [...] }.  Every definition may
have 'features' (e.g. [ 'unstable' ]).

Modules: parser (the schema language), schema (the checked model),
gen (what every generator shares), main (the command line), and one
generator per output pair:
    types       qapi-types.h/.c: C types, enum tables, qapi_free_*()
    visit       qapi-visit.h/.c: JSON -> C (argument checks), C -> JSON
    commands    qapi-commands.h/.c: handler prototypes, marshallers, table
    events      qapi-events.h/.c: qapi_event_send_*()
    introspect  qapi-introspect.h/.c: the JSON behind query-qmp-schema

Python 3 standard library only.
"""
