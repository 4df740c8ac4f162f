"""QMP protocol conformance and bad input, from a separate client process.

Every bad input gets the right error, and afterwards the connection (where
it survives) and the VM still answer.  Replies are checked against the
shapes of QEMU's QMP specification.  Exits 77 without KVM.
"""

import json
import os
import socket
import stat
import sys
import tempfile
import threading
import time

from restraint_vm import QMPClient, QMPError, RestraintVM, require_kvm

SMP = 2
# -uuid as given (upper case) and as query-uuid reports it.
UUID = '6B3C1F52-6C0D-4B8E-9A51-0F2D7C9E4A10'
MAX_CLIENTS = 64            # monitor/qmp.c MONITOR_MAX_CLIENTS
FAILURES = []
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        FAILURES.append(what)
        print(f'FAIL: {what}', flush=True)
    return cond


def case(fn):
    """Run one test case; an exception is a failure, not the end."""
    print(f'# {fn.__name__}', flush=True)
    try:
        fn()
    except Exception as e:     # noqa: BLE001 - report and go on
        FAILURES.append(f'{fn.__name__}: {type(e).__name__}: {e}')
        print(f'FAIL: {fn.__name__}: {type(e).__name__}: {e}', flush=True)


def is_timestamp(ts):
    return (isinstance(ts, dict) and set(ts) == {'seconds', 'microseconds'}
            and all(isinstance(v, int) for v in ts.values())
            and 0 <= ts['microseconds'] < 1000000)


def is_error_reply(reply, klass='GenericError', desc=None, msg_id=None):
    """{"error": {"class": C, "desc": D}} plus "id" when one was given."""
    want_keys = {'error'} | ({'id'} if msg_id is not None else set())
    if set(reply) != want_keys or set(reply['error']) != {'class', 'desc'}:
        return False
    if reply['error']['class'] != klass:
        return False
    if desc is not None and desc not in reply['error']['desc']:
        return False
    return msg_id is None or reply['id'] == msg_id


def vm_still_fine(client):
    """The connection answers and the VM is in a sane state."""
    reply = client.qmp('query-status')
    check('return' in reply and reply['return']['status'] in
          ('running', 'paused'), f'VM answers query-status: {reply}')
    check(VM.is_running(), 'the restraint process is alive')


def test_greeting_shape():
    c = QMPClient(VM.qmp_path)
    greeting = c.handshake(negotiate=False)
    c.close()
    check(set(greeting) == {'QMP'}, f'greeting has only QMP: {greeting}')
    qmp = greeting['QMP']
    check(set(qmp) == {'version', 'capabilities'}, 'QMP: version, capabilities')
    check(qmp['capabilities'] == [], 'no capabilities offered')
    triple = qmp['version']['qemu']
    check(all(isinstance(triple[k], int) for k in ('major', 'minor', 'micro')),
          'version triple is integers')
    check(qmp['version']['package'].startswith('restraint-'), 'package name')


def test_commands_before_capabilities():
    c = QMPClient(VM.qmp_path)
    c.handshake(negotiate=False)
    for name in ('query-status', 'no-such-command', 'quit'):
        reply = c.qmp(name, msg_id=name)
        check(is_error_reply(reply, 'CommandNotFound', "Expecting capabilities "
                             "negotiation with 'qmp_capabilities'", name),
              f'{name} before negotiation: {reply}')
    reply = c.qmp('qmp_capabilities', {'enable': ['oob']})
    check(is_error_reply(reply, 'GenericError', "Capability 'oob' not "
                         "available", reply.get('id')), f'oob refused: {reply}')
    check(c.qmp('qmp_capabilities')['return'] == {}, 'negotiation succeeds')
    reply = c.qmp('qmp_capabilities', msg_id=9)
    check(is_error_reply(reply, 'CommandNotFound', 'already complete', 9),
          f'second qmp_capabilities: {reply}')
    vm_still_fine(c)
    c.close()


def test_replies_are_lines_with_ids():
    c = VM.connect()
    for msg_id in (1, 'str', {'a': [1, None]}, None, 1.5, True):
        req = json.dumps({'execute': 'query-status', 'id': msg_id})
        c.send_raw(req.encode() + b'\n')
        raw = b''
        while not raw.endswith(b'\r\n'):
            raw += c.sock.recv(1)
        reply = json.loads(raw)
        check(raw.count(b'\n') == 1, 'one reply per line, ending \\r\\n')
        check(set(reply) == {'return', 'id'} and reply['id'] == msg_id,
              f'id {msg_id!r} echoed: {reply}')
    reply = c.qmp('no-such-command', msg_id=[1, 2])
    check(is_error_reply(reply, 'CommandNotFound', 'The command '
                         'no-such-command has not been found', [1, 2]),
          f'unknown command: {reply}')
    vm_still_fine(c)
    c.close()


