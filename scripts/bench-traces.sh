#!/usr/bin/env bash
# Trace store benchmark (issue 16): the requester's cost of filing one answer
# at 10, 50 and 200 holders asked, beside plain sled (the frame inserted and
# flushed). Release build; prints its figures with the load average.
#   TRACENET_BENCH_HOLDERS=10,50,200   holders asked per trace
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench traces
