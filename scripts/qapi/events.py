"""qapi-events.h/.c: one qapi_event_send_*() per event."""

from qapi.commands import CommandsOutput
from qapi.common import c_name
from qapi.gen import Output


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