def test_malformed_input():
    c = VM.connect()
    cases = [
        (b'[1, 2]\n', 'QMP input must be a JSON object'),
        (b'"just a string"\n', 'QMP input must be a JSON object'),
        (b'42\n', 'QMP input must be a JSON object'),
        (b'{"execute": }\n', 'JSON parse error'),
        (b'{"execute": "query-status"]\n', 'JSON parse error'),
        (b'{"id": 3}\n', "QMP input lacks member 'execute'"),
        (b'{"execute": 3}\n', "QMP input member 'execute' must be a string"),
        (b'{"execute": "stop", "arguments": [1]}\n',
         "QMP input member 'arguments' must be an object"),
        (b'{"execute": "stop", "bogus": 1}\n',
         "QMP input member 'bogus' is unexpected"),
        (b'{"execute": "query-status", "id": "\xc3\x28"}\n', 'invalid UTF-8'),
        (b'{"execute": "query-status", "id": "a\x00b"}\n', 'invalid UTF-8'),
        (b'{"execute": "x-set-workload", "arguments": {"cpu-index": '
         b'18446744073709551616, "kind": "idle"}}\n', 'beyond 64 bits'),
        (b'{"execute": "x-set-workload", "arguments": {"cpu-index": '
         b'-99999999999999999999999, "kind": "idle"}}\n', 'beyond 64 bits'),
        (b'}\n', "unbalanced '}'"),
        (b'\xff\n', 'invalid byte 0xff'),
    ]
    for data, desc in cases:
        reply = c.qmp_raw(data)
        check(is_error_reply(reply, 'GenericError', desc,
                             reply.get('id')), f'{data[:60]!r}: {reply}')
        vm_still_fine(c)
    c.close()


def test_message_in_pieces_and_several_per_write():
    c = VM.connect()
    msg = b'{"execute": "query-status", "id": "pieces"}'
    for b in msg:
        c.send_raw(bytes([b]))
        time.sleep(0.001)
    reply = c.recv_reply()
    check(reply.get('id') == 'pieces' and 'return' in reply, 'pieces')
    c.send_raw(b''.join(json.dumps({'execute': 'query-status', 'id': i})
                        .encode() for i in range(50)))
    ids = [c.recv_reply()['id'] for _ in range(50)]
    check(ids == list(range(50)), 'fifty messages in one write, in order')
    c.close()


def test_truncated_json():
    # Left unfinished, then the client goes away: harmless.
    c = VM.connect()
    c.send_raw(b'{"execute": "query-status", "id": 1')
    c.close()
    # Unfinished, then 0xff resets the stream (as with QEMU's guest agent).
    c = VM.connect()
    c.send_raw(b'{"execute": "query-status", "arguments": {"a": ')
    reply = c.qmp_raw(b'\xff')
    check(is_error_reply(reply, 'GenericError', 'invalid byte 0xff'),
          f'reset by 0xff: {reply}')
    vm_still_fine(c)
    c.close()


def test_deep_nesting():
    c = VM.connect()
    depth = 100000
    reply = c.qmp_raw(b'[' * depth + b']' * depth + b'\n')
    check(is_error_reply(reply, 'GenericError', 'nesting deeper than'),
          f'100000 nested arrays: {reply}')
    vm_still_fine(c)
    reply = c.qmp_raw(b'{"execute": "query-status", "id": ' + b'[' * depth +
                      b']' * depth + b'}\n')
    check(is_error_reply(reply, 'GenericError', 'nesting deeper than'),
          f'deep id: {reply}')
    vm_still_fine(c)
    c.close()


def test_huge_message():
    c = VM.connect()
    pad = b'x' * (16 << 20)
    msg = b'{"execute": "query-status", "arguments": {"pad": "' + pad + b'"}}\n'
    sender = threading.Thread(target=c.send_raw, args=(msg,))
    sender.start()
    reply = c.recv_reply(timeout=60)
    sender.join(60)
    check(is_error_reply(reply, 'GenericError', 'exceeds the limit'),
          f'16 MiB message: {reply}')
    vm_still_fine(c)
    c.close()


