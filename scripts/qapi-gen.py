#!/usr/bin/env python3
"""Generate restraint's QMP code from the QAPI schema.

    qapi-gen.py -o OUTDIR [--depfile FILE] qapi/qapi-schema.json

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

Outputs, each written by one class below:
    qapi-types.h/.c       C types, enum lookup tables, qapi_free_*()
    qapi-visit.h/.c       JSON -> C (argument checking) and C -> JSON
    qapi-commands.h/.c    handler prototypes, marshallers, dispatch table
    qapi-events.h/.c      qapi_event_send_*()
    qapi-introspect.h/.c  the JSON behind query-qmp-schema

Python 3 standard library only.
"""

import argparse
import json
import os
import re
import sys


class SchemaError(Exception):
    def __init__(self, info, msg):
        super().__init__(f'{info[0]}:{info[1]}: {msg}')


# ---------------------------------------------------------------- parsing

class Parser:
    """Reads a schema file and the files it includes, in order.

    Produces (expr, doc, info) triples: expr is a dict, doc the list of
    lines of the '##' block just before it (or None), info (file, line).
    """

    def __init__(self, path, seen=None):
        self.path = path
        self.seen = seen if seen is not None else set()
        self.seen.add(os.path.abspath(path))
        with open(path, encoding='utf-8') as f:
            self.src = f.read()
        self.pos = 0
        self.line = 1
        self.exprs = []
        self._parse_file()

    def _info(self):
        return (self.path, self.line)

    def _skip_space(self, top_level):
        """Skip blanks and comments; at top level return a doc block."""
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if c == '\n':
                self.line += 1
                self.pos += 1
            elif c in ' \t\r':
                self.pos += 1
            elif c == '#':
                end = self.src.find('\n', self.pos)
                end = len(self.src) if end < 0 else end
                text = self.src[self.pos:end]
                if top_level and text.rstrip() == '##':
                    return self._doc_block()
                self.pos = end
            else:
                break
        return None

    def _doc_block(self):
        info = self._info()
        lines = []
        self.pos = self.src.index('\n', self.pos) + 1
        self.line += 1
        while True:
            end = self.src.find('\n', self.pos)
            if end < 0:
                raise SchemaError(info, "doc block without closing '##'")
            text = self.src[self.pos:end]
            self.pos = end + 1
            self.line += 1
            if text.rstrip() == '##':
                return lines
            if not text.startswith('#'):
                raise SchemaError(self._info(), "doc line must start with '#'")
            lines.append(text[2:] if text.startswith('# ') else text[1:])

    def _parse_file(self):
        doc = None
        while True:
            block = self._skip_space(top_level=True)
            if block is not None:
                doc = block
                continue
            if self.pos >= len(self.src):
                return
            info = self._info()
            expr = self._value()
            if not isinstance(expr, dict):
                raise SchemaError(info, 'expected an object')
            if 'include' in expr:
                self._include(expr, info)
            elif 'pragma' not in expr:
                self.exprs.append((expr, doc, info))
            doc = None

    def _include(self, expr, info):
        name = expr['include']
        path = os.path.join(os.path.dirname(self.path), name)
        if not os.path.exists(path):
            raise SchemaError(info, f"included file '{name}' not found")
        if os.path.abspath(path) in self.seen:
            return
        self.exprs += Parser(path, self.seen).exprs

    def _value(self):
        self._skip_space(top_level=False)
        if self.pos >= len(self.src):
            raise SchemaError(self._info(), 'unexpected end of file')
        c = self.src[self.pos]
        if c == '{':
            return self._container('}', dict)
        if c == '[':
            return self._container(']', list)
        if c == "'":
            end = self.src.find("'", self.pos + 1)
            if end < 0 or '\n' in self.src[self.pos:end]:
                raise SchemaError(self._info(), 'unterminated string')
            text = self.src[self.pos + 1:end]
            if '\\' in text:
                raise SchemaError(self._info(), 'backslash in string')
            self.pos = end + 1
            return text
        for word, value in (('true', True), ('false', False)):
            if self.src.startswith(word, self.pos):
                self.pos += len(word)
                return value
        raise SchemaError(self._info(), f'unexpected character {c!r}')

    def _container(self, close, kind):
        result = kind()
        self.pos += 1
        self._skip_space(top_level=False)
        if self.src[self.pos:self.pos + 1] == close:
            self.pos += 1
            return result
        while True:
            if kind is dict:
                info = self._info()
                key = self._value()
                if not isinstance(key, str):
                    raise SchemaError(info, 'object keys must be strings')
                if key in result:
                    raise SchemaError(info, f"duplicate key '{key}'")
                self._expect(':')
                result[key] = self._value()
            else:
                result.append(self._value())
            self._skip_space(top_level=False)
            c = self.src[self.pos:self.pos + 1]
            self.pos += 1
            if c == close:
                return result
            if c != ',':
                raise SchemaError(self._info(), f"expected ',' or '{close}'")

    def _expect(self, char):
        self._skip_space(top_level=False)
        if self.src[self.pos:self.pos + 1] != char:
            raise SchemaError(self._info(), f"expected '{char}'")
        self.pos += 1


