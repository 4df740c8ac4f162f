"""Names and errors shared by the parser, the model and the generators."""

import re


class SchemaError(Exception):
    def __init__(self, info, msg):
        super().__init__(f'{info[0]}:{info[1]}: {msg}')


C_KEYWORDS = set('''auto break case char const continue default do double
else enum extern float for goto if inline int long register restrict return
short signed sizeof static struct switch typedef union unsigned void
volatile while bool true false'''.split())


def c_name(name):
    """A schema name as a C identifier: 'cpu-index' -> 'cpu_index'."""
    name = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if name in C_KEYWORDS or name[0].isdigit():
        name = 'q_' + name
    return name


def camel_to_upper(name):
    """'RunState' -> 'RUN_STATE', 'QMPCapability' -> 'QMP_CAPABILITY'."""
    out = ''
    for i, c in enumerate(name):
        if c.isupper() and i > 0:
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ''
            if prev.islower() or prev.isdigit() or \
               (prev.isupper() and nxt.islower()):
                out += '_'
        out += c
    return c_name(out).upper()