def test_argument_errors():
    c = VM.connect()
    cases = [
        ('x-set-workload', {}, "Parameter 'cpu-index' is missing"),
        ('x-set-workload', {'cpu-index': 0}, "Parameter 'kind' is missing"),
        ('x-set-workload', {'cpu-index': '0', 'kind': 'idle'},
         "Invalid parameter type for 'cpu-index', expected: integer"),
        ('x-set-workload', {'cpu-index': 0, 'kind': 'fly'},
         "Parameter 'kind' does not accept value 'fly'"),
        ('x-set-workload', {'cpu-index': 0, 'kind': 'idle', 'rate': -5},
         "Parameter 'rate' expects uint64_t"),
        ('x-set-workload', {'cpu-index': 0, 'kind': 'idle', 'size': 'big'},
         "Invalid parameter type for 'size', expected: integer"),
        ('x-set-workload', {'cpu-index': 99, 'kind': 'idle'},
         'cpu-index 99 is not a vCPU'),
        ('query-status', {'bogus': 1}, "Parameter 'bogus' is unexpected"),
        ('human-monitor-command', {'command-line': ['info']},
         "Invalid parameter type for 'command-line', expected: string"),
        ('human-monitor-command', {'command-line': 'info status',
                                   'cpu-index': False},
         "Invalid parameter type for 'cpu-index', expected: integer"),
        ('qmp_capabilities', {}, 'already complete'),
    ]
    for name, args, desc in cases:
        reply = c.qmp(name, args, msg_id=name)
        klass = 'CommandNotFound' if name == 'qmp_capabilities' else \
            'GenericError'
        check(is_error_reply(reply, klass, desc, name),
              f'{name} {args}: {reply}')
    vm_still_fine(c)
    c.close()


def test_disconnect_mid_command():
    for line in (b'{"execute": "human-monitor-command", "arguments": '
                 b'{"command-line": "info workload"}}\n',
                 b'{"execute": "query-qmp-schema"}\n' * 20,
                 b'{"execute": "stop"}{"execute": "cont"}\n'):
        c = VM.connect()
        c.send_raw(line)
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
    time.sleep(0.5)
    c = VM.connect()
    c.cmd('cont')
    vm_still_fine(c)
    c.close()


def test_many_clients_at_once():
    socks = []
    for _ in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(VM.qmp_path)
        socks.append(s)
    greetings = refusals = 0
    for s in socks:
        line = b''
        while not line.endswith(b'\n'):
            chunk = s.recv(4096)
            if not chunk:
                break
            line += chunk
        msg = json.loads(line)
        if 'QMP' in msg:
            greetings += 1
        elif is_error_reply(msg, 'GenericError', 'too many monitor clients'):
            refusals += 1
    check(greetings + refusals == 200, f'{greetings} greetings + {refusals} '
          'refusals = 200')
    check(0 < greetings <= MAX_CLIENTS, f'at most {MAX_CLIENTS} accepted: '
          f'{greetings}')
    for s in socks:
        s.close()
    deadline = time.monotonic() + 10
    while True:     # closed clients are reaped by the main loop
        try:
            c = VM.connect(negotiate=False)
            if 'QMP' in c.greeting:
                break
            c.close()
        except ConnectionError:
            pass    # refused: the old clients are not all reaped yet
        if not check(time.monotonic() < deadline,
                     'a new client gets in again'):
            return
        time.sleep(0.1)
    c.cmd('qmp_capabilities')
    vm_still_fine(c)
    c.close()


def test_events_broadcast():
    a, b = VM.connect(), VM.connect()
    quiet = QMPClient(VM.qmp_path)
    quiet.handshake(negotiate=False)
    a.cmd('stop')
    for c in (a, b):
        ev = c.event_wait('STOP', timeout=5)
        check(set(ev) == {'event', 'timestamp'} and is_timestamp(ev['timestamp']),
              f'STOP shape: {ev}')
    a.cmd('cont')
    ev = b.event_wait('RESUME', timeout=5)
    check(is_timestamp(ev['timestamp']), 'RESUME has a timestamp')
    reply = quiet.qmp('qmp_capabilities')
    check(reply.get('return') == {} and not quiet.events(),
          'no events before negotiation')
    for c in (a, b, quiet):
        c.close()