# ---------------------------------------------------------------- the model

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


class Type:
    """Base class of every type; subclasses say how C holds them."""
    name = None

    def c_type(self):           # storage in a struct, handler return
        raise NotImplementedError

    def c_param_type(self):     # a handler or event parameter
        return self.c_type()

    def is_pointer(self):       # optional members need no has_ flag
        return False

    def visit_name(self):       # suffix of visit_in_* / visit_out_*
        return c_name(self.name)

    def free_code(self, expr):  # C statement freeing a member, or None
        return None


class Builtin(Type):
    # name: (C type, introspection json-type, visit suffix)
    TABLE = {
        'str': ('char *', 'string', 'str'),
        'number': ('double', 'number', 'number'),
        'int': ('int64_t', 'int', 'int64'),
        'int8': ('int8_t', 'int', 'int8'),
        'int16': ('int16_t', 'int', 'int16'),
        'int32': ('int32_t', 'int', 'int32'),
        'int64': ('int64_t', 'int', 'int64'),
        'uint8': ('uint8_t', 'int', 'uint8'),
        'uint16': ('uint16_t', 'int', 'uint16'),
        'uint32': ('uint32_t', 'int', 'uint32'),
        'uint64': ('uint64_t', 'int', 'uint64'),
        'size': ('uint64_t', 'int', 'size'),
        'bool': ('bool', 'boolean', 'bool'),
        'any': ('JsonNode *', 'value', 'any'),
    }

    def __init__(self, name):
        self.name = name
        self.ctype, self.json_type, self.visit = self.TABLE[name]

    def c_type(self):
        return self.ctype

    def c_param_type(self):
        return 'const char *' if self.name == 'str' else self.ctype

    def is_pointer(self):
        return self.name in ('str', 'any')

    def visit_name(self):
        return self.visit

    def free_code(self, expr):
        if self.name == 'str':
            return f'g_free({expr});'
        if self.name == 'any':
            return f'if ({expr}) {{\n        json_node_unref({expr});\n    }}'
        return None


class Definition:
    """Common to every named entity of the schema."""

    def __init__(self, name, info, doc, features):
        self.name, self.info, self.doc = name, info, doc
        self.features = features or []


class Enum(Type, Definition):
    def __init__(self, name, info, doc, values, prefix, features):
        Definition.__init__(self, name, info, doc, features)
        self.values = values            # [(name, features)]
        self.prefix = prefix or camel_to_upper(name)

    def c_type(self):
        return c_name(self.name)

    def c_value(self, value):
        return self.prefix + '_' + re.sub(r'[^A-Za-z0-9_]', '_', value).upper()

    def c_max(self):
        return f'{self.prefix}__MAX'


class Member:
    def __init__(self, name, type_ref, optional, features, info):
        self.name, self.type_ref, self.optional = name, type_ref, optional
        self.features, self.info = features, info
        self.type = None                # resolved later
        self.c = c_name(name)

    def has_flag(self):
        return self.optional and not self.type.is_pointer()


class Object(Type, Definition):
    def __init__(self, name, info, doc, members, base, features,
                 implicit=False):
        Definition.__init__(self, name, info, doc, features)
        self.members = members
        self.base = base
        self.implicit = implicit

    def c_type(self):
        return c_name(self.name) + ' *'

    def is_pointer(self):
        return True

    def free_code(self, expr):
        return f'qapi_free_{c_name(self.name)}({expr});'


class Array(Type):
    def __init__(self, element):
        self.element = element
        self.name = f'[{element.name}]'

    def c_list(self):
        return self.element.visit_name() + 'List' \
            if isinstance(self.element, Builtin) else \
            c_name(self.element.name) + 'List'

    def c_type(self):
        return self.c_list() + ' *'

    def is_pointer(self):
        return True

    def visit_name(self):
        return self.c_list()

    def free_code(self, expr):
        return f'qapi_free_{self.c_list()}({expr});'


