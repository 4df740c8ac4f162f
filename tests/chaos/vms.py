"""The chaos driver's restraint processes: a RestraintVM (from
tests/functional) with an event observer, a role, an optional network
namespace, and a record of whether its exit was asked for."""

import os
import signal
import threading
import time

from restraint_vm import QMPClient, QMPError, RestraintVM, poll
from invariants import EventLog, resources

MIB = 1 << 20
RAM = '80M'
CMD_TIMEOUT_S = 20.0        # every command is answered within this
STAMP_CPU, WRITER_CPU = 0, 1


def vm_args(extra=()):
    return ['-smp', '2', '-m', RAM, '-accel', 'kvm,dirty-ring-size=4096',
            '-workload', f'cpu={STAMP_CPU},kind=stamp,size=16M',
            '-workload', f'cpu={WRITER_CPU},kind=write,size=24M'] + \
        list(extra)


class Hang(Exception):
    """A command was not answered within CMD_TIMEOUT_S."""


class ChaosVM(RestraintVM):
    """One restraint process of the chaos run."""

    launched = []               # every one, so that none outlives the run

    def __init__(self, role, tally, name, extra=(), netns=None, binary=None):
        super().__init__(vm_args(extra), binary=binary, name=name,
                         launch_timeout=60.0)
        self.role = role
        self.tally = tally
        self.netns = netns
        self.expected_exit = False
        self.frozen = False         # SIGSTOPped by a fault
        self.retired = False        # to be replaced before the next cycle
        self.log = None
        self._observer = None
        self._stop_observer = threading.Event()

    def command_line(self):
        line = super().command_line()
        if self.netns:
            return ['ip', 'netns', 'exec', self.netns] + line
        return line

    def launch(self):
        ChaosVM.launched.append(self)
        super().launch()
        self.client.timeout = CMD_TIMEOUT_S
        self.pid = self.proc.pid
        obs = QMPClient(self.qmp_path, timeout=CMD_TIMEOUT_S)
        obs.handshake()
        status = obs.cmd('query-migrate').get('status')
        running = obs.cmd('query-status')['running']
        obs.events()
        self.log = EventLog(self.name, self.role, status, running,
                            self.tally.violation)
        self._observer = threading.Thread(target=self._observe, args=(obs,),
                                          daemon=True)
        self._observer.start()
        return self

    def _observe(self, client):
        while not self._stop_observer.is_set():
            try:
                msg = client.recv_message(0.5)
            except TimeoutError:
                continue
            except (OSError, ConnectionError, ValueError):
                break
            if 'event' in msg:
                self.log.feed(msg)
        client.close()

    # -- commands, with the hang bound
    def qmp(self, name, args=None, **kwargs):
        try:
            reply = self.client.qmp(name, args, **kwargs)
        except TimeoutError:
            raise Hang(f'{self.name}: {name} not answered within '
                       f'{CMD_TIMEOUT_S:.0f} s') from None
        self.client._events.clear()
        return reply

    def cmd(self, name, args=None, **kwargs):
        reply = self.qmp(name, args, **kwargs)
        if 'error' in reply:
            raise QMPError(reply)
        return reply['return']

    def status(self):
        return self.cmd('query-migrate').get('status', 'none')

    def runstate(self):
        return self.cmd('query-status')['status']

    def workload(self):
        return self.cmd('x-query-workload')

    def written(self, cpu=WRITER_CPU):
        return self.workload()[cpu]['pages-written']

    def moving(self, window_s=0.3):
        """Whether the guest's own counters advance (ground truth of
        whether its vCPUs run, whatever query-status says)."""
        a = self.workload()
        time.sleep(window_s)
        b = self.workload()
        return any(x['pages-written'] != y['pages-written']
                   for x, y in zip(a, b))

    def set_caps(self, **caps):
        self.cmd('migrate-set-capabilities',
                 capabilities=[{'capability': k.replace('_', '-'),
                                'state': v} for k, v in caps.items()])

    def wait_status(self, wanted, timeout):
        return poll(lambda: self.status() in wanted and self.status(),
                    timeout, 0.05)

    def resources(self):
        return resources(self.pid)

    # -- faults and exits
    def signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def kill9(self):
        self.expected_exit = True
        self.frozen = False
        self.signal(signal.SIGKILL)

    def freeze(self):
        self.frozen = True
        self.signal(signal.SIGSTOP)

    def thaw(self):
        if self.frozen:
            self.signal(signal.SIGCONT)
            self.frozen = False

    @classmethod
    def kill_all(cls):
        """SIGKILL whatever is still running (a driver that failed)."""
        for vm in cls.launched:
            if vm.proc is not None and vm.proc.poll() is None:
                vm.thaw()
                vm._kill()

    def crashed(self):
        """The exit code if the process ended without being asked to."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return None if self.expected_exit else self.proc.returncode

    def stop(self):
        """End the process (quit, then kill) and its observer."""
        self.thaw()
        self.expected_exit = True
        self._stop_observer.set()
        try:
            self.shutdown(timeout=15)
        except (OSError, ConnectionError, Hang):
            self._kill()
        if self._observer:
            self._observer.join(5)
        return self.exitcode
