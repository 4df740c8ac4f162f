"""Start restraint and talk to it over QMP (Python standard library only).

    from restraint_vm import RestraintVM, require_kvm

    require_kvm()                       # exits 77 (skip) without KVM
    vm = RestraintVM(args=['-smp', '2', '-m', '256M'])
    vm.launch()                         # greeting read, capabilities negotiated
    vm.cmd('query-status')              # -> {'running': True, 'status': 'running'}
    vm.cmd('x-set-workload', cpu_index=1, kind='write')  # '_' -> '-'
    vm.qmp('cont')                      # the whole reply, errors included
    vm.qmp_raw(b'{"execute": "stop"}')  # raw bytes in, next reply out
    vm.hmp('info status')               # 'VM status: running\\r\\n'
    vm.events()                         # events seen so far (and forgets them)
    vm.event_wait('STOP', timeout=5)
    vm.shutdown()                       # quit, wait, kill on timeout

The binary is $RESTRAINT.  Each VM gets its own temporary directory with
the QMP socket and the process's stdout/stderr (vm.output()).
"""

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12
SKIP_EXIT_CODE = 77


def require_kvm():
    """Exit 77 (the test harness's skip) when /dev/kvm is missing or unusable."""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        print(f'SKIP: /dev/kvm is not usable ({e.strerror}); '
              'this test needs KVM', flush=True)
        sys.exit(SKIP_EXIT_CODE)
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        print(f'SKIP: KVM_GET_API_VERSION failed ({e.strerror})', flush=True)
        sys.exit(SKIP_EXIT_CODE)
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        print(f'SKIP: KVM API version {version}, need {KVM_API_VERSION}',
              flush=True)
        sys.exit(SKIP_EXIT_CODE)


def timing_distorted():
    """Why timing-dependent figures cannot be asserted in this build, or
    None: ThreadSanitizer slows every host thread several times (meson
    passes the build's b_sanitize as $RESTRAINT_SANITIZE)."""
    if 'thread' in os.environ.get('RESTRAINT_SANITIZE', ''):
        return ('this is a ThreadSanitizer build, whose host threads run '
                'several times slower')
    return None


class QMPError(Exception):
    """An error reply: .reply is the whole reply, .klass and .desc its parts."""

    def __init__(self, reply):
        self.reply = reply
        err = reply.get('error', {})
        self.klass = err.get('class')
        self.desc = err.get('desc')
        super().__init__(f"{self.klass}: {self.desc}")


