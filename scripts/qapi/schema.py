"""The model: the schema's types, commands and events, checked and resolved."""

import re

from qapi.common import SchemaError, c_name, camel_to_upper
from qapi.parser import Parser


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
