"""One chaos cycle: a migration from the long-lived source to a fresh
destination under a scenario's clients and fault, then the checks of
its outcome (checks.py), a retry after a failure, and the throttle
check."""

import os
import random
import signal
import threading
import time

from restraint_vm import QMPError, poll
from clients import ChaosClient
from faults import CutProxy, DST_ADDR, SilentPeer, StalledListener
from faults import signal_thread, thread_ids
from invariants import TERMINAL
from checks import CycleChecks, writer_rate
from vms import ChaosVM

CANCEL_WAIT_S = 20.0        # a cancelled migration ends within this
RETRY_S = 60.0              # a failed destination accepts again within


# Faults in place before the migration starts (the others strike at a
# random point of it).
SETUP_FAULTS = ('netem', 'silent-dest', 'silent-conn', 'cancel')


class Cycle(CycleChecks):
    def __init__(self, run, sc):
        self.run = run
        self.sc = sc
        self.tally = run.tally
        self.src = run.source
        self.dst = None
        self.proxy = None
        self.silent = None
        self.clients = []
        self.shared = {}
        self.tmp = run.tmpdir

    # -- setting up
    def launch_dest(self, netns=None):
        extra = ['-incoming', 'defer'] + (['-S'] if self.sc.dest_S else [])
        dst = ChaosVM('dest', self.tally, f'dst{self.sc.cycle}', extra,
                      netns=netns, binary=self.run.binary)
        dst.launch()
        dst.set_caps(events=True)
        return dst

    def listen(self, dst, tag):
        path = os.path.join(self.tmp, f'{tag}-{self.sc.cycle}.sock')
        self.dst_uri = 'unix:' + path
        dst.cmd('migrate-incoming', uri=self.dst_uri)
        return path

    def prepare(self):
        """Destination and path for the scenario; the source's URI."""
        uri = self.prepare_path()
        if self.sc.fault in SETUP_FAULTS:
            self.tally.fault(self.sc.fault)
        return uri

    def prepare_path(self):
        sc, link = self.sc, self.run.link
        if sc.fault == 'netem' and not (link and link.impair(sc.rng)):
            self.tally.skip_fault(self.run.link_skip or
                                  'netem: tc cannot shape the veth link')
            sc.fault = 'none'
        if sc.fault == 'netem':
            self.dst = self.launch_dest(netns=link.dst)
            port = 4400 + sc.cycle % 1000
            self.dst_uri = f'tcp:{DST_ADDR}:{port}'
            self.dst.cmd('migrate-incoming', uri=self.dst_uri)
            self.proxy = CutProxy((DST_ADDR, port), netns=link.src)
            return self.proxy.uri
        self.dst = self.launch_dest()
        if sc.fault == 'cut':
            port = self.run.free_port()
            self.dst_uri = f'tcp:127.0.0.1:{port}'
            self.dst.cmd('migrate-incoming', uri=self.dst_uri)
            self.proxy = CutProxy(('127.0.0.1', port))
            return self.proxy.uri
        path = self.listen(self.dst, 'in')
        if sc.fault == 'silent-conn':
            self.silent = SilentPeer(path)
            self.silent.connect()
            return 'unix:' + path
        if sc.fault == 'term-connecting':
            self.silent = StalledListener()
            return self.silent.uri
        if sc.fault == 'silent-dest':
            self.silent = SilentPeer(os.path.join(self.tmp, f'silent-'
                                                  f'{sc.cycle}.sock'),
                                     drain=sc.rng.random() < 0.7)
            return self.silent.listen()
        return 'unix:' + path

    def configure_source(self, max_bandwidth, pause_before_switchover):
        sc, src = self.sc, self.src
        src.set_caps(events=True, auto_converge=sc.policy == 'auto-converge',
                     dirty_limit=sc.policy == 'dirty-limit',
                     x_adaptive_converge=sc.policy == 'x-adaptive-converge',
                     pause_before_switchover=pause_before_switchover)
        src.cmd('migrate-set-parameters', max_bandwidth=max_bandwidth,
                downtime_limit=300, vcpu_dirty_limit=50,
                x_vcpu_dirty_limit_period=1000, max_cpu_throttle=99,
                cpu_throttle_initial=20, cpu_throttle_increment=10,
                throttle_trigger_threshold=50)

    def start_clients(self):
        sc = self.sc
        seeds = iter(sc.client_seeds)
        for kind in sc.clients:
            self.clients.append(ChaosClient(self.src, kind,
                                            random.Random(next(seeds)),
                                            self.tally, self.shared))
        for _ in range(sc.dest_clients):
            self.clients.append(ChaosClient(self.dst, 'dest',
                                            random.Random(next(seeds)),
                                            self.tally, self.shared))
        for c in self.clients:
            c.start()

    def stop_clients(self):
        for c in self.clients:
            c.stop()
        for c in self.clients:
            c.join(30)
            if c.is_alive():
                self.tally.violation(f'client {c.name} did not finish its '
                                     'command', 'hangs')
        self.clients = []

    # -- the fault
    def inject(self, done):
        sc = self.sc
        if done.wait(sc.fault_delay_s):
            return
        fault, dst = sc.fault, self.dst
        if fault == 'none' or fault in SETUP_FAULTS:
            return                  # none, or in place from the start
        self.tally.fault(fault)
        if fault == 'kill-dest':
            dst.kill9()
        elif fault == 'stop-dest':
            dst.freeze()
            done.wait(sc.freeze_s)
            dst.thaw()
        elif fault == 'cut':
            self.proxy.cut()
        elif fault == 'quit-dest':
            self.quit(dst)
        elif fault == 'quit-source':
            self.quit(self.src)
        elif fault == 'term-connecting':
            self.terminate_migration_thread()

    def terminate_migration_thread(self):
        """SIGTERM delivered to the migration thread, as the kernel may
        deliver a process's SIGTERM to any thread that does not block
        it; restraint must then quit cleanly."""
        src = self.src
        tids = poll(lambda: thread_ids(src.pid, 'migration'), 5)
        src.expected_exit = True
        if tids:
            signal_thread(src.pid, tids[0], signal.SIGTERM)
        else:
            src.signal(signal.SIGTERM)

    @staticmethod
    def quit(vm):
        """quit on a connection of its own (the driver's is busy)."""
        vm.expected_exit = True
        try:
            client = vm.connect()
            client.cmd('quit')
            client.close()
        except (OSError, ConnectionError, TimeoutError, QMPError):
            pass

    # -- the cycle
    def migrate(self, uri, deadline_s):
        """Start a migration and see it end; its final status."""
        src = self.src
        src.cmd('migrate', uri=uri)
        end = src.wait_status(TERMINAL, deadline_s)
        if not end:
            src.cmd('migrate_cancel')
            end = src.wait_status(TERMINAL, CANCEL_WAIT_S)
        if not end:
            self.tally.violation(f'source: migration stuck in '
                                 f'{src.status()} {CANCEL_WAIT_S:.0f} s '
                                 'after migrate_cancel', 'hangs')
        else:
            self.count(end)
        return end

    def run_cycle(self):
        sc, src = self.sc, self.src
        if src.runstate() != 'running':
            src.cmd('cont')
        self.baseline = writer_rate(src)
        uri = self.prepare()
        self.configure_source(sc.max_bandwidth, sc.pause_before_switchover)
        if sc.paused_source:
            src.cmd('stop')
        self.start_clients()
        done = threading.Event()
        injector = threading.Thread(target=self.inject, args=(done,),
                                    daemon=True)
        injector.start()
        try:
            end = self.migrate(uri, sc.deadline_s)
        finally:
            done.set()
            injector.join(10)
            self.stop_clients()
            self.dst.thaw()
            if self.proxy:
                self.proxy.close()
            if self.run.link:
                self.run.link.clear()
        if self.src.expected_exit:
            return 'source quit'
        if end == 'completed':
            self.check_completed(None if sc.stopcont else
                                ('paused' if sc.paused_source else 'running'))
        elif end:
            self.check_source_runs_on()
            self.retry()
        self.check_no_throttle()
        return end

    def count(self, end):
        row = {'completed': 'migrations completed',
               'cancelled': 'migrations cancelled'}.get(end,
                                                        'migrations failed')
        self.tally.add(row)

    def retry(self):
        """After a failure the same destination (if alive) or a new one
        takes a clean migration."""
        self.tally.add('retries')
        dst = self.dst
        if self.silent and self.sc.fault == 'silent-dest':
            self.silent.close()
            self.silent = None
        if dst.crashed() is not None or dst.expected_exit or dst.netns:
            self.run.end_dest(dst)
            self.dst = dst = self.launch_dest()
        deadline = time.monotonic() + RETRY_S
        attempt, end = 0, None
        self.configure_source(0, False)
        while time.monotonic() < deadline:
            status = dst.status()
            if status == 'active':
                time.sleep(0.5)     # still busy with what failed
                continue
            attempt += 1
            if status in ('none', 'failed'):
                self.listen(dst, f'retry{attempt}')
            end = self.migrate(self.dst_uri, self.sc.deadline_s)
            if end == 'completed':
                break
            self.check_source_runs_on()
        if end != 'completed':
            why = self.src.cmd('query-migrate').get('error-desc', '')
            self.tally.violation(f'no retry succeeded within {RETRY_S:.0f} s '
                                 f'({attempt} attempts; destination '
                                 f'{dst.status()}, source says {why!r})')
            return
        self.check_completed('running')

    def cleanup(self):
        for c in self.clients:
            c.stop()
        if self.proxy:
            self.proxy.close()
        if self.silent:
            self.silent.close()
        if self.dst:
            self.run.end_dest(self.dst)
            self.dst = None
