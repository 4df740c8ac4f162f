"""qapi-types.h/.c: the C types of the schema and their free functions."""

from qapi.common import c_name
from qapi.gen import Output, arrays


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
        for a in arrays(s):
            self.h.append(f'typedef struct {a.c_list()} {a.c_list()};')
        self.h.append('')
        for e in s.enums():
            self._enum(e)
        for a in arrays(s):
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
