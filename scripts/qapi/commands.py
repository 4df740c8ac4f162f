"""qapi-commands.h/.c: handler prototypes, marshallers, the command table."""

from qapi.common import c_name
from qapi.gen import Output
from qapi.schema import Builtin


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
