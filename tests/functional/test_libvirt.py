"""Real libvirt drives restraint: libvirtd 9.0 and virsh, no shim.

Two privileged libvirtd daemons, each started by this test in its own
mount namespace (private /run/libvirt, /var/lib/libvirt,
/var/cache/libvirt, /var/log/libvirt, /etc/libvirt, bound from a
temporary directory, and /etc/passwd and /etc/group copies that add the
libvirt-qemu user and the kvm group libvirtd looks up), different
host_uuid values, the same network namespace.  A domain whose
<emulator> is build/restraint, with the dirty ring and a writing vCPU:

  virsh define, start; domdirtyrate-calc in each mode and domstats
  --dirtyrate against the guest's own count of pages written;
  qemu-monitor-command set-vcpu-dirty-limit holds; migrate --live to the
  second daemon and back (--p2p --auto-converge); a paused migration
  keeps RAM identical; save and restore; shutdown; libvirtd restarted
  while the domain runs (it reconnects); destroy.

Every virsh command and its answer is printed: `make libvirt-demo` runs
this script to show the story.  Skips (77) without root, KVM, libvirtd,
virsh or unshare.  The only change outside the temporary directory: the
four empty mount points above are created when missing and removed at
the end.
"""

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from restraint_vm import Checks, poll, require_kvm, SKIP_EXIT_CODE

RESTRAINT = os.path.abspath(os.environ['RESTRAINT'])
LIBVIRTD = '/usr/sbin/libvirtd'
MOUNT_POINTS = {'run': '/run/libvirt', 'lib': '/var/lib/libvirt',
                'cache': '/var/cache/libvirt', 'log': '/var/log/libvirt',
                'etc': '/etc/libvirt'}
DOMAIN = 'rs1'
WRITER_CPU = 1
# A rate the guest keeps even on a busy host (a faster writer falls
# behind its target there, and its bursts make short windows disagree).
WRITER_RATE_MBPS = 16
# domstats reports whole MB/s: a difference of less than that is none.
DOMSTATS_RESOLUTION_MBPS = 1
# Larger than what the writer covers in a measurement (16 MB/s * 2 s),
# so every page it writes in the window is a distinct dirty page; within
# the writer's share of RAM (half of 512 MiB less the system area).
WRITER_REGION = '192M'
LIMIT_MBPS = 4
# Two seconds: the guest paces its writes in bursts; a longer window
# evens them out against the ground truth read around it.
CALC_SECONDS = 2
TOLERANCE = 0.10            # the bar: within 10% of ground truth
MIB = 1 << 20
PAGE = 4096
CHECKS = Checks()
check = CHECKS.check

DOMAIN_XML = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='restraint'>hvm</type>
  </os>
  <features>
    <kvm>
      <dirty-ring state='on' size='4096'/>
    </kvm>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-workload'/>
    <qemu:arg value='cpu={cpu},kind=write,size={region},rate={rate}'/>
  </qemu:commandline>
