#!/usr/bin/env bash
# Sustained-load benchmark (issue 16): 1,000,000 directed queries to one holder
# from four States played in process, each query living 60 s (an hour of
# traffic compressed: the replay guard turns over many times); prints answers/s,
# the holder's memory and CPU every 30 s, then the first and last windows,
# then plain sled writing what the holder keeps for as many queries (memory).
#   TRACENET_BENCH_SOAK_QUERIES=N  TRACENET_BENCH_SOAK_IN_FLIGHT=N
#   TRACENET_BENCH_SOAK_TTL=SECS  TRACENET_BENCH_SOAK_EVERY=SECS
#   TRACENET_BENCH_SOAK_KEEP=N (the holder's node.audit_keep_in_store)
# --pinned: the holder pinned to core 1 and the requesters to core 0 (taskset),
# for the answers/s of a holder on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--pinned" ]; then
    export BENCH_SOAK_PIN=1
fi
exec cargo bench --bench soak
