"""The user guide cannot rot: every QMP example in docs/user-guide.md (the
`->` request and `<-` reply blocks) is sent, in the guide's order, to a
real VM configured as the guide says, and must get a non-error reply of
the documented shape (the documented keys, recursively, with values of
the same JSON types); every HMP example line `(restraint) ...` is run and
must not answer with an error; and the guide's option table lists exactly
the options `restraint -help` prints."""

import json
import os
import re
import socket
import subprocess
import sys
import time

from restraint_vm import Checks, RestraintVM, require_kvm

SRC = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GUIDE = os.path.join(SRC, 'docs', 'user-guide.md')
DOC_PORT = '4444'           # the guide's destination port, replaced
# The guide's VM (make run's).
VM_ARGS = ['-m', '1G', '-smp', '2', '-accel', 'kvm,dirty-ring-size=4096',
           '-workload', 'cpu=0,kind=write,size=384M',
           '-workload', 'cpu=1,kind=read,size=256M']
DST_ARGS = ['-m', '1G', '-smp', '2', '-accel', 'kvm,dirty-ring-size=4096']
# An example's reply may depend on something still under way (a
# measurement, a migration pass): it is retried, bounded.
RETRY_S = 60.0
HMP_ERRORS = ('Error', 'unknown command', 'missing argument',
              'too many arguments', 'cannot parse', 'unknown info')
CHECKS = Checks()
check = CHECKS.check



def free_tcp_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def qmp_examples(text):
    """[(request, reply)] of every -> / <- pair, in order."""
    examples, mode, req, rep = [], None, [], []

    def flush():
        if req:
            examples.append((json.loads(' '.join(req)),
                             json.loads(' '.join(rep))))
    for line in text.splitlines():
        s = line.strip()
        if s.startswith('->'):
            flush()
            mode, req, rep = 'req', [s[2:]], []
        elif s.startswith('<-') and mode == 'req':
            mode, rep = 'rep', [s[2:]]
        elif mode and s and line.startswith('    '):
            (req if mode == 'req' else rep).append(s)
        else:
            if mode == 'rep':
                flush()
                req, rep = [], []
            mode = None
    if mode == 'rep':
        flush()
    return examples


def hmp_examples(text):
    return [line.strip()[len('(restraint) '):]
            for line in text.splitlines()
            if line.strip().startswith('(restraint) ')]


def same_shape(doc, got, path='return'):
    """None if @got has @doc's shape, else where it differs."""
    if isinstance(doc, dict):
        if not isinstance(got, dict):
            return f'{path}: expected an object'
        for k, v in doc.items():
            if k not in got:
                return f'{path}: no key {k!r}'
            why = same_shape(v, got[k], f'{path}.{k}')
            if why:
                return why
        return None
    if isinstance(doc, list):
        if not isinstance(got, list):
            return f'{path}: expected a list'
        if doc and not got:
            return f'{path}: expected a non-empty list'
        return same_shape(doc[0], got[0], f'{path}[0]') if doc else None
    if isinstance(doc, bool) or isinstance(got, bool):
        return None if type(doc) is type(got) else f'{path}: not a bool'
    if isinstance(doc, (int, float)):
        return None if isinstance(got, (int, float)) else \
            f'{path}: not a number'
    if isinstance(doc, str):
        return None if isinstance(got, str) else f'{path}: not a string'
    return None


def substitute(obj, port):
    return json.loads(json.dumps(obj).replace(f':{DOC_PORT}', f':{port}'))


def send_qmp(client, request):
    """getfd gets a descriptor to keep (SCM_RIGHTS), as its doc says."""
    if request['execute'] != 'getfd':
        return client.qmp(request['execute'], request.get('arguments'))
    with open(os.devnull, 'rb') as f:
        socket.send_fds(client.sock, [json.dumps(request).encode() + b'\n'],
                        [f.fileno()])
    return client.recv_reply()