</domain>
"""

QEMU_CONF = """# restraint's libvirt test: root runs the domains, nothing confined
user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
remember_owner = 0
"""


def skip(why):
    print(f'SKIP: {why}', flush=True)
    sys.exit(SKIP_EXIT_CODE)


def require_libvirt():
    if os.geteuid() != 0:
        skip('libvirtd must run as root here (its system instance)')
    for tool in (LIBVIRTD, shutil.which('virsh'), shutil.which('unshare')):
        if not tool or not os.access(tool, os.X_OK):
            skip('libvirtd, virsh or unshare is missing (scripts/install-deps '
                 'check installs libvirt-daemon, libvirt-clients and '
                 'libvirt-daemon-driver-qemu)')
    probe = subprocess.run(['unshare', '-m', 'true'], capture_output=True)
    if probe.returncode != 0:
        skip('cannot create a mount namespace (unshare -m): '
             f'{probe.stderr.decode().strip()}')


def with_entries(path, entries):
    """The text of /etc/passwd or /etc/group plus each (name, line) whose
    name it lacks."""
    with open(path) as f:
        text = f.read()
    if not text.endswith('\n'):
        text += '\n'
    for name, line in entries:
        if not re.search(rf'^{re.escape(name)}:', text, re.M):
            text += line + '\n'
    return text


class Libvirtd:
    """A libvirtd of our own, in its own mount namespace."""

    def __init__(self, tmp, index):
        self.index = index
        self.dir = os.path.join(tmp, f'libvirtd{index}')
        for sub in MOUNT_POINTS:
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.conf = os.path.join(self.dir, 'libvirtd.conf')
        self.log = os.path.join(self.dir, 'libvirtd.log')
        with open(self.conf, 'w') as f:
            f.write('unix_sock_group = "root"\n'
                    'unix_sock_rw_perms = "0770"\n'
                    'auth_unix_ro = "none"\n'
                    'auth_unix_rw = "none"\n'
                    'log_filters = "1:qemu 3:util 4:rpc 4:object 4:json"\n'
                    f'log_outputs = "1:file:{self.log}"\n'
                    # libvirt refuses to migrate between equal host UUIDs.
                    f'host_uuid = "11111111-2222-3333-4444-5555555555{index:02d}"\n')
        with open(os.path.join(self.dir, 'etc', 'qemu.conf'), 'w') as f:
            f.write(QEMU_CONF)
        # What Debian's libvirt-daemon-system would create.
        with open(os.path.join(self.dir, 'passwd'), 'w') as f:
            f.write(with_entries('/etc/passwd', [(
                'libvirt-qemu', 'libvirt-qemu:x:64055:64055:libvirt:'
                '/nonexistent:/usr/sbin/nologin')]))
        with open(os.path.join(self.dir, 'group'), 'w') as f:
            f.write(with_entries('/etc/group', [
                ('kvm', 'kvm:x:64054:'),
                ('libvirt-qemu', 'libvirt-qemu:x:64055:')]))
        self.socket = os.path.join(self.dir, 'run', 'libvirt-sock')
        self.uri = f'qemu+unix:///system?socket={self.socket}'
        self.proc = None

    def start(self):
        binds = ''.join(f'mount --bind {os.path.join(self.dir, sub)} {mp}\n'
                        for sub, mp in MOUNT_POINTS.items())
        binds += (f'mount --bind {self.dir}/passwd /etc/passwd\n'
                  f'mount --bind {self.dir}/group /etc/group\n')
        # The default pidfile, /run/libvirtd.pid, is outside the binds.
        script = (f'set -e\n{binds}exec {LIBVIRTD} -f {self.conf} '
                  f'--pid-file {self.dir}/libvirtd.pid\n')
        self.out = open(os.path.join(self.dir, 'stdout'), 'a')
        # unshare and sh exec: self.proc.pid is libvirtd's PID.
        self.proc = subprocess.Popen(
            ['unshare', '-m', '--propagation', 'private', '--', '/bin/sh',
             '-c', script], stdout=self.out, stderr=self.out,
            start_new_session=True)
        up = poll(lambda: self.proc.poll() is not None or
                  (os.path.exists(self.socket) and
                   virsh(self, 'list', quiet=True).returncode == 0),
                  timeout=60, step=0.2)
        if not up or self.proc.poll() is not None:
            with open(self.out.name) as f:
                said = f.read()[-500:].strip()
            raise RuntimeError(f'libvirtd {self.index} did not start: '
                               f'{said}')
        print(f'# libvirtd {self.index}: PID {self.proc.pid}, {self.uri}',
              flush=True)

    def stop(self):
        """SIGTERM by PID; domains keep running, as with systemctl stop."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def virsh(daemon, *args, quiet=False, timeout=120):
    cmd = ['virsh', '-c', daemon.uri] + list(args)
    done = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout)
    if not quiet:
        shown = ' '.join(a if ' ' not in a and '{' not in a else f"'{a}'"
                         for a in args)
        print(f'$ virsh -c <libvirtd {daemon.index}> {shown}', flush=True)
        for line in (done.stdout + done.stderr).strip().splitlines()[:12]:
            print(f'  {line}', flush=True)
    return done


