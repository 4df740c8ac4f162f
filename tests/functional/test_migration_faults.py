"""Faults around a migration, on real KVM: a connection that stays
silent or sends garbage is dropped and a real migration after it
completes with equal RAM; a destination that refuses the source's
stream (another -smp or -m, or a refusal instead of LOADED) has its
reason shown in the source's query-migrate error-desc; migrate-incoming
works after a failed incoming migration; SIGTERM reaching the migration
thread while its connect hangs ends the VMM cleanly."""

import ctypes
import os
import signal
import socket
import struct
import subprocess
import threading

from restraint_vm import Checks, RestraintVM
from test_migration import (MIB, REFUSED, TERMINAL, free_tcp_port, header,
                            poll, run, runstate, status, vm_args,
                            wait_status)

CHECKS = Checks()
check = CHECKS.check
# The destination's INCOMING_HEADER_TIMEOUT_MS, s (migration/incoming.c).
HEADER_TIMEOUT_S = 5
SYS_TGKILL = 234                # x86-64


def source(name='src'):
    """A guest that stamps 4 MiB and reads: at most 4 MiB is ever dirty,
    so it converges without a throttle even from a sanitizer build of
    restraint on a loaded host."""
    return RestraintVM(vm_args(['-workload', 'cpu=0,kind=stamp,size=4M',
                                '-workload', 'cpu=1,kind=read']),
                       name=name)


def migrate_and_compare(src, dst, uri, timeout=60.0):
    """A real migration to @dst (started with -S, so it stays as it
    arrived); True when it completed and both sides' RAM is equal."""
    src.cmd('migrate-set-parameters', max_bandwidth=0)
    src.cmd('migrate', uri=uri)
    end = wait_status(src, TERMINAL, timeout)
    desc = src.cmd('query-migrate').get('error-desc', '')
    check(end == 'completed', f'the real migration completes ({end} {desc})')
    if end != 'completed':
        return False
    check(poll(lambda: status(dst) == 'completed', 10) is True,
          'the destination completed too')
    same = src.cmd('x-query-ram-hash') == dst.cmd('x-query-ram-hash')
    check(same, "the destination's RAM equals the source's at switchover")
    stamp = dst.cmd('x-check-stamp', cpu_index=0)
    check(stamp['bad-pages'] == 0, f'every stamp page checks out {stamp}')
    return same


def test_a_silent_connection_does_not_wedge_the_destination(tmp):
    port = free_tcp_port()
    uri = f'tcp:127.0.0.1:{port}'
    dst = RestraintVM(vm_args(['-S', '-incoming', uri]), name='dst')
    with source() as src, dst:
        silent = socket.create_connection(('127.0.0.1', port))
        try:
            migrate_and_compare(src, dst, uri, timeout=HEADER_TIMEOUT_S + 60)
            check('no migration stream header: timed out' in dst.output(),
                  'the destination says it dropped the silent connection')
        finally:
            silent.close()


def test_garbage_then_a_real_migration(tmp):
    path = os.path.join(tmp, 'in.sock')
    dst = RestraintVM(vm_args(['-S', '-incoming', 'unix:' + path]),
                      name='dst')
    with source() as src, dst:
        poll(lambda: os.path.exists(path), 10)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.sendall(b'GET / HTTP/1.1\r\nHost: restraint\r\n\r\n' * 4)
            s.settimeout(30)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
        check(poll(lambda: 'not a restraint migration stream' in
                   dst.output(), 10) is True,
              'the garbage is dropped with its reason logged')
        check(status(dst) == 'setup', 'and the destination still listens')
        migrate_and_compare(src, dst, 'unix:' + path)


def refused_by(tmp, dst_args, reason):
    path = os.path.join(tmp, 'in.sock')
    dst = RestraintVM(dst_args + ['-incoming', 'unix:' + path], name='dst')
    with source() as src, dst:
        src.cmd('migrate', uri='unix:' + path)
        end = wait_status(src, TERMINAL, 60)
        desc = src.cmd('query-migrate').get('error-desc', '')
        check(end == 'failed' and 'the destination refused' in desc and
              reason in desc, f"the source shows the destination's reason: "
              f'{end} {desc!r}')
        check(runstate(src) == 'running', 'the source runs on')
        check(status(dst) == 'setup' and runstate(dst) == 'inmigrate',
              'the destination still waits for a migration it can take')


def test_a_destination_with_other_vcpus_says_why(tmp):
    refused_by(tmp, ['-smp', '3', '-m', '80M',
                     '-accel', 'kvm,dirty-ring-size=4096'],
               'stream has 2 vCPUs, this VM has 3')


def test_a_destination_with_other_ram_says_why(tmp):
    refused_by(tmp, ['-smp', '2', '-m', '64M',
                     '-accel', 'kvm,dirty-ring-size=4096'],
               'does not match this VM')