class Command(Definition):
    def __init__(self, name, info, doc, arg_type, ret_type, gen, features):
        super().__init__(name, info, doc, features)
        self.arg_type, self.ret_type, self.gen = arg_type, ret_type, gen


class Event(Definition):
    def __init__(self, name, info, doc, arg_type, features):
        super().__init__(name, info, doc, features)
        self.arg_type = arg_type


class Schema:
    """Checks the expressions and resolves every type reference."""

    KEYS = {
        'enum': {'enum', 'data', 'prefix', 'features'},
        'struct': {'struct', 'data', 'base', 'features'},
        'command': {'command', 'data', 'returns', 'gen', 'features',
                    'allow-preconfig', 'coroutine'},
        'event': {'event', 'data', 'features'},
    }
    NAME_RE = re.compile(r'^[A-Za-z][A-Za-z0-9_-]*$')

    def __init__(self, path):
        self.types = {n: Builtin(n) for n in Builtin.TABLE}
        self.arrays = {}
        self.commands, self.events = [], []
        self.files = []
        parser = Parser(path)
        self.files = sorted(parser.seen)
        self.empty = Object('q_empty', (path, 0), None, [], None, [], True)
        self.types['q_empty'] = self.empty
        for expr, doc, info in parser.exprs:
            self._define(expr, doc, info)
        for t in list(self.types.values()):
            if isinstance(t, Object):
                self._resolve_object(t)
        for d in self.commands + self.events:
            if isinstance(d.arg_type, str):
                d.arg_type = self._resolve(d.arg_type, d.info)
                if not isinstance(d.arg_type, Object):
                    raise SchemaError(d.info, "'data' must name a struct")
        for cmd in self.commands:
            if cmd.ret_type is not None:
                cmd.ret_type = self._resolve(cmd.ret_type, cmd.info)
        for d in self.definitions():
            self._check_doc(d)

    def definitions(self):
        named = [t for t in self.types.values()
                 if isinstance(t, Enum) or
                 (isinstance(t, Object) and not t.implicit)]
        return named + self.commands + self.events

    # -- building
    def _define(self, expr, doc, info):
        meta = next((k for k in self.KEYS if k in expr), None)
        if meta is None:
            raise SchemaError(info, 'unknown expression')
        extra = set(expr) - self.KEYS[meta]
        if extra:
            raise SchemaError(info, f"unknown key '{sorted(extra)[0]}'")
        name = expr[meta]
        if not isinstance(name, str) or not self.NAME_RE.match(name):
            raise SchemaError(info, f"invalid name {name!r}")
        features = self._features(expr.get('features'), info)
        if meta == 'enum':
            values = [self._enum_value(v, info) for v in expr['data']]
            if len({v for v, _ in values}) != len(values):
                raise SchemaError(info, f"'{name}' has a duplicate value")
            self._add_type(Enum(name, info, doc, values, expr.get('prefix'),
                                features), info)
        elif meta == 'struct':
            self._add_type(Object(name, info, doc,
                                  self._members(expr['data'], info),
                                  expr.get('base'), features), info)
        elif meta == 'command':
            ret = expr.get('returns')
            arg = self._implicit_args(name, expr.get('data'), info)
            self.commands.append(Command(name, info, doc, arg, ret,
                                         expr.get('gen', True), features))
        else:
            arg = self._implicit_args(name, expr.get('data'), info)
            self.events.append(Event(name, info, doc, arg, features))

    def _add_type(self, t, info):
        if t.name in self.types:
            raise SchemaError(info, f"'{t.name}' is already defined")
        self.types[t.name] = t

    def _features(self, features, info):
        if features is None:
            return []
        if not isinstance(features, list) or \
           not all(isinstance(f, str) for f in features):
            raise SchemaError(info, "'features' must be a list of names")
        return features

    def _enum_value(self, value, info):
        if isinstance(value, dict):
            return (value['name'], self._features(value.get('features'),
                                                  info))
        return (value, [])

    def _members(self, data, info):
        if not isinstance(data, dict):
            raise SchemaError(info, "'data' must be an object")
        members = []
        for key, ref in data.items():
            optional = key.startswith('*')
            name = key[1:] if optional else key
            if not self.NAME_RE.match(name):
                raise SchemaError(info, f"invalid member name '{name}'")
            features = []
            if isinstance(ref, dict):
                features = self._features(ref.get('features'), info)
                ref = ref['type']
            members.append(Member(name, ref, optional, features, info))
        return members

    def _implicit_args(self, name, data, info):
        """A command's or event's arguments, as an object type."""
        if data is None:
            return self.empty
        if isinstance(data, str):
            return data         # a struct name, resolved later
        obj = Object(f'q_obj_{name}-arg', info, None,
                     self._members(data, info), None, [], implicit=True)
        self._add_type(obj, info)
        return obj

    # -- resolving
    def _resolve(self, ref, info):
        if isinstance(ref, list):
            if len(ref) != 1 or not isinstance(ref[0], str):
                raise SchemaError(info, 'an array type is [ NAME ]')
            element = self._resolve(ref[0], info)
            if ref[0] not in self.arrays:
                self.arrays[ref[0]] = Array(element)
            return self.arrays[ref[0]]
        if not isinstance(ref, str) or ref not in self.types:
            raise SchemaError(info, f"unknown type {ref!r}")
        return self.types[ref]

    def _resolve_object(self, obj):
        if getattr(obj, 'resolved', False):
            return
        obj.resolved = True
        if obj.base is not None:
            base = self._resolve(obj.base, obj.info)
            if not isinstance(base, Object):
                raise SchemaError(obj.info, "'base' must be a struct")
            self._resolve_object(base)
            obj.members = [Member(m.name, m.type_ref, m.optional, m.features,
                                  m.info) for m in base.members] + obj.members
        seen = set()
        for m in obj.members:
            m.type = self._resolve(m.type_ref, m.info)
            if m.c in seen:
                raise SchemaError(m.info, f"member '{m.name}' clashes")
            seen.add(m.c)

    def _check_doc(self, d):
        """Every definition documents itself, its members and features."""
        if not d.doc or not d.doc[0].startswith(f'@{d.name}:'):
            raise SchemaError(d.info, f"'{d.name}' needs a doc comment "
                              f"starting with '# @{d.name}:'")
        documented = {m.group(1) for line in d.doc[1:]
                      for m in [re.match(r'^@([A-Za-z0-9_-]+):', line)] if m}
        names = list(d.features)
        if isinstance(d, Enum):
            names += [v for v, _ in d.values]
        elif isinstance(d, Object):
            names += [m.name for m in d.members]
        elif isinstance(d.arg_type, Object) and d.arg_type.implicit:
            names += [m.name for m in d.arg_type.members]
        for n in names:
            if n not in documented:
                raise SchemaError(d.info, f"'{d.name}' does not document "
                                  f"'@{n}'")
        if not any(line.startswith('Since:') for line in d.doc):
            raise SchemaError(d.info, f"'{d.name}' needs a 'Since:' line")

    def enums(self):
        return [t for t in self.types.values() if isinstance(t, Enum)]

    def objects(self):
        return [t for t in self.types.values() if isinstance(t, Object)]


