#!/usr/bin/env bash
# Audit log benchmark (issue 16): a reader of the last 30 days of a year's
# log (1,000,000 entries, three quarters archived) from their hour and from the log's
# start, beside plain sled iterating as many values; a month in the middle of
# the year against its start to the log's end and the whole log; and the index of hours
# built at the first start on a log written before it. Release build; prints
# its figures with the load average.
#   TRACENET_BENCH_AUDIT_ENTRIES=1000000   entries in the log
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench audit
