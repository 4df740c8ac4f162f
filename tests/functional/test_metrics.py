"""The Prometheus endpoint (-metrics tcp:HOST:PORT) as a monitoring system
uses it: scraped over HTTP on loopback, checked by `promtool check
metrics`, scraped by a real Prometheus server, with bad requests answered
400/404/405 with a body that says why, a silent client that does not
hold the main loop and is dropped at its deadline, a bounded number of
scrapers, HTTP/1.1 (libsoup, monitor/metrics-http.c), and
migration metrics taken from query-migrate.

promtool and prometheus come from Debian's `prometheus` package
(scripts/install-deps); the parts that need them are skipped with a
message where they are missing."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import json
import http.client

from restraint_vm import poll as poll_until
from restraint_vm import Checks, RestraintVM, require_kvm

CHECKS = Checks()
check = CHECKS.check
MAX_CLIENTS = 8         # METRICS_MAX_CLIENTS in include/monitor/metrics.h
VM_ARGS = ['-smp', '2', '-m', '528M', '-accel', 'kvm,dirty-ring-size=4096',
           '-workload', 'cpu=0,kind=write,size=256M',
           '-workload', 'cpu=1,kind=read,size=256M']



def poll(fn, timeout=30.0, step=0.1):
    """Bounded polling, with this test's step."""
    return poll_until(fn, timeout, step)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def raw_request(port, data, timeout=5.0):
    """Send @data, return everything the server answers before closing."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(data)
        out = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out.decode('utf-8', 'replace')
            out += chunk


def scrape(port, path='/metrics'):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}',
                                timeout=10) as r:
        return r.status, r.headers.get('Content-Type'), r.read().decode()


def parse_samples(text):
    """{(name, labels-text): value} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        key, value = line.rsplit(' ', 1)
        name, _, labels = key.partition('{')
        samples[(name, labels.rstrip('}'))] = float(value)
    return samples


def test_scrape_has_every_family_and_the_rates_agree(vm, port):
    def has_rates():
        s = parse_samples(scrape(port)[2])
        return ('restraint_vcpu_dirty_rate_bytes_per_second',
                'cpu="0"') in s and s
    samples = poll(has_rates)
    status, ctype, text = scrape(port)
    check(status == 200, 'GET /metrics: 200')
    check(ctype.startswith('text/plain; version=0.0.4'),
          f'content type {ctype}')
    samples = parse_samples(text)
    for family in ['restraint_vcpu_dirty_rate_bytes_per_second',
                   'restraint_vcpu_guest_write_rate_bytes_per_second',
                   'restraint_vcpu_guest_read_rate_bytes_per_second',
                   'restraint_vcpu_dirty_limit_bytes_per_second',
                   'restraint_vcpu_sleep_ratio',
                   'restraint_dirty_ring_harvested_entries_total',
                   'restraint_dirty_tracking_syncs_total',
                   'restraint_migration_status']:
        check(any(n == family for n, _ in samples), f'{family} is exported')
    for line in text.splitlines():
        if line.startswith('# TYPE '):
            name = line.split()[2]
            check(f'# HELP {name} ' in text, f'{name} has HELP')
    measured = samples[('restraint_vcpu_dirty_rate_bytes_per_second',
                        'cpu="0"')]
    guest = samples[('restraint_vcpu_guest_write_rate_bytes_per_second',
                     'cpu="0"')]
    check(guest > 0 and 0.5 * guest <= measured <= 1.5 * guest,
          f'vCPU 0: measured {measured / 2**20:.0f} MB/s, the guest wrote '
          f'{guest / 2**20:.0f} MB/s')
    reader = samples[('restraint_vcpu_dirty_rate_bytes_per_second',
                      'cpu="1"')]
    check(reader < 1 << 20, f'vCPU 1 (reader) dirties {reader:.0f} B/s')
    check(samples[('restraint_migration_status', 'status="none"')] == 1,
          'no migration yet: status none')

    vm.cmd('set-vcpu-dirty-limit', cpu_index=0, dirty_rate=50)
    limited = poll(lambda: parse_samples(scrape(port)[2]).get(
        ('restraint_vcpu_sleep_ratio', 'cpu="0"'), 0) > 0)
    samples = parse_samples(scrape(port)[2])
    check(samples[('restraint_vcpu_dirty_limit_bytes_per_second',
                   'cpu="0"')] == 50 * 2**20, 'the quota is exported')
    check(bool(limited), 'the limited vCPU sleeps a share of its time')
    vm.cmd('cancel-vcpu-dirty-limit', cpu_index=0)