def test_migrate_incoming_after_a_failed_incoming(tmp):
    dst = RestraintVM(vm_args(['-S', '-incoming', 'defer']), name='dst')
    with source() as src, dst:
        first = os.path.join(tmp, 'first.sock')
        dst.cmd('migrate-incoming', uri='unix:' + first)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(first)
            # A good header, then a page record cut short.
            s.sendall(header() + struct.pack('<Q', (16 * MIB) | 2) +
                      bytes(100))
            s.shutdown(socket.SHUT_WR)
            check(wait_status(dst, ('failed',), 30) == 'failed',
                  'the cut stream fails the incoming migration')
        second = os.path.join(tmp, 'second.sock')
        dst.cmd('migrate-incoming', uri='unix:' + second)
        check(status(dst) == 'setup', 'migrate-incoming listens again')
        migrate_and_compare(src, dst, 'unix:' + second)


def refusing_destination(path, reason, may_answer):
    """Take a whole stream on @path and, once @may_answer is set and the
    source went quiet (it sent END), answer a refusal of @reason."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(0.5)
        while True:
            try:
                if not conn.recv(1 << 20):
                    break
            except TimeoutError:
                if may_answer.is_set():
                    text = reason.encode()
                    conn.sendall(struct.pack('<QQ', REFUSED, len(text)) +
                                 text + bytes(-len(text) % 8))
                    break
        conn.close()
        srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_a_refusal_instead_of_loaded_reaches_the_source(tmp):
    path = os.path.join(tmp, 'refuser.sock')
    reason = 'vCPU 1 state: the destination kernel lacks a capability'
    may_answer = threading.Event()
    server = refusing_destination(path, reason, may_answer)
    with source() as src:
        src.cmd('migrate-set-parameters', max_bandwidth=0)
        src.cmd('migrate', uri='unix:' + path)
        end = wait_status(src, ('device',) + TERMINAL, 60)
        check(end == 'device', f'the source reaches the switchover ({end})')
        may_answer.set()
        end = wait_status(src, TERMINAL, 60)
        desc = src.cmd('query-migrate').get('error-desc', '')
        check(end == 'failed' and
              desc == f'the destination refused the migration: {reason}',
              f'the refusal is the error-desc: {end} {desc!r}')
        check(runstate(src) == 'running', 'and the source runs on')
    server.join(10)


def full_listener():
    """A backlog-0 listener whose queue is full (Linux queues one
    connection, then drops SYNs): a connect to it hangs.  Returns the
    listener, the sockets that filled it and its port."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(0)
    port, fillers = srv.getsockname()[1], []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        fillers.append(s)
        if s.connect_ex(('127.0.0.1', port)) == 0:
            continue
        s.settimeout(0.2)
        try:
            socket.socket.connect(s, ('127.0.0.1', port))
        except (TimeoutError, BlockingIOError, OSError):
            return srv, fillers, port
    return srv, fillers, None


def thread_id(vm, name):
    task = f'/proc/{vm.proc.pid}/task'
    for tid in os.listdir(task):
        try:
            with open(f'{task}/{tid}/comm') as f:
                if f.read().strip() == name:
                    return int(tid)
        except OSError:
            pass
    return None


def test_sigterm_during_a_hanging_connect_exits_cleanly(tmp):
    """SIGTERM (or SIGINT, SIGHUP) may be delivered to any thread that
    does not block it, the migration thread among them: its poll() ends
    with EINTR, then the shutdown cancels the connect."""
    srv, fillers, port = full_listener()
    try:
        if port is None:
            check(False, 'could not fill a listen queue on loopback')
            return
        src = source()
        with src:
            src.cmd('migrate', uri=f'tcp:127.0.0.1:{port}')
            tid = poll(lambda: thread_id(src, 'migration'), 10)
            check(status(src) == 'setup', 'the connect is held by the queue')
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall(SYS_TGKILL, src.proc.pid, tid, signal.SIGTERM)
            try:
                code = src.proc.wait(30)
            except subprocess.TimeoutExpired:
                code = 'none within 30 s'
            check(code == 0, f'the VMM exits cleanly (exit status {code})')
            check('Assertion' not in src.output(), 'without an assertion')
    finally:
        for s in fillers + [srv]:
            s.close()


def main():
    run([
        test_a_silent_connection_does_not_wedge_the_destination,
        test_garbage_then_a_real_migration,
        test_a_destination_with_other_vcpus_says_why,
        test_a_destination_with_other_ram_says_why,
        test_migrate_incoming_after_a_failed_incoming,
        test_sigterm_during_a_hanging_connect_exits_cleanly,
        test_a_refusal_instead_of_loaded_reaches_the_source,
    ], CHECKS)


if __name__ == '__main__':
    main()