# ---------------------------------------------------------------- output

class Output:
    """One generated C header and its C file."""
    BASENAME = None
    HEADER_INCLUDES = []

    def __init__(self, schema):
        self.schema = schema
        self.h = []
        self.c = []

    def write(self, outdir):
        guard = 'QAPI_' + c_name(self.BASENAME).upper() + '_H'
        banner = ['/* Generated by scripts/qapi-gen.py from the QAPI schema:',
                  ' * do not edit. */', '']
        head = banner + [f'#ifndef {guard}', f'#define {guard}', '']
        head += [f'#include {i}' for i in self.HEADER_INCLUDES] + ['']
        _write(os.path.join(outdir, self.BASENAME + '.h'),
               head + self.h + ['', f'#endif /* {guard} */'])
        body = banner + ['#include "qemu/osdep.h"',
                         f'#include "qapi/{self.BASENAME}.h"'] + self.c
        _write(os.path.join(outdir, self.BASENAME + '.c'), body)


def _write(path, lines):
    text = '\n'.join(lines) + '\n'
    try:
        with open(path, encoding='utf-8') as f:
            if f.read() == text:
                return          # unchanged: keep the timestamp
    except OSError:
        pass
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def _arrays(schema):
    return sorted(schema.arrays.values(), key=lambda a: a.c_list())