def test_promtool_accepts_the_output(vm, port):
    promtool = shutil.which('promtool')
    if not promtool:
        CHECKS.skip('promtool check: promtool is not installed (Debian '
                    'package prometheus, scripts/install-deps)')
        return
    text = scrape(port)[2]
    r = subprocess.run([promtool, 'check', 'metrics'], input=text,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and not r.stdout.strip() and
          not r.stderr.strip(),
          f'promtool check metrics: rc {r.returncode} {r.stdout}{r.stderr}')


def test_bad_requests_get_http_errors(vm, port):
    check(raw_request(port, b'garbage\r\n\r\n').startswith(
        'HTTP/1.0 400 '), 'a malformed request: 400')
    check(raw_request(port, b'GET /nope HTTP/1.0\r\n\r\n').startswith(
        'HTTP/1.0 404 '), 'another path: 404')
    check(raw_request(port, b'POST /metrics HTTP/1.0\r\n\r\n').startswith(
        'HTTP/1.0 405 '), 'POST: 405')
    check(raw_request(port, b'GET /metrics HTTP/1.0\r\n' +
                      b'X: ' + b'a' * 10000 + b'\r\n\r\n').startswith(
        'HTTP/1.0 400 '), 'a huge request head: 400')
    head = raw_request(port, b'HEAD /metrics HTTP/1.0\r\n\r\n')
    check(head.startswith('HTTP/1.0 200 ') and head.endswith('\r\n\r\n'),
          'HEAD: 200 without a body')
    check(vm.cmd('query-status')['running'], 'the VM runs on')


def test_silent_and_too_many_clients_do_not_block(vm, port):
    idle = [socket.create_connection(('127.0.0.1', port), timeout=5)
            for _ in range(MAX_CLIENTS)]
    try:
        time.sleep(0.3)
        extra = raw_request(port, b'GET /metrics HTTP/1.0\r\n\r\n')
        check(extra.startswith('HTTP/1.0 503 '),
              f'{MAX_CLIENTS} silent clients: one more is told 503')
        check(vm.cmd('query-status')['running'],
              'QMP answers while clients hold the endpoint')
    finally:
        for s in idle:
            s.close()
    status = poll(lambda: scrape(port)[0] == 200, timeout=10)
    check(bool(status), 'once they go, scrapes are served again')


def test_errors_explain_and_http11_is_served(vm, port):
    for request, text in [
            (b'GET /nope HTTP/1.0\r\n\r\n', 'the metrics are at /metrics'),
            (b'PUT /metrics HTTP/1.0\r\n\r\n', 'only GET and HEAD'),
            (b'GET /metrics HTTP/1.0\r\nX: ' + b'a' * 10000 + b'\r\n\r\n',
             'request head too long')]:
        answer = raw_request(port, request)
        check(text in answer, f'{request[:16]!r}...: the body says "{text}"')
    # HTTP/1.1 as Prometheus sends it: answered, and told the connection
    # closes (one request per connection), so the next scrape reconnects.
    for _ in range(2):
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        try:
            conn.request('GET', '/metrics')
            r = conn.getresponse()
            r.read()
            check(r.status == 200 and r.version == 11 and r.will_close,
                  f'HTTP/1.1: 200, Connection: close '
                  f'({r.status} {r.getheader("Connection")})')
        finally:
            conn.close()


def test_a_silent_client_is_dropped(vm, port):
    """The request deadline (METRICS_REQUEST_TIMEOUT_S, 5 s) ends a
    connection that never sends its request; we only wait for it, up to
    a bound well above it."""
    with socket.create_connection(('127.0.0.1', port), timeout=60) as s:
        try:
            closed = s.recv(1) == b''
        except (ConnectionResetError, socket.timeout):
            closed = False
    check(closed, 'a client that sends nothing is closed by the server')
    check(scrape(port)[0] == 200, 'and scrapes are served after it')