class QMPClient:
    """One QMP connection: greeting, negotiation, commands, events."""

    def __init__(self, address, timeout=10.0):
        """@address: a UNIX socket path, or a (host, port) pair."""
        self.timeout = timeout
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self._buf = b''
        self._events = []
        self._next_id = 0
        self.greeting = None

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    # -- raw messages
    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_message(self, timeout=None):
        """The next JSON object from the server (event or reply)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b'\n' not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError('no message from the QMP server')
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('QMP server closed the connection')
            self._buf += chunk
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line.decode('utf-8'))

    def recv_reply(self, timeout=None):
        """The next reply, keeping the events that come before it."""
        while True:
            msg = self.recv_message(timeout)
            if 'event' in msg:
                self._events.append(msg)
            else:
                return msg

    # -- protocol
    def handshake(self, negotiate=True):
        self.greeting = self.recv_message()
        if 'QMP' not in self.greeting:
            raise ConnectionError(f'bad greeting {self.greeting!r}')
        if negotiate:
            self.cmd('qmp_capabilities')
        return self.greeting

    def qmp(self, name, args=None, msg_id=None, **kwargs):
        """Run a command; return the whole reply (error or return)."""
        request = {'execute': name}
        if args is None and kwargs:
            args = {k.replace('_', '-'): v for k, v in kwargs.items()}
        if args is not None:
            request['arguments'] = args
        if msg_id is None:
            self._next_id += 1
            msg_id = f'py-{self._next_id}'
        request['id'] = msg_id
        self.send_raw(json.dumps(request).encode() + b'\n')
        reply = self.recv_reply()
        if reply.get('id') != msg_id:
            raise ConnectionError(f'reply {reply!r} does not echo id {msg_id!r}')
        return reply

    def cmd(self, name, args=None, **kwargs):
        """Run a command; return its 'return' value, raise QMPError on error."""
        reply = self.qmp(name, args, **kwargs)
        if 'error' in reply:
            raise QMPError(reply)
        return reply['return']

    def qmp_raw(self, data, timeout=None):
        """Send raw bytes; return the next reply (events are kept)."""
        self.send_raw(data)
        return self.recv_reply(timeout)

    def events(self, clear=True):
        """Events received so far (also drains what is already readable)."""
        self._drain()
        events = list(self._events)
        if clear:
            self._events.clear()
        return events

    def event_wait(self, name, timeout=10.0):
        """Wait for event @name (an earlier one counts); return it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev['event'] == name:
                    return self._events.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f'no {name} event within {timeout} s')
            msg = self.recv_message(remaining)
            if 'event' in msg:
                self._events.append(msg)

    def _drain(self):
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                self._buf += chunk
        finally:
            self.sock.settimeout(self.timeout)
        while b'\n' in self._buf:
            line, self._buf = self._buf.split(b'\n', 1)
            msg = json.loads(line.decode('utf-8'))
            if 'event' in msg:
                self._events.append(msg)


