#!/usr/bin/env python3
"""Prints a free TCP port on 127.0.0.1 below the system's ephemeral range,
for a tracenet node a script starts later (scripts/federation.sh,
scripts/container-check.sh): as `net::listen_below_ephemeral` picks them for
the demo and the tests.

A port the system hands out for port 0 comes from the ephemeral range, and
is taken meanwhile by another node's outbound connection or port-0
listener; below the range, only a deliberate bind takes it. Ports given as
arguments (already handed to nodes that have not bound them yet) are
skipped. Falls back to a port the system picks when none is free below.

Usage: free-port.py [TAKEN_PORT ...]
"""
import random
import socket
import sys

try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
taken = {int(p) for p in sys.argv[1:] if p.isdigit()}
base = max(1024, low - 12000)
ports = [p for p in range(base, low) if p not in taken]
random.shuffle(ports)
for port in ports + [0]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    print(s.getsockname()[1])
    s.close()
    break
else:
    sys.exit("free-port.py: no port is free on 127.0.0.1")
