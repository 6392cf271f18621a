#!/usr/bin/env bash
# The main job on the built-in sample, until `tracenet demo` exists: build, create
# a data directory in a temporary folder, import config/sample-registry.jsonl, and
# find a weapon from a misread marking. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/tracenet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$bin --data-dir "$dir" init --state DE
$bin --data-dir "$dir" registry import config/sample-registry.jsonl
echo "--- find Walther DE serial read as 'BP-O746' (letter O for zero):"
$bin --data-dir "$dir" registry find --maker "CARL WALTHER" --country DE --serial "BP-O746"
echo "--- find H&K DE serial with an obliterated character 'A12-34?7':"
$bin --data-dir "$dir" registry find --maker "H&K" --country DE --serial "A12-34?7"
echo "--- registry statistics:"
$bin --data-dir "$dir" registry stats