def qmp(daemon, name, args=None):
    """QMP through virsh qemu-monitor-command (libvirt passes it on)."""
    request = {'execute': name}
    if args:
        request['arguments'] = args
    done = virsh(daemon, 'qemu-monitor-command', DOMAIN, json.dumps(request),
                 quiet=name in ('x-query-workload', 'query-dirty-rate'))
    if done.returncode != 0:
        raise RuntimeError(f'{name}: {done.stderr.strip()}')
    return json.loads(done.stdout)['return']


def domstate(daemon):
    done = virsh(daemon, 'domstate', DOMAIN, quiet=True)
    return done.stdout.strip() if done.returncode == 0 else 'undefined'


def pages_written(daemon):
    """The writer's own count of pages written, and when it was read."""
    for w in qmp(daemon, 'x-query-workload'):
        if w['cpu-index'] == WRITER_CPU:
            return w['pages-written'], time.monotonic()
    raise RuntimeError('no writer vCPU')


def domstats_dirtyrate(daemon):
    done = virsh(daemon, 'domstats', DOMAIN, '--dirtyrate', quiet=True)
    return dict(re.findall(r'^\s+dirtyrate\.([\w.]+)=(\S+)$', done.stdout,
                           re.M))


def measure(daemon, mode):
    """domdirtyrate-calc in @mode, domstats --dirtyrate when it is done,
    and the guest's own rate over the same time."""
    before = domstats_dirtyrate(daemon).get('calc_start_time')
    pages0, t0 = pages_written(daemon)
    done = virsh(daemon, 'domdirtyrate-calc', DOMAIN, '--seconds',
                 str(CALC_SECONDS), '--mode', mode)
    if done.returncode != 0:
        return None, None, {}
    stats = poll(lambda: (lambda s: s if s.get('calc_status') == '2' and
                          s.get('calc_start_time') != before and
                          s.get('calc_mode') == mode else None)(
                              domstats_dirtyrate(daemon)),
                 timeout=60, step=0.2)
    pages1, t1 = pages_written(daemon)
    if not stats:
        return None, None, {}
    virsh(daemon, 'domstats', DOMAIN, '--dirtyrate')
    truth = (pages1 - pages0) * PAGE / MIB / (t1 - t0)
    return int(stats['megabytes_per_second']), truth, stats


def test_dirty_rates(lv):
    for mode in ('dirty-ring', 'dirty-bitmap', 'page-sampling'):
        rate, truth, stats = measure(lv, mode)
        if rate is None:
            check(False, f'domdirtyrate-calc --mode {mode} and domstats')
            continue
        err = abs(rate - truth) / truth if truth else 1.0
        # page-sampling is QEMU's estimate from 512 sampled pages per GiB
        # (256 pages of this 512 MiB guest): only a plausibility check.
        bar = TOLERANCE if mode != 'page-sampling' else 0.5
        check(abs(rate - truth) <= max(bar * truth, DOMSTATS_RESOLUTION_MBPS),
              f'{mode}: domstats --dirtyrate {rate} MB/s, the guest wrote '
              f'{truth:.1f} MB/s ({err:.0%} off, bar {bar:.0%})')
        if mode == 'dirty-ring':
            vcpu = int(stats.get(f'vcpu.{WRITER_CPU}.megabytes_per_second',
                                 -1))
            check(abs(vcpu - truth) <= max(1, TOLERANCE * truth),
                  f'dirty-ring: vcpu.{WRITER_CPU} {vcpu} MB/s')