class TypesOutput(Output):
    """qapi-types.h/.c: enums, structs, lists and their free functions."""
    BASENAME = 'qapi-types'
    HEADER_INCLUDES = ['<stdbool.h>', '<stdint.h>', '<glib.h>',
                       '<json-glib/json-glib.h>']

    def generate(self):
        s = self.schema
        for o in s.objects():
            self.h.append(f'typedef struct {c_name(o.name)} '
                          f'{c_name(o.name)};')
        for a in _arrays(s):
            self.h.append(f'typedef struct {a.c_list()} {a.c_list()};')
        self.h.append('')
        for e in s.enums():
            self._enum(e)
        for a in _arrays(s):
            self._list(a)
        for o in s.objects():
            self._struct(o)

    def _enum(self, e):
        n = c_name(e.name)
        self.h.append(f'typedef enum {n} {{')
        self.h += [f'    {e.c_value(v)},' for v, _ in e.values]
        self.h += [f'    {e.c_max()}', f'}} {n};', '',
                   f'extern const char *const {n}_lookup[{e.c_max()}];',
                   f'/* The value\'s name, "(invalid)" when out of range. */',
                   f'const char *{n}_str({n} value);',
                   f'/* The value named @name, -1 when there is none. */',
                   f'int {n}_parse(const char *name);', '']
        self.c += ['', f'const char *const {n}_lookup[{e.c_max()}] = {{']
        self.c += [f'    [{e.c_value(v)}] = "{v}",' for v, _ in e.values]
        self.c += ['};', '', f'const char *{n}_str({n} value)', '{',
                   f'    if ((unsigned)value >= {e.c_max()}) {{',
                   '        return "(invalid)";', '    }',
                   f'    return {n}_lookup[value];', '}', '',
                   f'int {n}_parse(const char *name)', '{',
                   f'    for (int i = 0; i < {e.c_max()}; i++) {{',
                   f'        if (name && strcmp({n}_lookup[i], name) == 0) {{',
                   '            return i;', '        }', '    }',
                   '    return -1;', '}']

    def _list(self, a):
        n = a.c_list()
        self.h += [f'struct {n} {{', f'    {n} *next;',
                   f'    {a.element.c_type()} value;'.replace('* ', '*'), '};',
                   f'void qapi_free_{n}({n} *list);',
                   f'G_DEFINE_AUTOPTR_CLEANUP_FUNC({n}, qapi_free_{n})', '']
        free = a.element.free_code('list->value')
        self.c += ['', f'void qapi_free_{n}({n} *list)', '{',
                   '    while (list) {', f'        {n} *next = list->next;', '']
        if free:
            self.c.append('        ' + free.replace('\n', '\n    '))
        self.c += ['        g_free(list);', '        list = next;', '    }',
                   '}']

    def _struct(self, o):
        n = c_name(o.name)
        self.h.append(f'struct {n} {{')
        for m in o.members:
            if m.has_flag():
                self.h.append(f'    bool has_{m.c};')
            self.h.append(f'    {m.type.c_type()} {m.c};'.replace('* ', '*'))
        if not o.members:
            self.h.append('    char qapi_dummy_for_empty_struct;')
        self.h += ['};', f'void qapi_free_{n}({n} *obj);',
                   f'G_DEFINE_AUTOPTR_CLEANUP_FUNC({n}, qapi_free_{n})', '']
        self.c += ['', f'void qapi_free_{n}({n} *obj)', '{', '    if (!obj) {',
                   '        return;', '    }']
        for m in o.members:
            free = m.type.free_code(f'obj->{m.c}')
            if free:
                self.c.append('    ' + free)
        self.c += ['    g_free(obj);', '}']


