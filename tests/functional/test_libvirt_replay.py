"""What libvirt 9.0 sends, replayed without libvirt.

tests/functional/libvirt/ holds what libvirt really sent to its emulator
(recorded on Debian 12, see its README.md): every command line and the
QMP of a capability probe, a start with dirty-rate calls, a migration
(both sides) and a reconnect.  Here:

- every recorded command line starts restraint (paths and the inherited
  monitor fd replaced by ours) and its monitor answers;
- the probe's -daemonize returns 0 only with the monitor listening and
  the pidfile written;
- each recorded QMP sequence is sent again, in order, and every reply
  must have the shape libvirt parses (or the error class it tolerates);
- the migration runs as libvirt runs it: getfd with SCM_RIGHTS, then
  migrate fd:migrate, pause-before-switchover, migrate-continue;
- HMP migrate without -d waits and prints the error; quit answers before
  SHUTDOWN and no STOP follows;
- exec: URIs save a guest to a command and load it back.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

from restraint_vm import Checks, QMPClient, poll, require_kvm

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED = os.path.join(HERE, 'libvirt')
SRC = os.path.dirname(os.path.dirname(HERE))
RESTRAINT = os.environ['RESTRAINT']
BUILD = os.path.dirname(RESTRAINT)
CHECKS = Checks()
check = CHECKS.check

# Errors libvirt 9.0 accepts (anything else fails its probe or start).
TOLERATED_ERRORS = {
    'device-list-properties': 'DeviceNotFound',
    'query-tpm-models': 'CommandNotFound',
}


# ---- the recordings

def recorded_argvs():
    """argv.log's command lines, as argument lists after EMULATOR."""
    lines = []
    with open(os.path.join(RECORDED, 'argv.log')) as f:
        for line in f:
            if not line.startswith('  EMULATOR '):
                continue
            text = line.strip()
            if '\\,' in text:       # one entry is logged shell-escaped
                text = re.sub(r'\\(.)', r'\1', text)
            lines.append(text.split()[1:])
    return lines


def recorded_sessions(name):
    """The QMP sessions of a transcript: [(conn, [request, ...], fds)],
    a session beginning at each greeting.  A request the recording shim
    rewrote appears twice ('-> (note) ORIGINAL', then '->  REWRITTEN'):
    libvirt's original is kept.  fds: indexes of requests sent with a
    descriptor (SCM_RIGHTS)."""
    sessions, skip_next, fd_pending = [], False, False
    with open(os.path.join(RECORDED, name)) as f:
        for line in f:
            m = re.match(r'^(C\d) (<-|->)\s*(.*)$', line.rstrip('\n'))
            if m and m.group(2) == '<-' and '"QMP"' in m.group(3):
                sessions.append((m.group(1), [], set()))
                continue
            if 'received fds via SCM_RIGHTS' in line:
                fd_pending = True
                continue
            if not m or m.group(2) != '->':
                continue
            body = m.group(3)
            if body.startswith('('):
                body = body[body.index(')') + 1:].strip()
                skip_next = True
            elif skip_next:
                skip_next = False
                continue
            request = json.loads(body)
            conn, requests, fds = sessions[-1]
            if conn != m.group(1):
                sessions.append((m.group(1), [], set()))
                conn, requests, fds = sessions[-1]
            if fd_pending and request['execute'] == 'getfd':
                fds.add(len(requests))
                fd_pending = False
            requests.append(request)
    return sessions


# ---- the shapes libvirt parses

def is_list_of(value, *keys):
    return isinstance(value, list) and all(
        isinstance(v, dict) and all(k in v for k in keys) for v in value)


def shape_version(r):
    q = r.get('qemu', {})
    return (all(isinstance(q.get(k), int) for k in ('major', 'minor', 'micro'))
            and (q['major'], q['minor']) >= (4, 2)
            and isinstance(r.get('package'), str))


def shape_dirty_rate(r):
    if not isinstance(r.get('status'), str) or 'mode' not in r:
        return False
    if r['status'] != 'measured':
        return True
    ok = isinstance(r.get('dirty-rate'), int)
    if r['mode'] == 'dirty-ring':
        ok = ok and is_list_of(r.get('vcpu-dirty-rate'), 'id', 'dirty-rate')
    return ok


