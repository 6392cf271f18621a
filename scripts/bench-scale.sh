#!/usr/bin/env bash
# Federation scale benchmark (issue 16): 10, 50 and 200 State nodes with small
# registries, in host processes of up to 50 nodes each (a full mesh of 200
# nodes needs more sockets than one process may open); prints start-up, the
# trace round trip to 5 and to 50 holders beside plain rust-libp2p measured in
# the same run, requester-side CPU per answer, idle CPU and memory per node.
#   TRACENET_BENCH_SCALE=10,50,200  TRACENET_BENCH_TRACES=N
#   TRACENET_BENCH_PER_HOST=N  TRACENET_BENCH_IDLE_SECS=N
#   TRACENET_BENCH_PEER_CONNECTIONS=N (the links kept, stated by the roster and set as node.peer_connections; 256: a full mesh at 200)
#   TRACENET_BENCH_GOSSIP=strict (the roster states strict; default payload, as a first roster does)
#   TRACENET_BENCH_SERVED_LISTS=0 (the roster does not state served lists: every holder relays where links are bounded)
#   TRACENET_BENCH_VIEWS=N (reads of each measure's last settled trace, GET /v1/traces/ID, timed; default 200, 0 skips them)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench scale
