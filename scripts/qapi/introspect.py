"""qapi-introspect.h/.c: the schema as query-qmp-schema returns it."""

import json

from qapi.gen import Output, arrays
from qapi.schema import Builtin


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
        for a in arrays(s):
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
