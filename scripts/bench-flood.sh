#!/usr/bin/env bash
# Flood benchmark (issue 11): a member (ZA, in process) floods a holder (DE)
# with 10,000 invalid request-response frames and 30,000 invalid gossip
# messages in 30 s while another member (KE) traces weapons DE holds; real
# node processes on 127.0.0.1. Prints the flood sent and refused, the honest
# traces answered and their p50 (beside a baseline without the flood), DE's
# audit growth, its RSS idle and peak, and its /metrics lines on refusals,
# cooling-down and graylisted peers, with the load average at start and end.
#   TRACENET_FLOOD_FRAMES=N  TRACENET_FLOOD_GOSSIP=N  TRACENET_FLOOD_SECS=N
#   TRACENET_FLOOD_TRACES=N
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench flood
