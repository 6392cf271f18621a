#!/usr/bin/env bash
# Federation benchmark (issue 4): 10 State nodes (100,000 synthetic records each)
# and a bootstrap node as real processes on 127.0.0.1; prints trace round trip
# p50/p99, gossip messages per trace, idle memory, and one node's answering rate,
# beside plain rust-libp2p twice: every node in one process, and each holder in
# a process of its own (as tracenet's nodes run here).
#   TRACENET_BENCH_STATES=N  TRACENET_BENCH_RECORDS=N  TRACENET_BENCH_TRACES=N
#   TRACENET_BENCH_GOSSIP=strict (every State strict; default payload, as a first roster states)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench federation
