#!/usr/bin/env bash
# Registry benchmark (issue 2): import rate, exact and one-'?' lookup latency,
# on-disk size and peak memory on a synthetic registry (1,000,000 records by
# default). Release build; prints its figures.
#   TRACENET_BENCH_RECORDS=N   registry size
#   TRACENET_BENCH_CACHE_MB=M  sled page cache
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench registry