class VisitOutput(Output):
    """qapi-visit.h/.c: JSON -> C with argument errors, C -> JSON."""
    BASENAME = 'qapi-visit'
    HEADER_INCLUDES = ['"qapi/qapi-types.h"', '"qapi/qapi-visit-core.h"']

    def generate(self):
        for e in self.schema.enums():
            self._enum(e)
        for o in self.schema.objects():
            self._object(o)
        for a in _arrays(self.schema):
            self._list(a)
        self._check_only_table()

    def _enum(self, e):
        n = c_name(e.name)
        self.h += [f'bool visit_in_{n}(JsonNode *node, const char *path, '
                   f'{n} *out,', '    Error **errp);',
                   f'JsonNode *visit_out_{n}({n} value);', '']
        self.c += ['', f'bool visit_in_{n}(JsonNode *node, const char *path, '
                   f'{n} *out,', '    Error **errp)', '{', '    int value;', '',
                   f'    if (!qapi_in_enum(node, path, {n}_lookup, '
                   f'{e.c_max()}, &value,', '                      errp)) {',
                   '        return false;', '    }', '    *out = value;',
                   '    return true;', '}', '',
                   f'JsonNode *visit_out_{n}({n} value)', '{',
                   f'    return visit_out_str({n}_str(value));', '}']

    def _object(self, o):
        n = c_name(o.name)
        self.h += [f'bool visit_in_{n}(JsonNode *node, const char *path, '
                   f'{n} **out,', '    Error **errp);',
                   f'bool visit_in_{n}_members(JsonObject *json, '
                   f'const char *path,', f'    {n} *obj, Error **errp);',
                   f'JsonNode *visit_out_{n}(const {n} *obj);',
                   f'void visit_out_{n}_members(JsonObject *json, '
                   f'const {n} *obj);', '']
        self.c += ['', f'bool visit_in_{n}(JsonNode *node, const char *path, '
                   f'{n} **out,', '    Error **errp)', '{',
                   '    JsonObject *json;', f'    {n} *obj;', '',
                   '    if (!qapi_in_object(node, path, &json, errp)) {',
                   '        return false;', '    }',
                   f'    obj = g_new0({n}, 1);',
                   f'    if (!visit_in_{n}_members(json, path, obj, errp)) {{',
                   f'        qapi_free_{n}(obj);', '        return false;',
                   '    }', '    *out = obj;', '    return true;', '}']
        known = ', '.join(f'"{m.name}"' for m in o.members)
        self.c += ['', f'bool visit_in_{n}_members(JsonObject *json, '
                   f'const char *path,', f'    {n} *obj, Error **errp)', '{',
                   '    static const char *const known[] = { ' +
                   (known + ', ' if known else '') + 'NULL };']
        if o.members:
            self.c.append('    JsonNode *node;')
        self.c.append('')
        for m in o.members:
            self._member_in(m)
        self.c += ['    return qapi_check_members(json, path, known, errp);',
                   '}', '', f'JsonNode *visit_out_{n}(const {n} *obj)', '{',
                   '    JsonObject *json = json_object_new();',
                   '    JsonNode *node = json_node_new(JSON_NODE_OBJECT);', '',
                   '    if (obj) {', f'        visit_out_{n}_members(json, obj);',
                   '    }', '    json_node_take_object(node, json);',
                   '    return node;', '}', '',
                   f'void visit_out_{n}_members(JsonObject *json, '
                   f'const {n} *obj)', '{']
        for m in o.members:
            put = (f'json_object_set_member(json, "{m.name}",\n'
                   f'                           '
                   f'visit_out_{m.type.visit_name()}(obj->{m.c}));')
            if m.optional:
                cond = f'obj->has_{m.c}' if m.has_flag() else f'obj->{m.c}'
                self.c += [f'    if ({cond}) {{',
                           '        ' + put.replace('\n', '\n    '), '    }']
            else:
                self.c.append('    ' + put)
        if not o.members:
            self.c.append('    (void)json;')
            self.c.append('    (void)obj;')
        self.c.append('}')

    def _member_in(self, m):
        visit = (f'if (!visit_in_{m.type.visit_name()}(node, member_path, '
                 f'&obj->{m.c}, errp)) {{')
        self.c += [f'    node = json_object_get_member(json, "{m.name}");',
                   '    if (node) {',
                   '        g_autofree char *member_path = '
                   f'qapi_path_member(path, "{m.name}");', '',
                   '        ' + visit, '            return false;', '        }']
        if m.has_flag():
            self.c.append(f'        obj->has_{m.c} = true;')
        if not m.optional:
            self.c += ['    } else {',
                       '        g_autofree char *member_path = '
                       f'qapi_path_member(path, "{m.name}");', '',
                       '        qapi_error_missing(member_path, errp);',
                       '        return false;']
        self.c += ['    }', '']

    def _list(self, a):
        n, el = a.c_list(), a.element
        self.h += [f'bool visit_in_{n}(JsonNode *node, const char *path, '
                   f'{n} **out,', '    Error **errp);',
                   f'JsonNode *visit_out_{n}(const {n} *list);', '']
        self.c += ['', f'bool visit_in_{n}(JsonNode *node, const char *path, '
                   f'{n} **out,', '    Error **errp)', '{',
                   '    JsonArray *array;', f'    {n} *head = NULL;',
                   f'    {n} **tail = &head;', '',
                   '    if (!qapi_in_array(node, path, &array, errp)) {',
                   '        return false;', '    }',
                   '    for (guint i = 0; i < json_array_get_length(array); '
                   'i++) {',
                   '        g_autofree char *elem_path = '
                   'qapi_path_index(path, i);',
                   f'        {n} *elem = g_new0({n}, 1);', '',
                   '        *tail = elem;', '        tail = &elem->next;',
                   f'        if (!visit_in_{el.visit_name()}('
                   'json_array_get_element(array, i),',
                   '                elem_path, &elem->value, errp)) {',
                   f'            qapi_free_{n}(head);',
                   '            return false;', '        }', '    }',
                   '    *out = head;', '    return true;', '}', '',
                   f'JsonNode *visit_out_{n}(const {n} *list)', '{',
                   '    JsonArray *array = json_array_new();',
                   '    JsonNode *node = json_node_new(JSON_NODE_ARRAY);', '',
                   '    for (; list; list = list->next) {',
                   '        json_array_add_element(array, '
                   f'visit_out_{el.visit_name()}(list->value));',
                   '    }', '    json_node_take_array(node, array);',
                   '    return node;', '}']

    def _check_only_table(self):
        """Commands that check their arguments and do nothing else.

        For the fuzzer and unit tests: the same argument checking as the
        real marshallers, without linking any handler.
        """
        self.h += ['/* Like qapi_commands[], with handlers that only check '
                   'arguments. */',
                   'extern const QmpCommand qapi_commands_check_only[];']
        table = []
        for cmd in self.schema.commands:
            if not cmd.gen:
                continue
            arg = c_name(cmd.arg_type.name)
            fn = f'qapi_check_args_{c_name(cmd.name)}'
            self.c += ['', f'static void {fn}(JsonObject *args, '
                       'JsonNode **ret, Error **errp)', '{',
                       f'    g_autoptr({arg}) arg = g_new0({arg}, 1);', '',
                       f'    if (visit_in_{arg}_members(args, NULL, arg, '
                       'errp)) {',
                       '        *ret = qapi_empty_object();', '    }', '}']
            table.append(f'    {{ "{cmd.name}", {fn}, 0 }},')
        self.c += ['', 'const QmpCommand qapi_commands_check_only[] = {'] + \
            table + ['    { NULL, NULL, 0 },', '};']


