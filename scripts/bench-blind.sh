#!/usr/bin/env bash
# Blind-trace benchmark (issue 17): blind evaluations per second per holder
# core, the keyed filter of 1,000,000 records (evaluations, build, size) and
# its update after 1,000 imported, beside an unkeyed filter; the blind against
# clear round trip is in scripts/bench-federation.sh.
#   TRACENET_BENCH_RECORDS=N
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench blind