class RestraintVM:
    """A restraint process with a QMP connection."""

    def __init__(self, args=None, binary=None, name='vm', launch_timeout=20.0):
        self.binary = binary or os.environ.get('RESTRAINT')
        if not self.binary:
            raise RuntimeError('set RESTRAINT to the restraint binary')
        self.args = list(args or [])
        self.name = name
        self.launch_timeout = launch_timeout
        self.tmpdir = tempfile.mkdtemp(prefix=f'restraint-{name}-')
        self.qmp_path = os.path.join(self.tmpdir, 'qmp.sock')
        self.log_path = os.path.join(self.tmpdir, 'output.log')
        self.proc = None
        self.client = None
        self.exitcode = None
        self._final_output = ''

    require_kvm = staticmethod(require_kvm)

    def __enter__(self):
        self.launch()
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def command_line(self):
        return [self.binary] + self.args + \
            ['-qmp', f'unix:{self.qmp_path},server=on,wait=off']

    def launch(self):
        """Start the process, connect, read the greeting, negotiate."""
        log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + self.launch_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f'{self.name} exited with {self.proc.returncode} '
                                   f'before QMP was up:\n{self.output()}')
            try:
                self.client = QMPClient(self.qmp_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    self._kill()
                    raise TimeoutError(f'{self.name}: no QMP socket after '
                                       f'{self.launch_timeout} s:\n{self.output()}')
                time.sleep(0.05)
        self.client.handshake()
        return self

    def connect(self, negotiate=True):
        """A further QMP client of this VM (the caller closes it)."""
        client = QMPClient(self.qmp_path)
        client.handshake(negotiate)
        return client

    # The first client's methods, for short tests.
    def cmd(self, name, args=None, **kwargs):
        return self.client.cmd(name, args, **kwargs)

    def qmp(self, name, args=None, **kwargs):
        return self.client.qmp(name, args, **kwargs)

    def qmp_raw(self, data, timeout=None):
        return self.client.qmp_raw(data, timeout)

    def events(self, clear=True):
        return self.client.events(clear)

    def event_wait(self, name, timeout=10.0):
        return self.client.event_wait(name, timeout)

    def hmp(self, line):
        """Run an HMP command line through human-monitor-command."""
        return self.client.cmd('human-monitor-command',
                               {'command-line': line})

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        """Everything the process printed so far (kept after shutdown)."""
        if self.proc is None and self.exitcode is not None:
            return self._final_output
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def shutdown(self, timeout=10.0):
        """quit over QMP, wait for the exit, kill on timeout; exit code."""
        if self.proc is None:
            return self.exitcode
        if self.proc.poll() is None and self.client is not None:
            try:
                self.client.cmd('quit')
            except (OSError, ConnectionError, TimeoutError, QMPError):
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
        if self.client:
            self.client.close()
            self.client = None
        self.exitcode = self.proc.returncode
        self._final_output = self.output()
        self.proc = None
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        return self.exitcode

    def _kill(self):
        try:
            self.proc.send_signal(signal.SIGKILL)
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise
        self.proc.wait()


class Checks:
    """The verdicts of a test script: check() prints each one, skip() says
    which could not run and why; exit_code() is 1 when any failed, else
    77 (the harness's skip) when any could not run, else 0.

        checks = Checks()
        checks.check(vm.is_running(), 'the VMM is up')
        if not shutil.which('gnuplot'):
            checks.skip('plots: gnuplot is not installed')
        sys.exit(checks.exit_code())
    """

    def __init__(self):
        self.failures = []
        self.skipped = []

    def check(self, cond, what):
        print(('ok   ' if cond else 'FAIL ') + what, flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def skip(self, why):
        print('SKIP ' + why, flush=True)
        self.skipped.append(why)

    def exit_code(self):
        print(f'{len(self.failures)} failure(s), {len(self.skipped)} '
              'check(s) could not run', flush=True)
        if self.failures:
            return 1
        if self.skipped:
            print('SKIP: not every check could run: ' +
                  '; '.join(self.skipped), flush=True)
            return SKIP_EXIT_CODE
        return 0


def vcpu_runqueue_wait_ns(vm, cpus):
    """Nanoseconds each of @cpus' threads has waited for a host CPU
    (/proc schedstat's second field); 0 where the kernel does not say."""
    threads = {c['cpu-index']: c['thread-id']
               for c in vm.cmd('query-cpus-fast')}
    waited = {}
    for cpu in cpus:
        try:
            with open(f'/proc/{vm.proc.pid}/task/{threads[cpu]}/schedstat') as f:
                waited[cpu] = int(f.read().split()[1])
        except (OSError, KeyError, ValueError, IndexError):
            waited[cpu] = 0
    return waited


def measure_unstarved(vm, cpus, measure, seconds, good, attempts=3,
                      max_starved_share=0.10):
    """measure(seconds) until good(value), or until a window in which none
    of @cpus waited for a host CPU more than @max_starved_share of it: a
    value that misses only because a busy host starved the vCPUs is not
    the code's fault, so it is measured again, at most @attempts times.
    Returns (the last value, True if every window missed and was starved:
    then the value cannot be judged)."""
    for _ in range(attempts):
        w0 = vcpu_runqueue_wait_ns(vm, cpus)
        value = measure(seconds)
        w1 = vcpu_runqueue_wait_ns(vm, cpus)
        starved = any((w1[c] - w0[c]) / (seconds * 1e9) > max_starved_share
                      for c in cpus)
        if good(value) or not starved:
            return value, False
    return value, True


def poll(fn, timeout=30.0, step=0.02):
    """Bounded polling: fn() until it returns something truthy or the
    deadline passes; returns fn()'s last value.  Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(step)
    return fn()


MIGRATION_TERMINAL = ('completed', 'failed', 'cancelled')


def migrate_and_wait(src, uri, timeout=60.0, step=0.05):
    """Migrate @src to @uri at full bandwidth; its final status, or the
    last one seen when @timeout passed."""
    src.cmd('migrate-set-parameters', max_bandwidth=0)
    src.cmd('migrate', uri=uri)

    def finished():
        status = src.cmd('query-migrate').get('status')
        return status in MIGRATION_TERMINAL and status
    return poll(finished, timeout, step) or \
        src.cmd('query-migrate').get('status')