class CommandsOutput(Output):
    """qapi-commands.h/.c: handler prototypes, marshallers, the table."""
    BASENAME = 'qapi-commands'
    HEADER_INCLUDES = ['"qapi/qapi-types.h"', '"qapi/qapi-visit-core.h"']

    def generate(self):
        table = []
        self.c.append('#include "qapi/qapi-visit.h"')
        for cmd in self.schema.commands:
            h = c_name(cmd.name)
            flags = 'QMP_CMD_UNSTABLE' if 'unstable' in cmd.features \
                else 'QMP_CMD_NONE'
            if not cmd.gen:
                self.h.append(f'void qmp_{h}(JsonObject *args, JsonNode **ret, '
                              'Error **errp);')
                table.append(f'    {{ "{cmd.name}", qmp_{h}, {flags} }},')
                continue
            self.h.append(self._prototype(cmd) + ';')
            self._marshal(cmd)
            table.append(f'    {{ "{cmd.name}", qmp_marshal_{h}, {flags} }},')
        self.h += ['', '/* Every command of the schema; ends with a NULL name. */',
                   'extern const QmpCommand qapi_commands[];']
        self.c += ['', 'const QmpCommand qapi_commands[] = {'] + table + \
            ['    { NULL, NULL, 0 },', '};']

    @staticmethod
    def params(arg_type):
        params = []
        for m in arg_type.members:
            if m.has_flag():
                params.append(f'bool has_{m.c}')
            params.append(f'{m.type.c_param_type()} {m.c}'.replace('* ', '*'))
        return params

    def _prototype(self, cmd):
        ret = cmd.ret_type.c_type() if cmd.ret_type else 'void'
        params = ', '.join(self.params(cmd.arg_type) + ['Error **errp'])
        return f'{ret} qmp_{c_name(cmd.name)}({params})'.replace('* qmp', '*qmp')

    def _marshal(self, cmd):
        h, arg = c_name(cmd.name), c_name(cmd.arg_type.name)
        args = []
        for m in cmd.arg_type.members:
            if m.has_flag():
                args.append(f'arg->has_{m.c}')
            args.append(f'arg->{m.c}')
        call = f'qmp_{h}(' + ', '.join(args + ['&err']) + ');'
        self.c += ['', f'static void qmp_marshal_{h}(JsonObject *args, '
                   'JsonNode **ret, Error **errp)', '{',
                   f'    g_autoptr({arg}) arg = g_new0({arg}, 1);',
                   '    Error *err = NULL;']
        rt = cmd.ret_type
        if rt is not None:
            self.c.append(f'    {rt.c_type()} retval;'.replace('* ', '*'))
        self.c += ['', f'    if (!visit_in_{arg}_members(args, NULL, arg, '
                   'errp)) {', '        return;', '    }']
        self.c.append(('    retval = ' if rt else '    ') + call)
        self.c += ['    if (err) {', '        error_propagate(errp, err);']
        if rt is not None:
            free = rt.free_code('retval')
            if free:
                self.c.append('        ' + free.replace('\n', '\n    '))
        self.c += ['        return;', '    }']
        if rt is None:
            self.c.append('    *ret = qapi_empty_object();')
        elif isinstance(rt, Builtin) and rt.name == 'any':
            self.c.append('    *ret = retval ? retval : '
                          'json_node_new(JSON_NODE_NULL);')
        else:
            self.c.append(f'    *ret = visit_out_{rt.visit_name()}(retval);')
            free = rt.free_code('retval')
            if free:
                self.c.append('    ' + free)
        self.c.append('}')