def test_dirty_limit(lv):
    qmp(lv, 'set-vcpu-dirty-limit', {'cpu-index': WRITER_CPU,
                                     'dirty-rate': LIMIT_MBPS})
    limits = qmp(lv, 'query-vcpu-dirty-limit')
    check(any(l['cpu-index'] == WRITER_CPU and l['limit-rate'] == LIMIT_MBPS
              for l in limits), f'query-vcpu-dirty-limit lists the quota')
    # Let the controller settle (bounded), then compare over a window.
    poll(lambda: (measure(lv, 'dirty-ring')[1] or 1e9) <= LIMIT_MBPS * 1.2,
         timeout=30, step=0.5)
    rate, truth, _ = measure(lv, 'dirty-ring')
    check(truth is not None and truth <= LIMIT_MBPS * (1 + TOLERANCE) and
          rate <= LIMIT_MBPS * (1 + TOLERANCE) + 1,
          f'set-vcpu-dirty-limit {LIMIT_MBPS} MB/s holds: the guest wrote '
          f'{truth:.1f} MB/s, domstats says {rate} MB/s')
    qmp(lv, 'cancel-vcpu-dirty-limit', {'cpu-index': WRITER_CPU})


def migrate(src, dst, *flags):
    port = free_port()
    done = virsh(src, 'migrate', '--live', *flags, DOMAIN, dst.uri,
                 '--migrateuri', f'tcp:127.0.0.1:{port}', timeout=300)
    return done.returncode == 0


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_migrations(lv1, lv2):
    ok = migrate(lv1, lv2)
    check(ok and domstate(lv2) == 'running' and
          domstate(lv1) in ('shut off', 'undefined'),
          'migrate --live to the second libvirtd: running there')
    pages0, _ = pages_written(lv2)
    check(poll(lambda: pages_written(lv2)[0] > pages0, timeout=30),
          'the writer keeps writing on the destination')
    ok = migrate(lv2, lv1, '--p2p', '--auto-converge')
    check(ok and domstate(lv1) == 'running',
          'migrate --live --p2p --auto-converge back: running again')
    # Paused, the guest's RAM cannot change: it must arrive identical.
    virsh(lv1, 'suspend', DOMAIN)
    before = qmp(lv1, 'x-query-ram-hash')['hash']
    ok = migrate(lv1, lv2)
    after = qmp(lv2, 'x-query-ram-hash')['hash'] if ok else None
    check(ok and before == after, f'a paused guest arrives with identical '
          f'RAM ({before} -> {after})')
    virsh(lv2, 'resume', DOMAIN)
    check(domstate(lv2) == 'running', 'resumed on the destination')
    ok = migrate(lv2, lv1)
    check(ok and domstate(lv1) == 'running', 'and back to the first')


def test_save_restore(lv1):
    """virsh save writes the stream to a pipe or file given with getfd;
    virsh restore feeds it back on an inherited descriptor (fd:N)."""
    saved = os.path.join(lv1.dir, f'{DOMAIN}.save')
    virsh(lv1, 'suspend', DOMAIN)
    before = qmp(lv1, 'x-query-ram-hash')['hash']
    ok = virsh(lv1, 'save', DOMAIN, saved).returncode == 0
    check(ok and domstate(lv1) == 'shut off', 'virsh save: shut off')
    ok = virsh(lv1, 'restore', saved, '--paused').returncode == 0
    after = qmp(lv1, 'x-query-ram-hash')['hash'] if ok else None
    check(ok and before == after, f'virsh restore --paused: the saved RAM '
          f'({before} -> {after})')
    virsh(lv1, 'resume', DOMAIN)
    pages0, _ = pages_written(lv1)
    check(poll(lambda: pages_written(lv1)[0] > pages0, timeout=30),
          'resumed: the writer writes again')