SHAPES = {
    'query-version': shape_version,
    'query-target': lambda r: r.get('arch') == 'x86_64',
    'query-qmp-schema': lambda r: is_list_of(r, 'name', 'meta-type'),
    'query-commands': lambda r: is_list_of(r, 'name'),
    'query-kvm': lambda r: r.get('enabled') is True and
                           r.get('present') is True,
    'qom-list-types': lambda r: is_list_of(r, 'name'),
    'qom-list-properties': lambda r: is_list_of(r, 'name', 'type'),
    'qom-list': lambda r: is_list_of(r, 'name', 'type'),
    'query-machines': lambda r: is_list_of(r, 'name', 'cpu-max') and
        any(m.get('is-default') and m['name'] == 'restraint' and
            m.get('default-ram-id') for m in r),
    'query-command-line-options': lambda r: is_list_of(r, 'option',
                                                       'parameters'),
    'query-migrate-capabilities': lambda r: is_list_of(
        r, 'capability', 'state') and {'events', 'pause-before-switchover',
                                       'return-path', 'auto-converge'} <=
        {c['capability'] for c in r},
    'query-chardev': lambda r: is_list_of(r, 'label', 'filename',
                                          'frontend-open'),
    'query-cpus-fast': lambda r: is_list_of(r, 'cpu-index', 'qom-path',
                                            'thread-id'),
    'query-named-block-nodes': lambda r: r == [],
    'query-block': lambda r: r == [],
    'query-blockstats': lambda r: r == [],
    'query-jobs': lambda r: r == [],
    'query-status': lambda r: isinstance(r.get('running'), bool) and
                              isinstance(r.get('status'), str),
    'query-dirty-rate': shape_dirty_rate,
    'query-vcpu-dirty-limit': lambda r: is_list_of(r, 'cpu-index',
                                                   'limit-rate',
                                                   'current-rate'),
    'human-monitor-command': lambda r: isinstance(r, str),
    'query-migrate-parameters': lambda r: isinstance(
        r.get('max-bandwidth'), int) and isinstance(r.get('downtime-limit'),
                                                    int),
    'query-migrate': lambda r: isinstance(r.get('status'), str),
}


def check_reply(what, request, reply):
    name = request['execute']
    if reply.get('id') != request.get('id'):
        return check(False, f'{what}: {name}: reply id {reply.get("id")!r}')
    if 'error' in reply:
        want = TOLERATED_ERRORS.get(name)
        return check(reply['error'].get('class') == want,
                     f'{what}: {name} -> {reply["error"]}' +
                     (f' (libvirt accepts class {want})' if want else ''))
    shape = SHAPES.get(name, lambda r: r == {})
    return check(shape(reply['return']),
                 f'{what}: {name} -> the shape libvirt parses' +
                 ('' if shape(reply['return']) else
                  f': {json.dumps(reply["return"])[:300]}'))


# ---- starting restraint as libvirt does

class Domain:
    """restraint started from a recorded command line, its monitor on a
    listening socket we created and passed as libvirt passes it."""

    def __init__(self, argv, tmp, name):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.mon_path = os.path.join(self.dir, 'monitor.sock')
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.mon_path)
        self.listener.listen(1)
        fd = self.listener.fileno()
        os.set_inheritable(fd, True)
        self.argv = [RESTRAINT] + [self.localise(a, fd) for a in argv]
        self.stderr = open(os.path.join(self.dir, 'stderr'), 'w+')
        self.proc = subprocess.Popen(self.argv, pass_fds=[fd], cwd=SRC,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)
        self.listener.close()   # as libvirt does: restraint has it now

    def localise(self, arg, fd):
        """Our paths for libvirt's, our descriptor for its fd=N."""
        arg = re.sub(r',fd=\d+,', f',fd={fd},', arg)
        arg = arg.replace('build/guest/', os.path.join(BUILD, 'guest') + '/')
        m = re.search(r'file=(/var/lib/libvirt/[^,]*)', arg)
        if m:
            key = os.path.join(self.dir, 'master-key.aes')
            with open(key, 'wb') as f:
                f.write(os.urandom(32))
            arg = arg.replace(m.group(1), key)
        return arg

    def connect(self):
        def attempt():
            try:
                c = QMPClient(self.mon_path, timeout=30.0)
                c.handshake(negotiate=False)
                return c
            except OSError:
                return None
        client = poll(attempt, timeout=30.0, step=0.05)
        if not client:
            self.stderr.seek(0)
            raise RuntimeError(f'{shlex.join(self.argv)}: no monitor: '
                               f'{self.stderr.read()[-500:]}')
        return client

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def replay(client, what, requests, fds=(), hooks=None):
    """Send @requests in order; check each reply.  @hooks: execute name
    -> function(client, request) run instead of a plain send."""
    for i, request in enumerate(requests):
        name = request['execute']
        if hooks and name in hooks:
            reply = hooks[name](client, request, i in fds)
        else:
            client.send_raw(json.dumps(request).encode() + b'\n')
            reply = client.recv_reply(timeout=60)
        check_reply(what, request, reply)
        if name == 'calc-dirty-rate' and 'return' in reply:
            wait_measured(client)