def test_a_real_prometheus_scrapes_it(vm, port):
    prometheus = shutil.which('prometheus')
    if not prometheus:
        CHECKS.skip('Prometheus scrape: prometheus is not installed '
                    '(Debian package prometheus, scripts/install-deps)')
        return
    web_port = free_tcp_port()
    with tempfile.TemporaryDirectory(prefix='restraint-prom-') as tmp:
        config = os.path.join(tmp, 'prometheus.yml')
        with open(config, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n'
                    'scrape_configs:\n  - job_name: restraint\n'
                    f'    static_configs:\n      - targets: '
                    f'["127.0.0.1:{port}"]\n')
        log = open(os.path.join(tmp, 'prometheus.log'), 'wb')
        proc = subprocess.Popen(
            [prometheus, f'--config.file={config}',
             f'--storage.tsdb.path={tmp}/data',
             f'--web.listen-address=127.0.0.1:{web_port}'],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            def query():
                if proc.poll() is not None:
                    return 'exited'
                q = urllib.parse.quote(
                    'restraint_vcpu_guest_write_rate_bytes_per_second')
                try:
                    with urllib.request.urlopen(
                            f'http://127.0.0.1:{web_port}/api/v1/query?'
                            f'query={q}', timeout=5) as r:
                        data = json.load(r)
                except (urllib.error.URLError, OSError):
                    return None
                return data['data']['result'] or None
            result = poll(query, timeout=90, step=0.5)
            if result == 'exited':
                with open(os.path.join(tmp, 'prometheus.log')) as f:
                    tail = f.read()[-2000:]
                CHECKS.skip(f'Prometheus scrape: the server exited:\n{tail}')
                return
            check(bool(result) and len(result) == 2,
                  f'Prometheus scraped both vCPUs: {result}')
            with urllib.request.urlopen(
                    f'http://127.0.0.1:{web_port}/api/v1/targets',
                    timeout=5) as r:
                targets = json.load(r)['data']['activeTargets']
            check(any(t['health'] == 'up' for t in targets),
                  'the target is up in Prometheus')
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def test_migration_metrics_come_from_query_migrate(tmp):
    port = free_tcp_port()
    sock = os.path.join(tmp, 'mig.sock')
    small = ['-smp', '2', '-m', '80M', '-accel', 'kvm,dirty-ring-size=4096']
    dst = RestraintVM(small + ['-incoming', 'unix:' + sock], name='dst')
    src = RestraintVM(small + ['-metrics', f'tcp:127.0.0.1:{port}'],
                      name='src')
    with dst, src:
        src.cmd('migrate-set-parameters', max_bandwidth=0)
        src.cmd('migrate', uri='unix:' + sock)
        done = poll(lambda: src.cmd('query-migrate').get('status') in
                    ('completed', 'failed'), timeout=60)
        info = src.cmd('query-migrate')
        samples = parse_samples(scrape(port)[2])
        check(bool(done) and samples.get(
            ('restraint_migration_status',
             f'status="{info["status"]}"')) == 1,
            f'migration status {info["status"]} is exported')
        check(samples.get(('restraint_migration_transferred_bytes_total',
                           '')) == info['ram']['transferred'],
              'transferred bytes match query-migrate')
        check(('restraint_migration_remaining_bytes', '') in samples,
              'remaining bytes are exported')


def main():
    require_kvm()
    port = free_tcp_port()
    with RestraintVM(VM_ARGS + ['-metrics', f'tcp:127.0.0.1:{port}']) as vm:
        for t in [test_scrape_has_every_family_and_the_rates_agree,
                  test_promtool_accepts_the_output,
                  test_bad_requests_get_http_errors,
                  test_silent_and_too_many_clients_do_not_block,
                  test_errors_explain_and_http11_is_served,
                  test_a_silent_client_is_dropped,
                  test_a_real_prometheus_scrapes_it]:
            print(f'# {t.__name__}', flush=True)
            t(vm, port)
    print('# test_migration_metrics_come_from_query_migrate', flush=True)
    with tempfile.TemporaryDirectory(prefix='restraint-metrics-') as tmp:
        test_migration_metrics_come_from_query_migrate(tmp)
    print('# -metrics refuses bad addresses', flush=True)
    for bad in ['tcp:127.0.0.1', 'tcp:127.0.0.1:0', 'tcp:not-an-ip:9100',
                'unix:/tmp/x']:
        r = subprocess.run([os.environ['RESTRAINT'], '-metrics', bad],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and '-metrics' in r.stderr,
              f'-metrics {bad}: refused ({r.stderr.strip()})')
    sys.exit(CHECKS.exit_code())


if __name__ == '__main__':
    main()