class EventsOutput(Output):
    """qapi-events.h/.c: one qapi_event_send_*() per event."""
    BASENAME = 'qapi-events'
    HEADER_INCLUDES = ['"qapi/qapi-types.h"']

    def generate(self):
        self.c += ['#include "qapi/qapi-visit.h"', '#include "monitor/monitor.h"']
        for ev in self.schema.events:
            params = CommandsOutput.params(ev.arg_type)
            proto = (f'void qapi_event_send_{c_name(ev.name.lower())}(' +
                     (', '.join(params) or 'void') + ')')
            self.h.append(proto + ';')
            self.c += ['', proto, '{']
            if not ev.arg_type.members:
                self.c += [f'    monitor_qapi_event_emit("{ev.name}", NULL);',
                           '}']
                continue
            arg = c_name(ev.arg_type.name)
            self.c.append(f'    {arg} arg = {{')
            for m in ev.arg_type.members:
                if m.has_flag():
                    self.c.append(f'        .has_{m.c} = has_{m.c},')
                cast = '(char *)' if m.type.c_param_type() == 'const char *' \
                    else ''
                self.c.append(f'        .{m.c} = {cast}{m.c},')
            self.c += ['    };', '    JsonObject *data = json_object_new();', '',
                       f'    visit_out_{arg}_members(data, &arg);',
                       f'    monitor_qapi_event_emit("{ev.name}", data);', '}']


class IntrospectOutput(Output):
    """qapi-introspect.h/.c: the SchemaInfo list as a JSON string."""
    BASENAME = 'qapi-introspect'
    HEADER_INCLUDES = []

    def generate(self):
        s = self.schema
        entities = []
        for cmd in s.commands:
            entities.append(self._with_features({
                'name': cmd.name, 'meta-type': 'command',
                'arg-type': cmd.arg_type.name,
                'ret-type': cmd.ret_type.name if cmd.ret_type
                else s.empty.name}, cmd.features))
        for ev in s.events:
            entities.append(self._with_features({
                'name': ev.name, 'meta-type': 'event',
                'arg-type': ev.arg_type.name}, ev.features))
        for o in s.objects():
            members = []
            for m in o.members:
                info = {'name': m.name, 'type': m.type.name}
                if m.optional:
                    info['default'] = None
                members.append(self._with_features(info, m.features))
            entities.append(self._with_features({
                'name': o.name, 'meta-type': 'object', 'members': members},
                o.features))
        for e in s.enums():
            entities.append(self._with_features({
                'name': e.name, 'meta-type': 'enum',
                'members': [self._with_features({'name': v}, f)
                            for v, f in e.values],
                'values': [v for v, _ in e.values]}, e.features))
        for a in _arrays(s):
            entities.append({'name': a.name, 'meta-type': 'array',
                             'element-type': a.element.name})
        for name in Builtin.TABLE:
            entities.append({'name': name, 'meta-type': 'builtin',
                             'json-type': Builtin.TABLE[name][1]})
        text = json.dumps(entities, separators=(',', ':'))
        self.h += ['/* The return value of query-qmp-schema, as JSON text. */',
                   'extern const char qapi_introspect_json[];']
        self.c += ['', 'const char qapi_introspect_json[] =']
        chunks = [text[i:i + 64] for i in range(0, len(text), 64)]
        for i, chunk in enumerate(chunks):
            quoted = chunk.replace('\\', '\\\\').replace('"', '\\"')
            self.c.append(f'    "{quoted}"' + (';' if i == len(chunks) - 1
                                                else ''))

    @staticmethod
    def _with_features(info, features):
        if features:
            info['features'] = list(features)
        return info


OUTPUTS = [TypesOutput, VisitOutput, CommandsOutput, EventsOutput,
           IntrospectOutput]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
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


if __name__ == '__main__':
    main()
