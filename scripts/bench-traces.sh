#!/usr/bin/env bash
# Trace store benchmark (issue 16): the requester's cost of filing one answer
# at 10, 50 and 200 holders asked, beside plain sled (the frame inserted and
# flushed); then `GET /v1/traces` through a node's control API at 100,000
# stored traces (first page, pages by cursor, pages of 500), beside plain sled
# reading the newest 50 values. Release build; prints its figures with the
# load average.
#   TRACENET_BENCH_HOLDERS=10,50,200   holders asked per trace
#   TRACENET_BENCH_LIST_TRACES=100000  traces stored for the listing (0 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench traces
