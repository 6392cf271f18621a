#!/bin/sh
# Runs every fuzz target for SECONDS each (default 120), niced, on stable Rust
# (RUSTC_BOOTSTRAP lets cargo-fuzz use the nightly-only sanitizer flags).
# Builds every target once with `cargo fuzz build`, then runs the binaries:
# `cargo fuzz run` per target rebuilt the instrumented library twice each
# time on this 2-core machine (7 to 15 minutes a target).
# Needs cargo-fuzz: `cargo install cargo-fuzz`. The fuzz crate is
# scripts/fuzz (its own workspace; its corpus, artifacts and target/ stay there).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -eu
cd "$(dirname "$0")/fuzz"
secs="${1:-120}"
[ $# -gt 0 ] && shift
targets="${*:-decode_query decode_answer decode_roster roster_file makers_file evidence_bundle stored_record blind_request blind_filter blind_oprf}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
RUSTC_BOOTSTRAP=1 nice cargo fuzz build --fuzz-dir .
triple="$(rustc -vV | sed -n 's/^host: //p')"
for t in $targets; do
    mkdir -p "corpus/$t"
    # Valid inputs to start from (e.g. rosters with and without OPRF keys),
    # so the fuzzer reaches past the first checks.
    if [ -d "seeds/$t" ]; then cp -n "seeds/$t"/* "corpus/$t"/; fi
    echo "== $t: ${secs}s"
    nice "$CARGO_TARGET_DIR/$triple/release/$t" "corpus/$t" -max_total_time="$secs" -max_len=65536 2>&1 \
        | grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs|ERROR|panicked|SUMMARY" || true
done