def test_shutdown_restart_destroy(lv1):
    virsh(lv1, 'shutdown', DOMAIN)
    check(poll(lambda: domstate(lv1) == 'shut off', timeout=60),
          'virsh shutdown: shut off')
    virsh(lv1, 'start', DOMAIN)
    pid = int(open(os.path.join(lv1.dir, 'run', 'qemu',
                                f'{DOMAIN}.pid')).read())
    lv1.stop()
    check(os.path.exists(f'/proc/{pid}'), f'libvirtd stopped: restraint '
          f'(PID {pid}) keeps running')
    lv1.start()
    check(domstate(lv1) == 'running', 'libvirtd restarted: it reconnected '
          'and the domain is running')
    check(qmp(lv1, 'query-status')['status'] == 'running',
          'the monitor answers after the reconnect')
    virsh(lv1, 'destroy', DOMAIN)
    check(domstate(lv1) == 'shut off' and
          poll(lambda: not os.path.exists(f'/proc/{pid}'), timeout=30),
          'virsh destroy: shut off, the process is gone')


def exclusive(timeout_s=900):
    """One run at a time: a run removes the mount points it created."""
    lock = open(os.path.join(tempfile.gettempdir(),
                             'restraint-test-libvirt.lock'), 'w')
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                skip('another run of this test still holds '
                     f'{lock.name} after {timeout_s} s')
            time.sleep(1)


def kill_leftover_domains(daemon):
    """Last resort: a domain its libvirtd could not destroy."""
    run_qemu = os.path.join(daemon.dir, 'run', 'qemu')
    for name in os.listdir(run_qemu) if os.path.isdir(run_qemu) else ():
        if not name.endswith('.pid'):
            continue
        try:
            pid = int(open(os.path.join(run_qemu, name)).read())
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                ours = RESTRAINT.encode() in f.read()
        except (OSError, ValueError):
            continue
        if ours:
            os.kill(pid, signal.SIGKILL)


def make_mount_points():
    created = []
    for mp in MOUNT_POINTS.values():
        if not os.path.isdir(mp):
            os.makedirs(mp)
            created.append(mp)
    return created


def run(tmp, daemons):
    lv1, lv2 = Libvirtd(tmp, 1), Libvirtd(tmp, 2)
    daemons += [lv1, lv2]
    try:
        lv1.start()
        lv2.start()
    except RuntimeError as e:
        check(False, str(e))
        return
    xml = os.path.join(tmp, f'{DOMAIN}.xml')
    with open(xml, 'w') as f:
        f.write(DOMAIN_XML.format(name=DOMAIN, emulator=RESTRAINT,
                                  cpu=WRITER_CPU, region=WRITER_REGION,
                                  rate=WRITER_RATE_MBPS))
    # Defined on the first only: a migration brings it (transient) to the
    # second, with the same UUID.
    virsh(lv1, 'define', xml)
    if not check(virsh(lv1, 'start', DOMAIN).returncode == 0 and
                 domstate(lv1) == 'running', 'virsh start: running'):
        return
    for fn, args in ((test_dirty_rates, (lv1,)), (test_dirty_limit, (lv1,)),
                     (test_migrations, (lv1, lv2)),
                     (test_save_restore, (lv1,)),
                     (test_shutdown_restart_destroy, (lv1,))):
        print(f'# {fn.__name__}', flush=True)
        try:
            fn(*args)
        except Exception as e:  # one case's crash fails only it
            check(False, f'{fn.__name__}: {type(e).__name__}: {e}')


def main():
    require_kvm()
    require_libvirt()
    lock = exclusive()      # held until exit
    # meson's timeout sends SIGTERM: clean up on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    created = make_mount_points()
    tmp = tempfile.mkdtemp(prefix='restraint-libvirt-')
    daemons = []
    try:
        run(tmp, daemons)
    finally:
        # Domains first (through their libvirtd), then the daemons, then
        # whatever survived them; the files last.
        for lv in daemons:
            if lv.proc and lv.proc.poll() is None and \
                    domstate(lv) == 'running':
                virsh(lv, 'destroy', DOMAIN, quiet=True)
            lv.stop()
            kill_leftover_domains(lv)
        shutil.rmtree(tmp, ignore_errors=True)
        for mp in reversed(created):
            try:
                os.rmdir(mp)
            except OSError as e:
                print(f'# could not remove {mp}: {e}', flush=True)
        lock.close()
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
