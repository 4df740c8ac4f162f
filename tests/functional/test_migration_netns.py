"""Migration across two network namespaces joined by a veth pair, with
tc limiting the link: the stream crosses a real (virtual) network whose
bandwidth is below what restraint would otherwise send.

Both hosts are the test's own: namespaces it creates and removes, with
link-local addresses on a veth pair that leads nowhere else.  Skipped
(exit 77) where KVM, root, `ip netns` or `tc` is missing."""

import os
import shutil
import sys
import time

from netns_link import netns_down, sh, veth_pair_up
from restraint_vm import Checks, RestraintVM, poll, require_kvm

CHECKS = Checks()
check = CHECKS.check
SKIP = 77
SRC_ADDR, DST_ADDR = '169.254.77.1', '169.254.77.2'
PORT = 4444
# The link: 200 Mbit/s = 23.8 MiB/s, well below restraint's own speed.
LINK_RATE_MBIT = 200
LINK_MIB_PER_S = LINK_RATE_MBIT * 1e6 / 8 / (1 << 20)


class NetnsVM(RestraintVM):
    """A restraint process inside a network namespace."""

    def __init__(self, netns, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.netns = netns

    def command_line(self):
        return ['ip', 'netns', 'exec', self.netns] + super().command_line()


class Link:
    """Two namespaces joined by veth, the source side shaped by tbf."""

    def __init__(self):
        tag = str(os.getpid())
        self.src, self.dst = f'rs-src-{tag}', f'rs-dst-{tag}'
        self.vsrc, self.vdst = f'rsv{tag}a'[:15], f'rsv{tag}b'[:15]

    def up(self):
        why = veth_pair_up(self.src, self.dst, self.vsrc, self.vdst,
                           SRC_ADDR, DST_ADDR)
        if why:
            return why
        r = sh('tc', '-n', self.src, 'qdisc', 'add', 'dev', self.vsrc, 'root',
               'tbf', 'rate', f'{LINK_RATE_MBIT}mbit', 'burst', '256kb',
               'latency', '50ms')
        if r.returncode != 0:
            return f'tc qdisc add tbf: {r.stderr.strip()}'
        return None

    def down(self):
        netns_down(self.src, self.dst)


def status(vm):
    return vm.cmd('query-migrate').get('status')


def main():
    require_kvm()
    if os.geteuid() != 0 or not shutil.which('ip') or not shutil.which('tc'):
        print('SKIP: needs root, ip and tc to make network namespaces')
        return SKIP
    link = Link()
    why = link.up()
    if why:
        link.down()
        print(f'SKIP: cannot build the test network here ({why})')
        return SKIP
    try:
        args = ['-smp', '2', '-m', '272M', '-accel', 'kvm,dirty-ring-size=4096']
        src = NetnsVM(link.src, args + ['-workload', 'cpu=0,kind=stamp,size=64M',
                                        '-workload', 'cpu=1,kind=read'],
                      name='src')
        dst = NetnsVM(link.dst, args + ['-S', '-incoming',
                                        f'tcp:{DST_ADDR}:{PORT}'], name='dst')
        with src, dst:
            check(sh('ip', '-n', link.src, 'route', 'get', DST_ADDR)
                  .returncode == 0, 'the source namespace routes to the '
                  'destination over the veth pair')
            # The writer outruns the link: restraint's adaptive policy
            # holds it (and only it) so that the migration converges.
            src.cmd('migrate-set-capabilities', capabilities=[
                {'capability': 'x-adaptive-converge', 'state': True}])
            src.cmd('migrate-set-parameters', max_bandwidth=0)
            t0 = time.monotonic()
            src.cmd('migrate', uri=f'tcp:{DST_ADDR}:{PORT}')
            end = poll(lambda: status(src) in ('completed', 'failed',
                                               'cancelled') and status(src),
                       120)
            elapsed = time.monotonic() - t0
            info = src.cmd('query-migrate')
            check(end == 'completed', f'migration across namespaces: {end} '
                  f"{info.get('error-desc', '')}")
            mib = info['ram']['transferred'] / (1 << 20)
            speed = mib / elapsed
            check(speed <= LINK_MIB_PER_S * 1.10,
                  f'the stream respects the shaped link: {mib:.0f} MiB in '
                  f'{elapsed:.1f} s = {speed:.1f} MiB/s (link '
                  f'{LINK_MIB_PER_S:.1f} MiB/s)')
            poll(lambda: status(dst) == 'completed', 20)
            hs, hd = src.cmd('x-query-ram-hash'), dst.cmd('x-query-ram-hash')
            check(hs['hash'] == hd['hash'],
                  "the destination's RAM equals the source's at pause")
            stamp = dst.cmd('x-check-stamp', cpu_index=0)
            check(stamp['bad-pages'] == 0,
                  f'every stamp page checks out on the destination {stamp}')
    finally:
        link.down()
    return CHECKS.exit_code()


if __name__ == '__main__':
    sys.exit(main())
