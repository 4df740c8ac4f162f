"""The live view as `make run` shows it: on a terminal (a pseudo-terminal
here) the per-vCPU lines are drawn in lines reserved at the bottom of the
screen while HMP on stdio keeps working; `x_live off` gives the screen
back; off a terminal it is quiet unless asked for with -x-live on."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

from restraint_vm import Checks, RestraintVM, require_kvm

CHECKS = Checks()
check = CHECKS.check
ROWS, COLS = 30, 100
VM_ARGS = ['-smp', '2', '-m', '296M', '-accel', 'kvm,dirty-ring-size=4096',
           '-workload', 'cpu=0,kind=write,size=128M',
           '-workload', 'cpu=1,kind=read,size=128M']
HEADING = 'vCPU  workload  measured MB/s'



class PtyVM:
    """restraint with -monitor stdio on a pseudo-terminal."""

    def __init__(self, args):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack('HHHH', ROWS, COLS, 0, 0))
        env = dict(os.environ, TERM='xterm')
        self.proc = subprocess.Popen(
            [os.environ['RESTRAINT']] + args + ['-monitor', 'stdio'],
            stdin=slave, stdout=slave, stderr=slave, env=env,
            close_fds=True)
        os.close(slave)
        self.out = b''

    def read_until(self, needle, timeout=15.0):
        """Bounded: read until @needle (bytes) has appeared after the
        current mark, or the deadline; return whether it did."""
        deadline = time.monotonic() + timeout
        start = self.mark
        while needle not in self.out[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return needle in self.out[start:]
                if not chunk:
                    return needle in self.out[start:]
                self.out += chunk
        return True

    mark = 0

    def set_mark(self):
        self.mark = len(self.out)

    def send(self, line):
        self.set_mark()
        os.write(self.master, line.encode() + b'\n')

    def close(self):
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # What it printed last (the terminal reset) is still to be read.
        while select.select([self.master], [], [], 0.5)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.out += chunk
        os.close(self.master)
        return self.proc.returncode


def test_on_a_terminal_the_view_is_drawn_and_hmp_works():
    vm = PtyVM(VM_ARGS)
    try:
        check(vm.read_until(b'(restraint) '), 'the HMP prompt appears')
        check(vm.read_until(HEADING.encode()), 'the view\'s heading appears')
        check(b'\x1b[1;%dr' % (ROWS - 5) in vm.out,
              'a scrolling region leaves 5 lines for the view (2 vCPUs)')
        check(vm.read_until(b'   0  write'), 'a line for vCPU 0, the writer')
        check(vm.read_until(b'   1  read'), 'a line for vCPU 1, the reader')
        check(vm.read_until(b'migration: none'), 'the migration line')
        vm.send('info status')
        check(vm.read_until(b'VM status: running'), 'HMP answers')
        vm.send('set_vcpu_dirty_limit 80 0')
        check(vm.read_until(b'          80'), 'the quota shows in the view')
        vm.send('x_live')
        check(vm.read_until(b'live view: on'), 'x_live reports on')
        vm.send('x_live off')
        check(vm.read_until(b'\x1b[r'), 'x_live off resets the region')
        vm.set_mark()
        time.sleep(2.5)
        vm.read_until(b'never', timeout=0.5)
        check(HEADING.encode() not in vm.out[vm.mark:],
              'no view lines after x_live off')
        vm.send('x_live on')
        check(vm.read_until(HEADING.encode()), 'x_live on brings it back')
        vm.send('quit')
    finally:
        code = vm.close()
    check(code == 0, f'quit ends restraint with 0 (got {code})')
    check(vm.out.rfind(b'\x1b[r') > vm.out.rfind(b'\x1b[1;'),
          'the terminal is given back at exit')


def test_off_a_terminal_it_is_quiet_unless_asked():
    with RestraintVM(VM_ARGS) as vm:
        time.sleep(2.5)
        check(vm.hmp('x_live').strip() == 'live view: off',
              'stdout is a file: the view is off')
    check('\x1b' not in vm.output() and HEADING not in vm.output(),
          'nothing is drawn on a file')
    with RestraintVM(VM_ARGS + ['-x-live', 'on']) as vm:
        deadline = time.monotonic() + 15
        while HEADING not in vm.output() and time.monotonic() < deadline:
            time.sleep(0.2)
    check(HEADING in vm.output() and '\x1b' not in vm.output(),
          '-x-live on prints plain lines to a file')
    r = subprocess.run([os.environ['RESTRAINT'], '-x-live', 'maybe'],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and 'must be on, off or auto' in r.stderr,
          f'-x-live maybe is refused ({r.stderr.strip()})')


def main():
    require_kvm()
    test_on_a_terminal_the_view_is_drawn_and_hmp_works()
    test_off_a_terminal_it_is_quiet_unless_asked()
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