def run_qmp(client, request, reply):
    """Send @request until its reply has @reply's shape (bounded)."""
    deadline = time.monotonic() + RETRY_S
    while True:
        if 'error' in reply:
            # A documented error: the same class is the documented shape.
            got = send_qmp(client, request)
            klass = got.get('error', {}).get('class')
            return (None if klass == reply['error']['class'] else
                    f'expected error class {reply["error"]["class"]}'), got
        got = send_qmp(client, request)
        why = got['error']['desc'] if 'error' in got else \
            same_shape(reply.get('return'), got.get('return'))
        if not why or time.monotonic() > deadline:
            return why, got
        time.sleep(0.2)


def test_qmp_examples(examples):
    port = free_tcp_port()
    dst = RestraintVM(DST_ARGS + ['-incoming', f'tcp:127.0.0.1:{port}'],
                      name='dst')
    deferred = RestraintVM(DST_ARGS + ['-incoming', 'defer'],
                           name='deferred')
    # system_powerdown ends its VM: a spare one, not the guide's.
    spare = RestraintVM(['-m', '64M'], name='spare')
    vm = RestraintVM(VM_ARGS, name='guide')
    with dst, deferred, spare, vm:
        for request, reply in examples:
            request = substitute(request, port)
            name = request['execute']
            if name == 'qmp_capabilities':
                client = vm.connect(negotiate=False)
            elif name == 'system_powerdown':
                client = spare.client
            elif name == 'migrate-incoming':
                client = deferred.client
                request = substitute(request, free_tcp_port())
            else:
                client = vm.client
            why, got = run_qmp(client, request, reply)
            check(why is None, f'QMP {name}: {why or "documented shape"}'
                  + (f' (got {json.dumps(got)[:300]})' if why else ''))
            if name == 'qmp_capabilities':
                client.close()


def hmp_ok(text):
    return not any(e in text for e in HMP_ERRORS)


def test_hmp_examples(lines):
    port = free_tcp_port()
    dst = RestraintVM(DST_ARGS + ['-incoming', f'tcp:127.0.0.1:{port}'],
                      name='hmp-dst')
    deferred = RestraintVM(DST_ARGS + ['-incoming', 'defer'],
                           name='hmp-deferred')
    vm = RestraintVM(VM_ARGS, name='hmp-guide')
    with dst, deferred, vm:
        for line in lines:
            line = line.replace(f':{DOC_PORT}', f':{port}')
            target = vm
            if line.startswith('migrate_incoming'):
                target = deferred
                line = line.replace(f':{port}', f':{free_tcp_port()}')
            deadline = time.monotonic() + RETRY_S
            out = target.hmp(line)
            while not hmp_ok(out) and time.monotonic() < deadline:
                time.sleep(0.2)
                out = target.hmp(line)
            check(hmp_ok(out), f'HMP {line}' +
                  ('' if hmp_ok(out) else f': {out.strip()[:300]}'))


def test_help_matches_the_guide(text):
    usage = subprocess.run([os.environ['RESTRAINT'], '-help'],
                           capture_output=True, text=True, timeout=30).stdout
    in_help = set(re.findall(r'^\s{2}(-[a-zA-Z][\w-]*)', usage, re.M))
    in_guide = set(re.findall(r'^\| `(-[a-zA-Z][\w-]*)', text, re.M))
    check(in_help == in_guide,
          f'-help and the guide list the same options (only in -help: '
          f'{sorted(in_help - in_guide)}, only in the guide: '
          f'{sorted(in_guide - in_help)})')


def main():
    require_kvm()
    with open(GUIDE) as f:
        text = f.read()
    examples = qmp_examples(text)
    documented = {r['execute'] for r, _ in examples}
    check(len(examples) >= 30, f'{len(examples)} QMP examples found')
    test_help_matches_the_guide(text)
    test_qmp_examples(examples)
    test_hmp_examples(hmp_examples(text))
    # Every command of the schema has an example.
    with RestraintVM(['-m', '64M']) as vm:
        commands = {c['name'] for c in vm.cmd('query-commands')}
    check(commands <= documented,
          f'every QMP command has an example (missing '
          f'{sorted(commands - documented)})')
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