def wait_measured(client):
    """libvirt waits calc-time before asking; we wait for the result."""
    poll(lambda: client.cmd('query-dirty-rate')['status'] == 'measured',
         timeout=60.0, step=0.1)


def send_with_fd(client, request, fd):
    data = json.dumps(request).encode() + b'\n'
    socket.send_fds(client.sock, [data], [fd])
    return client.recv_reply(timeout=30)


# ---- the cases

def test_every_recorded_command_line_starts(tmp):
    seen = set()
    for argv in recorded_argvs():
        if '-daemonize' in argv:
            continue                # the probe: its own case below
        key = ' '.join(re.sub(r'\d+', 'N', a) for a in argv)
        if key in seen:
            continue
        seen.add(key)
        if '-kernel' in argv and '-workload' in argv:
            # rs2's first start: the guest's own ELF by path plus
            # -workload.  A user's ELF need not run workloads, so
            # restraint refuses the pair, naming why.
            done = subprocess.run([RESTRAINT] + [
                a.replace('build/guest/', BUILD + '/guest/') for a in argv
                if not a.startswith('socket,') and a != '-chardev'],
                capture_output=True, text=True, cwd=SRC, timeout=60)
            check(done.returncode != 0 and 'built-in guest only' in
                  done.stderr, '-kernel with -workload is refused by name')
            continue
        dom = Domain(argv, tmp, f'argv{len(seen)}')
        try:
            client = dom.connect()
            client.cmd('qmp_capabilities')
            status = client.cmd('query-status')['status']
            want = 'inmigrate' if '-incoming' in argv else 'prelaunch'
            check(status == want, f'recorded command line {len(seen)} '
                  f'starts ({status}): {" ".join(argv)[:100]}...')
            client.close()
        finally:
            dom.stop()


def test_probe(tmp):
    argv = next(a for a in recorded_argvs() if '-daemonize' in a)
    qmp_path = os.path.join(tmp, 'qmp.monitor')
    pid_path = os.path.join(tmp, 'qmp.pid')
    argv = [re.sub(r'/var/lib/libvirt/qemu/qmp-\w+/qmp\.monitor', qmp_path,
                   re.sub(r'/var/lib/libvirt/qemu/qmp-\w+/qmp\.pid',
                          pid_path, a)) for a in argv]
    done = subprocess.run([RESTRAINT] + argv, capture_output=True, text=True,
                          timeout=60)
    check(done.returncode == 0, f'-daemonize returns 0 ({done.returncode}: '
          f'{done.stderr.strip()})')
    # No polling: both must be there the moment the command returns.
    check(os.path.exists(pid_path), 'the pidfile exists when it returns')
    client = QMPClient(qmp_path, timeout=30.0)
    client.handshake(negotiate=False)
    pid = int(open(pid_path).read())
    check(os.path.exists(f'/proc/{pid}'), f'the pidfile names the daemon '
          f'({pid})')
    _, requests, fds = recorded_sessions('qmp-probe.txt')[0]
    replay(client, 'probe', requests, fds)
    commands = {c['name'] for c in client.cmd('query-commands')}
    for name in recorded_command_names():
        if name not in TOLERATED_ERRORS:
            check(name in commands, f'query-commands lists {name}')
    client.cmd('quit')
    check(poll(lambda: not os.path.exists(f'/proc/{pid}'), timeout=20),
          'the daemon exits on quit')
    check(not os.path.exists(pid_path), 'and removes its pidfile')

    bad = subprocess.run([RESTRAINT, '-machine', 'none', '-qmp',
                          f'unix:{tmp}/no/such/dir.sock,server=on,wait=off',
                          '-daemonize'], capture_output=True, text=True,
                         timeout=60)
    check(bad.returncode != 0 and 'cannot listen' in bad.stderr,
          f'-daemonize fails with the reason when start-up fails '
          f'({bad.returncode}: {bad.stderr.strip()})')


