"""Two network namespaces joined by a veth pair, for tests that need a
real (virtual) network between two restraint processes.  The caller
names the namespaces, the veth ends and their link-local addresses;
nothing outside the two namespaces is touched."""

import subprocess


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def veth_pair_up(ns_a, ns_b, dev_a, dev_b, addr_a, addr_b):
    """Create the namespaces and the link; None, or what failed."""
    steps = [
        ['ip', 'netns', 'add', ns_a],
        ['ip', 'netns', 'add', ns_b],
        ['ip', 'link', 'add', dev_a, 'type', 'veth', 'peer', 'name', dev_b],
        ['ip', 'link', 'set', dev_a, 'netns', ns_a],
        ['ip', 'link', 'set', dev_b, 'netns', ns_b],
        ['ip', '-n', ns_a, 'addr', 'add', addr_a + '/30', 'dev', dev_a],
        ['ip', '-n', ns_b, 'addr', 'add', addr_b + '/30', 'dev', dev_b],
        ['ip', '-n', ns_a, 'link', 'set', dev_a, 'up'],
        ['ip', '-n', ns_b, 'link', 'set', dev_b, 'up'],
        ['ip', '-n', ns_a, 'link', 'set', 'lo', 'up'],
        ['ip', '-n', ns_b, 'link', 'set', 'lo', 'up'],
    ]
    for step in steps:
        r = sh(*step)
        if r.returncode != 0:
            return f'{" ".join(step)}: {r.stderr.strip()}'
    return None


def netns_down(*names):
    for ns in names:
        sh('ip', 'netns', 'del', ns)
