#!/usr/bin/env bash
# Batched Ed25519 verification tried (issue 16): ring's one-by-one check, the
# node's, against ed25519-dalek's verify_batch at batch sizes 1 to 64, in the
# same run; and the signature a batch check accepts that ring refuses, which
# is why the node does not batch (proto-docs/PERFORMANCE.md). Release build;
# about 20 s.
#   TRACENET_BENCH_VERIFY_SIGS=N  signatures checked per figure (default 20,000)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench verify