def recorded_command_names():
    names = set()
    for f in os.listdir(RECORDED):
        if f.startswith('qmp-'):
            for _, requests, _ in recorded_sessions(f):
                names |= {r['execute'] for r in requests}
    return names


def start_argv(incoming=False):
    """The recorded start of rs1 (with -incoming defer for a
    destination)."""
    for argv in recorded_argvs():
        if '-daemonize' not in argv and 'guest=rs1,debug-threads=on' in argv \
                and ('-incoming' in argv) == incoming \
                and 'memory-backend=pc.ram' in ' '.join(argv):
            return argv
    raise RuntimeError('no recorded start of rs1')


def test_start_dirtyrate_dirtylimit_reconnect(tmp):
    dom = Domain(start_argv(), tmp, 'start')
    try:
        client = dom.connect()
        _, requests, fds = recorded_sessions(
            'qmp-start-dirtyrate-dirtylimit.txt')[0]
        replay(client, 'start+dirty-rate', requests, fds)
        client.close()
        # libvirtd restarts: a new client on the same socket, twice.
        for name in ('qmp-start-as-libvirt-qemu-and-reconnect.txt',
                     'qmp-reconnect-fail-query-jobs.txt'):
            conn, requests, fds = next(s for s in recorded_sessions(name)
                                       if s[0] == 'C2')
            client = dom.connect()
            replay(client, f'reconnect ({name})', requests, fds)
            client.close()
        client = dom.connect()
        client.cmd('qmp_capabilities')
        client.cmd('system_powerdown')
        ev = client.event_wait('SHUTDOWN', timeout=20)
        check(ev.get('data') == {'guest': True, 'reason': 'guest-shutdown'},
              f'system_powerdown: SHUTDOWN from the guest ({ev.get("data")})')
        check(dom.proc.wait(timeout=20) == 0,
              'system_powerdown: the process exits (virsh shutdown)')
    finally:
        dom.stop()


def test_migration_as_libvirt(tmp):
    src = Domain(start_argv(), tmp, 'src')
    dst = Domain(start_argv(incoming=True), tmp, 'dst')
    try:
        s, d = src.connect(), dst.connect()
        _, src_reqs, src_fds = recorded_sessions(
            'qmp-start-and-migrate-source.txt')[0]
        _, dst_reqs, dst_fds = recorded_sessions(
            'qmp-migrate-destination.txt')[0]
        port = free_port()
        cut = next(i for i, r in enumerate(dst_reqs)
                   if r['execute'] == 'migrate-incoming') + 1
        for r in dst_reqs[:cut]:
            if r['execute'] == 'migrate-incoming':
                r['arguments']['uri'] = f'tcp:[::]:{port}'
        replay(d, 'destination', dst_reqs[:cut], dst_fds)

        def getfd(client, request, with_fd):
            conn = socket.create_connection(('127.0.0.1', port), timeout=30)
            try:
                return send_with_fd(client, request, conn.fileno())
            finally:
                conn.close()    # restraint has its own copy

        def migrate_continue(client, request, with_fd):
            wait_status(client, 'pre-switchover')
            client.send_raw(json.dumps(request).encode() + b'\n')
            return client.recv_reply(timeout=30)

        cut_src = next(i for i, r in enumerate(src_reqs)
                       if r['execute'] == 'migrate-continue') + 1
        replay(s, 'source', src_reqs[:cut_src], src_fds,
               hooks={'getfd': getfd, 'migrate-continue': migrate_continue})
        check(wait_status(s, 'completed'), 'the migration completes')
        replay(s, 'source (after)', src_reqs[cut_src:], src_fds)
        check(poll(lambda: d.cmd('query-migrate').get('status') ==
                   'completed', timeout=60), 'the destination loaded it')
        # It then migrated back: the same sequence as the source's above.
        back = next(i for i, r in enumerate(dst_reqs)
                    if r['execute'] == 'getfd')
        replay(d, 'destination (after)', dst_reqs[cut:back], dst_fds)
        check(d.cmd('query-status')['status'] == 'running',
              'the guest runs on the destination')
    finally:
        src.stop()
        dst.stop()