def test_query_commands_and_schema():
    c = VM.connect()
    names = {ci['name'] for ci in c.cmd('query-commands')}
    core = {'qmp_capabilities', 'query-version', 'query-commands',
            'query-qmp-schema', 'query-status', 'stop', 'cont', 'quit',
            'query-cpus-fast', 'human-monitor-command', 'x-query-workload',
            'x-set-workload'}
    check(core <= names, f'core commands listed: {core - names}')
    schema = {e['name']: e for e in c.cmd('query-qmp-schema')}
    for e in schema.values():
        check({'name', 'meta-type'} <= set(e), f'SchemaInfo shape: {e}')
    for name in names:
        cmd = schema.get(name)
        check(cmd is not None and cmd['meta-type'] == 'command',
              f'{name} in query-qmp-schema')
        if not cmd:
            continue
        for key in ('arg-type', 'ret-type'):
            check(cmd[key] in schema, f'{name} {key} {cmd[key]} described')
        args = schema.get(cmd['arg-type'], {})
        check(args.get('meta-type') == 'object', f'{name} arguments object')
        for m in args.get('members', []):
            check(m['type'] in schema, f'{name}.{m["name"]} type {m["type"]}')
    wl = schema[schema['x-set-workload']['arg-type']]['members']
    check([(m['name'], m['type'], 'default' in m) for m in wl] ==
          [('cpu-index', 'int', False), ('kind', 'WorkloadKind', False),
           ('size', 'size', True), ('rate', 'uint64', True),
           ('pattern', 'WorkloadPattern', True), ('offset', 'size', True),
           ('trace', 'str', True), ('process', 'int', True),
           ('speed', 'number', True), ('loop', 'bool', True)],
          f'x-set-workload argument types: {wl}')
    check(schema['x-set-workload'].get('features') == ['unstable'],
          'x-set-workload is unstable')
    check(schema['WorkloadKind']['values'] ==
          ['idle', 'write', 'read', 'mixed', 'stamp', 'replay'],
          'WorkloadKind values')
    check(schema['int']['json-type'] == 'int', 'builtin int')
    for ev in ('STOP', 'RESUME', 'SHUTDOWN', 'GUEST_PANICKED'):
        check(schema.get(ev, {}).get('meta-type') == 'event', f'event {ev}')
    c.close()


def test_core_command_replies():
    c = VM.connect()
    status = c.cmd('query-status')
    check(status == {'running': True, 'status': 'running'}, f'{status}')
    cpus = c.cmd('query-cpus-fast')
    check([x['cpu-index'] for x in cpus] == list(range(SMP)), 'cpu indexes')
    for x in cpus:
        check(set(x) == {'cpu-index', 'qom-path', 'thread-id', 'target'} and
              x['qom-path'] == f'/machine/unattached/device[{x["cpu-index"]}]'
              and x['thread-id'] > 0 and x['target'] == 'x86_64',
              f'CpuInfoFast: {x}')
    c.cmd('x-set-workload', {'cpu-index': 1, 'kind': 'write',
                             'size': 16 << 20, 'rate': 50})
    wl = c.cmd('x-query-workload')
    check(len(wl) == SMP and wl[1]['kind'] == 'write' and
          wl[1]['target-rate'] == 50 and wl[1]['region-size'] == 16 << 20,
          f'x-query-workload after x-set-workload: {wl}')
    c.cmd('x-set-workload', {'cpu-index': 1, 'kind': 'idle'})
    uuid = c.cmd('query-uuid')
    check(uuid == {'UUID': UUID.lower()}, f'query-uuid with -uuid: {uuid}')
    c.close()


