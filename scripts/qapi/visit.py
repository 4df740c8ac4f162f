"""qapi-visit.h/.c: JSON to C with argument checking, and C to JSON."""

from qapi.common import c_name
from qapi.gen import Output, arrays


class VisitOutput(Output):
    """qapi-visit.h/.c: JSON -> C with argument errors, C -> JSON."""
    BASENAME = 'qapi-visit'
    HEADER_INCLUDES = ['"qapi/qapi-types.h"', '"qapi/qapi-visit-core.h"']

    def generate(self):
        for e in self.schema.enums():
            self._enum(e)
        for o in self.schema.objects():
            self._object(o)
        for a in arrays(self.schema):
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