def wait_status(client, status):
    return poll(lambda: client.cmd('query-migrate').get('status') == status,
                timeout=60.0, step=0.05)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def hmp_session(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    sock.settimeout(60)
    return sock


def hmp_read_prompt(sock, prompts=1):
    """What the monitor prints up to its @prompts-th prompt."""
    buf = b''
    while buf.count(b'(restraint) ') < prompts:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode()


def test_hmp_migrate_waits_and_quit_order(tmp):
    hmp_path = os.path.join(tmp, 'hmp.sock')
    qmp_path = os.path.join(tmp, 'q.sock')
    dst_path = os.path.join(tmp, 'dst.sock')
    proc = subprocess.Popen([RESTRAINT, '-m', '64', '-monitor',
                             f'unix:{hmp_path},server=on,wait=off', '-qmp',
                             f'unix:{qmp_path},server=on,wait=off'],
                            stdout=subprocess.DEVNULL)
    dst = subprocess.Popen([RESTRAINT, '-m', '64', '-incoming',
                            f'unix:{dst_path}'], stdout=subprocess.DEVNULL)
    try:
        poll(lambda: os.path.exists(hmp_path) and os.path.exists(dst_path),
             timeout=30)
        hmp = hmp_session(hmp_path)
        hmp_read_prompt(hmp)
        hmp.sendall(f'migrate unix:{tmp}/nobody.sock\ninfo status\n'.encode())
        first, _, second = hmp_read_prompt(hmp, 2).partition('(restraint) ')
        check('Error: migration failed' in first and 'cannot connect' in
              first, f'HMP migrate without -d prints the error, then the '
              f'prompt ({first.strip()!r})')
        check('VM status: running' in second,
              f'the next line runs after the migration ended '
              f'({second.strip()!r})')
        hmp.sendall(f'migrate unix:{dst_path}\n'.encode())
        out = hmp_read_prompt(hmp)
        q = QMPClient(qmp_path)
        q.handshake()
        status = q.cmd('query-migrate').get('status')
        check(status == 'completed' and 'Error' not in out,
              f'HMP migrate without -d returns once completed ({status}, '
              f'{out.strip()!r})')
        # quit: the reply first, then SHUTDOWN, and no STOP after it.
        q.send_raw(b'{"execute": "quit", "id": "q"}\n')
        msgs = []
        while True:
            try:
                msgs.append(q.recv_message(timeout=20))
            except (ConnectionError, TimeoutError):
                break
        names = [m.get('event', 'reply') for m in msgs]
        check(names[:2] == ['reply', 'SHUTDOWN'] and 'STOP' not in names,
              f'quit: the reply, then SHUTDOWN, no STOP ({names})')
        check(proc.wait(timeout=20) == 0, 'quit exits 0')
    finally:
        for p in (proc, dst):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_chardev_path_monitors(tmp):
    """-chardev socket,path= with -mon: QMP (control) and HMP (readline)
    monitors restraint listens on itself, and what query-chardev says."""
    qmp_path = os.path.join(tmp, 'qmp.sock')
    hmp_path = os.path.join(tmp, 'hmp.sock')
    proc = subprocess.Popen(
        [RESTRAINT, '-m', '64', '-chardev',
         f'socket,id=qmp0,path={qmp_path},server=on,wait=off', '-mon',
         'chardev=qmp0,mode=control', '-chardev',
         f'socket,id=hmp0,path={hmp_path},server=on,wait=off', '-mon',
         'chardev=hmp0,mode=readline'], stdout=subprocess.DEVNULL)
    try:
        poll(lambda: os.path.exists(qmp_path) and os.path.exists(hmp_path),
             timeout=30)
        hmp = hmp_session(hmp_path)
        hmp.sendall(b'info status\n')
        check('VM status: running' in hmp_read_prompt(hmp, 2),
              '-mon mode=readline: HMP on the chardev')
        q = QMPClient(qmp_path)
        q.handshake()
        chardevs = {c['label']: c['filename'] for c in q.cmd('query-chardev')}
        check(chardevs == {'qmp0': f'unix:{qmp_path},server=on',
                           'hmp0': f'unix:{hmp_path},server=on'},
              f'query-chardev: both, connected ({chardevs})')
        hmp.close()
        check(poll(lambda: {c['label']: c['filename'] for c in
                            q.cmd('query-chardev')}['hmp0'].startswith(
                                'disconnected:'), timeout=10),
              'query-chardev: "disconnected:" once its client left')
        q.cmd('quit')
        check(proc.wait(timeout=20) == 0 and not os.path.exists(qmp_path),
              'quit: exits 0 and removes the sockets it created')
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_fd_save_and_restore(tmp):
    """virsh save's path: migrate fd:NAME to a pipe passed with getfd;
    virsh restore's: -incoming fd:N, a file the process inherited."""
    from restraint_vm import RestraintVM
    saved = os.path.join(tmp, 'saved.bin')
    with RestraintVM(['-m', '64M', '-workload',
                      'cpu=0,kind=write,size=8M,rate=50']) as src:
        src.cmd('stop')
        before = src.cmd('x-query-ram-hash')['hash']
        read_end, write_end = os.pipe()
        reply = send_with_fd(src.client, {'execute': 'getfd', 'id': 'g',
                                          'arguments': {'fdname': 'save'}},
                             write_end)
        os.close(write_end)
        check('return' in reply, f'getfd with a pipe ({reply})')
        writer = subprocess.Popen(['cat'], stdin=read_end,
                                  stdout=open(saved, 'wb'))
        os.close(read_end)
        src.cmd('migrate', {'uri': 'fd:save'})
        check(wait_status(src.client, 'completed'),
              f'migrate fd:NAME to a pipe completes '
              f'({src.cmd("query-migrate").get("error-desc")})')
        check(writer.wait(timeout=30) == 0, 'the pipe reached its end')
    qmp_path = os.path.join(tmp, 'dst.qmp')
    with open(saved, 'rb') as f:
        os.set_inheritable(f.fileno(), True)
        proc = subprocess.Popen(
            [RESTRAINT, '-m', '64M', '-S', '-incoming', f'fd:{f.fileno()}',
             '-qmp', f'unix:{qmp_path},server=on,wait=off'],
            pass_fds=[f.fileno()], stdout=subprocess.DEVNULL)
    try:
        poll(lambda: os.path.exists(qmp_path), timeout=30)
        dst = QMPClient(qmp_path)
        dst.handshake()
        check(poll(lambda: dst.cmd('query-migrate').get('status') ==
                   'completed', timeout=60),
              '-incoming fd:N (an inherited file) loads it')
        after = dst.cmd('x-query-ram-hash')['hash']
        check(before == after, f'the RAM is the one saved ({before}, '
              f'{after})')
        dst.cmd('quit')
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_exec_save_and_restore(tmp):
    """QEMU's save to a command and load from one: exec: URIs."""
    from restraint_vm import RestraintVM
    saved = os.path.join(tmp, 'saved.bin')
    with RestraintVM(['-m', '64M', '-workload',
                      'cpu=0,kind=write,size=8M,rate=50']) as src:
        src.cmd('stop')
        before = src.cmd('x-query-ram-hash')['hash']
        src.cmd('migrate', {'uri': f'exec:cat > {saved}'})
        check(wait_status(src.client, 'completed'),
              f'migrate exec:cat > FILE completes '
              f'({src.cmd("query-migrate").get("error-desc")})')
        src.cmd('migrate', {'uri': 'exec:cat > /dev/null; exit 3'})
        failed = poll(lambda: src.cmd('query-migrate')['status'] == 'failed',
                      timeout=60)
        check(failed, 'a command that exits non-zero fails the migration ('
              f'{src.cmd("query-migrate").get("error-desc")})')
    with RestraintVM(['-m', '64M', '-S', '-incoming',
                      f'exec:cat {saved}']) as dst:
        check(poll(lambda: dst.cmd('query-migrate').get('status') ==
                   'completed', timeout=60),
              '-incoming exec:cat FILE loads it')
        after = dst.cmd('x-query-ram-hash')['hash']
        check(before == after, f'the RAM is the one saved ({before}, '
              f'{after})')
    with RestraintVM(['-m', '64M', '-S', '-incoming',
                      'exec:head -c 100000 /dev/zero']) as bad:
        check(poll(lambda: bad.cmd('query-migrate').get('status') ==
                   'failed', timeout=60),
              '-incoming exec: of something else fails cleanly')


def main():
    require_kvm()
    with tempfile.TemporaryDirectory(prefix='restraint-libvirt-') as tmp:
        for fn in (test_every_recorded_command_line_starts, test_probe,
                   test_start_dirtyrate_dirtylimit_reconnect,
                   test_migration_as_libvirt,
                   test_hmp_migrate_waits_and_quit_order,
                   test_chardev_path_monitors, test_fd_save_and_restore,
                   test_exec_save_and_restore):
            print(f'# {fn.__name__}', flush=True)
            sub = os.path.join(tmp, fn.__name__)
            os.makedirs(sub)
            try:
                fn(sub)
            except Exception as e:      # one case's crash fails only it
                check(False, f'{fn.__name__}: {type(e).__name__}: {e}')
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