def test_hmp():
    c = VM.connect()
    hmp = lambda line: c.cmd('human-monitor-command', {'command-line': line})
    check(hmp('info status') == 'VM status: running\r\n', 'info status')
    check(hmp('stop') == '', 'stop prints nothing')
    check(hmp('info status') == 'VM status: paused\r\n', 'paused')
    check(hmp('cont') == '' and c.cmd('query-status')['running'], 'cont')
    out = hmp('help')
    for name in ('help', 'info', 'stop', 'cont', 'quit', 'workload'):
        check(f'\r\n{name}' in '\r\n' + out, f'help lists {name}')
    check('info workload' in hmp('help info'), 'help info')
    check(hmp('info version').startswith(RESTRAINT_VERSION_PREFIX),
          'info version')
    cpus = hmp('info cpus').splitlines()
    check(len(cpus) == SMP and cpus[0].startswith('* CPU #0: thread_id='),
          f'info cpus: {cpus}')
    check(hmp('workload 0 write size=8M rate=20') == '', 'workload')
    wl = c.cmd('x-query-workload')[0]
    check(wl['kind'] == 'write' and wl['region-size'] == 8 << 20 and
          wl['target-rate'] == 20, f'workload took effect: {wl}')
    out = hmp('info workload').splitlines()
    check(out[0].startswith('vCPU') and len(out) == SMP + 2 and
          out[1].split()[1] == 'write' and out[-1].startswith('rates over'),
          f'info workload: {out}')
    check(hmp('workload 0 idle') == '', 'back to idle')
    check(hmp('workload 9 idle').startswith('Error: '), 'bad cpu')
    check(hmp('workload 0 fly').startswith('Error: '), 'bad kind')
    check(hmp('workload 0 idle size=lots').startswith('Error: '), 'bad size')
    check(hmp('nonsense') == "unknown command: 'nonsense'\r\n", 'unknown')
    check(hmp('info nonsense').startswith("unknown info subcommand"), 'info ?')
    check(hmp('') == '', 'empty line')
    reply = c.qmp('human-monitor-command', {'command-line': 'info status',
                                            'cpu-index': 99})
    check(is_error_reply(reply, 'GenericError', 'not a vCPU', reply['id']),
          f'hmp cpu-index: {reply}')
    vm_still_fine(c)
    c.close()


def test_hmp_socket():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(HMP_PATH)

    def until_prompt():
        data = b''
        while not data.endswith(b'(restraint) '):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode()
    banner = until_prompt()
    check('monitor - type \'help\'' in banner, f'HMP banner: {banner!r}')
    s.sendall(b'info status\n')
    check(until_prompt() == 'VM status: running\r\n(restraint) ', 'HMP socket')
    s.close()


def test_socket_modes_and_tcp():
    mode = stat.S_IMODE(os.stat(VM.qmp_path).st_mode)
    check(mode == 0o600, f'QMP socket mode {oct(mode)}')
    c = QMPClient(('127.0.0.1', TCP_PORT))
    c.handshake()
    vm_still_fine(c)
    c.close()


def free_tcp_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    global VM, HMP_PATH, TCP_PORT, RESTRAINT_VERSION_PREFIX
    require_kvm()
    hmp_dir = tempfile.mkdtemp(prefix='restraint-hmp-')
    HMP_PATH = os.path.join(hmp_dir, 'hmp.sock')
    TCP_PORT = free_tcp_port()
    VM = RestraintVM(args=['-smp', str(SMP), '-m', '256M', '-uuid', UUID,
                           '-monitor', f'unix:{HMP_PATH},server=on,wait=off',
                           '-qmp', f'tcp:127.0.0.1:{TCP_PORT},server=on,'
                           'wait=off'])
    VM.launch()
    v = VM.cmd('query-version')['qemu']
    RESTRAINT_VERSION_PREFIX = f"{v['major']}.{v['minor']}.{v['micro']}"
    for fn in (test_greeting_shape, test_commands_before_capabilities,
               test_replies_are_lines_with_ids, test_malformed_input,
               test_message_in_pieces_and_several_per_write,
               test_truncated_json, test_deep_nesting, test_huge_message,
               test_argument_errors, test_disconnect_mid_command,
               test_many_clients_at_once, test_events_broadcast,
               test_query_commands_and_schema, test_core_command_replies,
               test_hmp, test_hmp_socket, test_socket_modes_and_tcp):
        case(fn)
    VM.events()
    VM.cmd('quit')
    ev = VM.event_wait('SHUTDOWN', timeout=10)
    check(ev.get('data') == {'guest': False, 'reason': 'host-qmp-quit'},
          f'SHUTDOWN after quit: {ev}')
    code = VM.shutdown()
    check(code == 0, f'exit code after quit: {code}')
    check(not os.path.exists(HMP_PATH), 'HMP socket removed at exit')
    os.rmdir(hmp_dir)
    print(f'{CHECKS} checks, {len(FAILURES)} failures')
    if FAILURES:
        print('\n'.join(FAILURES))
        if VM.output():
            print('--- restraint output ---\n' + VM.output())
        sys.exit(1)


if __name__ == '__main__':
    main()
