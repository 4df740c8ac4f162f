"""Faults the chaos driver injects into a migration's path.

CutProxy: a TCP proxy on loopback between the source and the
destination whose connections can be cut in the middle of the stream.
SilentPeer: a listener that accepts and never answers (draining what it
gets or not reading at all), and a connection that never speaks.
NetnsLink: two network namespaces the driver creates, joined by a veth
pair, whose link tc degrades (netem loss/delay/reorder; where the
kernel has no netem, tbf's queue limit drops and delays instead).
"""

import ctypes
import os
import re
import shutil
import socket
import threading

from netns_link import netns_down, sh, veth_pair_up

CLONE_NEWNET = 0x40000000
PUMP_BYTES = 1 << 16
SRC_ADDR, DST_ADDR = '169.254.79.1', '169.254.79.2'


def enter_netns(name):
    """Move the calling thread (only it) into network namespace @name."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f'/run/netns/{name}', os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f'setns {name}: {os.strerror(err)}')
    finally:
        os.close(fd)


def _pump(src, dst):
    try:
        while True:
            data = src.recv(PUMP_BYTES)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class CutProxy:
    """127.0.0.1:port -> @upstream (a (host, port) pair, made from
    namespace @netns when given); cut() closes every connection."""

    def __init__(self, upstream, netns=None):
        self.upstream = upstream
        self.netns = netns
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(('127.0.0.1', 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.errors = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self):
        return f'tcp:127.0.0.1:{self.port}'

    def _accept(self):
        while True:
            try:
                down, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(down,),
                             daemon=True).start()

    def _connect(self, down):
        try:
            if self.netns:
                enter_netns(self.netns)     # this short-lived thread only
            up = socket.create_connection(self.upstream, timeout=10)
            up.settimeout(None)
        except OSError as e:
            self.errors.append(str(e))
            down.close()
            return
        with self.lock:
            self.conns += [down, up]
        threading.Thread(target=_pump, args=(down, up), daemon=True).start()
        _pump(up, down)

    def cut(self):
        """Close every connection at once, in both directions."""
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b'\x01\x00\x00\x00\x00\x00\x00\x00')
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        return len(conns)

    def close(self):
        self.srv.close()
        self.cut()


class SilentPeer:
    """A destination that accepts and never answers (listen=True), or a
    connection to a real destination that never speaks."""

    def __init__(self, path, drain=True):
        self.path = path
        self.drain = drain
        self.socks = []
        self.srv = None

    def listen(self):
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(self.path)
        self.srv.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()
        return 'unix:' + self.path

    def _accept(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            self.socks.append(conn)
            if self.drain:
                threading.Thread(target=self._read, args=(conn,),
                                 daemon=True).start()

    @staticmethod
    def _read(conn):
        try:
            while conn.recv(PUMP_BYTES):
                pass
        except OSError:
            pass

    def connect(self):
        """Open a connection to @path and say nothing on it."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.path)
        self.socks.append(s)

    def close(self):
        if self.srv:
            self.srv.close()
        for s in self.socks:
            s.close()
        self.socks = []
        try:
            os.unlink(self.path)
        except OSError:
            pass


class StalledListener:
    """A TCP listener whose accept queue is full: a connect to it stays
    in progress (its SYN is dropped) until the connector gives up."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(('127.0.0.1', 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.fillers = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(('127.0.0.1', self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)

    @property
    def uri(self):
        return f'tcp:127.0.0.1:{self.port}'

    def close(self):
        for s in self.fillers + [self.srv]:
            s.close()


def thread_ids(pid, name):
    """The ids of process @pid's threads called @name."""
    tids = []
    try:
        for tid in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{tid}/comm') as f:
                if f.read().strip() == name:
                    tids.append(int(tid))
    except OSError:
        pass
    return tids


def signal_thread(pid, tid, sig):
    """tgkill(2): @sig to thread @tid of process @pid only."""
    libc = ctypes.CDLL(None, use_errno=True)
    sys_tgkill = 234            # x86-64
    return libc.syscall(sys_tgkill, pid, tid, sig) == 0


class NetnsLink:
    """Namespaces src and dst joined by veth; impair() degrades it."""

    def __init__(self):
        tag = str(os.getpid())
        self.src, self.dst = f'rc-src-{tag}', f'rc-dst-{tag}'
        self.vsrc, self.vdst = f'rcv{tag}a'[:15], f'rcv{tag}b'[:15]
        self.netem = False
        self.impaired = False

    def up(self):
        """None when the link is up, else why it cannot be."""
        if os.geteuid() != 0 or not shutil.which('ip') or \
                not shutil.which('tc'):
            return 'the netns fault needs root, ip and tc (iproute2)'
        self.remove_stale()
        why = veth_pair_up(self.src, self.dst, self.vsrc, self.vdst,
                           SRC_ADDR, DST_ADDR)
        if why:
            self.down()
            return f'cannot build the netns link: {why}'
        probe = sh('tc', '-n', self.src, 'qdisc', 'add', 'dev', self.vsrc,
                   'root', 'netem', 'delay', '1ms')
        self.netem = probe.returncode == 0
        sh('tc', '-n', self.src, 'qdisc', 'del', 'dev', self.vsrc, 'root')
        return None

    @staticmethod
    def remove_stale():
        """Namespaces left by a chaos run that was killed (its pid in the
        name is gone); nobody else's."""
        for line in sh('ip', 'netns', 'list').stdout.splitlines():
            m = re.match(r'rc-(src|dst)-(\d+)\b', line)
            if m and not os.path.exists(f'/proc/{m.group(2)}'):
                netns_down(m.group(0))

    def impair(self, rng):
        """Degrade both directions; return what was applied."""
        if self.netem:
            spec = ['netem', 'delay', f'{rng.randint(1, 30)}ms',
                    f'{rng.randint(0, 10)}ms',
                    'loss', f'{rng.choice([0.1, 0.5, 1, 3])}%',
                    'reorder', f'{rng.choice([0, 5, 25])}%', '50%']
        else:
            # tbf drops what exceeds its queue and delays the rest.
            spec = ['tbf', 'rate', f'{rng.choice([100, 200, 400])}mbit',
                    'burst', f'{rng.choice([8, 32])}kb',
                    'limit', f'{rng.choice([16, 64, 256])}kb']
        for ns, dev in ((self.src, self.vsrc), (self.dst, self.vdst)):
            r = sh('tc', '-n', ns, 'qdisc', 'replace', 'dev', dev, 'root',
                   *spec)
            if r.returncode != 0:
                return None
        self.impaired = True
        return ' '.join(spec)

    def clear(self):
        if self.impaired:
            for ns, dev in ((self.src, self.vsrc), (self.dst, self.vdst)):
                sh('tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'root')
            self.impaired = False

    def down(self):
        netns_down(self.src, self.dst)
