"""Metrics endpoint benchmark: one restraint process (-metrics, no
workload), CONNECTIONS scrapes each on a new connection (as urllib and
curl do), then the same over HTTP/1.1 with a persistent client.  Prints
the median and 90th percentile time of a scrape and the growth of the
process's resident memory over the run: a server that never frees a
connection (libsoup 3.2.3's soup_server_listen_socket(), ~340 bytes
each) shows here.  Compare binaries with RESTRAINT=...  Never fails on
a time.  BENCH_QUICK=1: 1000 connections (default 6000)."""

import http.client
import os
import socket
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'functional'))
from restraint_vm import RestraintVM, require_kvm  # noqa: E402

QUICK = os.environ.get('BENCH_QUICK') == '1'
CONNECTIONS = 1000 if QUICK else 6000
WARMUP = 200


def free_tcp_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def scrape_new_connection(port):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics',
                                timeout=30) as r:
        r.read()


def run(label, pid, fn):
    for _ in range(WARMUP):
        fn()
    before = rss_kib(pid)
    times = []
    for _ in range(CONNECTIONS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    print(f'{label:<28} {statistics.median(times) * 1e3:7.2f} '
          f'{times[int(len(times) * 0.9)] * 1e3:7.2f} '
          f'{rss_kib(pid) - before:+9d}', flush=True)


def main():
    require_kvm()
    port = free_tcp_port()
    with RestraintVM(['-m', '64M', '-metrics', f'tcp:127.0.0.1:{port}']) \
            as vm:
        pid = vm.proc.pid
        print(f'{CONNECTIONS} scrapes after {WARMUP} to warm up')
        print(f'{"client":<28} {"median":>7} {"p90":>7} {"RSS kB":>9}')
        run('urllib, new connection', pid,
            lambda: scrape_new_connection(port))
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)

        def persistent():
            conn.request('GET', '/metrics')
            r = conn.getresponse()
            r.read()
            if r.will_close:
                conn.close()
        run('http.client, HTTP/1.1', pid, persistent)
        conn.close()


if __name__ == '__main__':
    main()
