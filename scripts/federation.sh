#!/usr/bin/env bash
# A federation as separate processes, the way operators run it: one data
# directory per State, a roster signed by a demo trust anchor, one
# `tracenet node run` per State plus a bootstrap node, a few traces, then stop.
#
#   scripts/federation.sh [DIR]     (default: a temporary folder, removed at the end)
#   KEEP=1 scripts/federation.sh DIR   leaves the nodes running
#
# Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin="$PWD/target/debug/tracenet"
root="${1:-$(mktemp -d)}"
mkdir -p "$root"
states=(DE NG FR KE)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${1:-}" ] || [ -n "${KEEP:-}" ] || rm -rf "$root"
}
trap 'cleanup' EXIT

# A free port below the ephemeral range, not one handed out before
# (scripts/free-port.py).
taken=()
free_port() { python3 "$PWD/scripts/free-port.py" "${taken[@]}"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== data directories under $root"
"$bin" roster keygen --out "$root/anchor.key" --json > "$root/anchor.json"
anchor=$(json_field "['public_key']" < "$root/anchor.json")
today=$(date -u +%F)
until=$(date -u -d '+365 days' +%F)
"$bin" roster new --out "$root/roster.json" --valid-from "$today" --valid-until "$until" > /dev/null

add_node() { # STATE NAME ROLE
  local dir="$root/$1" port
  port=$(free_port)
  taken+=("$port")
  "$bin" --data-dir "$dir" --json init --state "$1" > "$dir.init.json"
  cat >> "$dir/tracenet.toml" <<TOML

[node]
role = "$3"
listen = ["/ip4/127.0.0.1/tcp/$port"]
api_listen = "127.0.0.1:0"

[trust]
anchors = ["$anchor"]
threshold = 1
TOML
  local key
  key=$(json_field "['public_key']" < "$dir.init.json")
  "$bin" roster add "$root/roster.json" --state "$1" --name "$2" --key "$key" --role "$3" \
    --address "/ip4/127.0.0.1/tcp/$port" > /dev/null
}

add_node BE "Regional Organisation" bootstrap
i=0
for s in "${states[@]}"; do
  add_node "$s" "State $s" member
  "$bin" registry generate --state "$s" --count 2000 --seed "$i" --out "$root/$s.jsonl" --force > /dev/null
  "$bin" --data-dir "$root/$s" registry import "$root/$s.jsonl"
  i=$((i + 1))
done
"$bin" roster sign "$root/roster.json" --anchor-key "$root/anchor.key" > /dev/null
for s in BE "${states[@]}"; do
  "$bin" --data-dir "$root/$s" roster install "$root/roster.json" > /dev/null
done
echo "== roster signed by the demo anchor $anchor and installed"

for s in BE "${states[@]}"; do
  "$bin" --data-dir "$root/$s" node run 2> "$root/$s.log" &
  pids+=("$!")
done

# Wait (at most 60 s) until every node sees every other.
want=$(( ${#states[@]} ))
for s in BE "${states[@]}"; do
  for _ in $(seq 1 300); do
    n=$("$bin" --data-dir "$root/$s" --json status 2>/dev/null | json_field "['net']['connected'].__len__()" 2>/dev/null || echo 0)
    [ "$n" -ge "$want" ] && break
    sleep 0.2
  done
  [ "$n" -ge "$want" ] || { echo "node $s did not connect; see $root/$s.log" >&2; exit 1; }
done
echo "== ${#states[@]} States and a bootstrap node connected"

# Trace a weapon that DE's synthetic registry holds, from KE.
line=$(grep -m1 '"country":"DE"' "$root/DE.jsonl")
maker=$(echo "$line" | json_field "['marking']['manufacturer']")
serial=$(echo "$line" | json_field "['marking']['serial']")
echo "== KE traces $maker DE serial $serial"
"$bin" --data-dir "$root/KE" trace --maker "$maker" --country DE --serial "$serial" \
  --category pistol --ground seized_in_crime --use criminal_investigation --wait 20
"$bin" --data-dir "$root/KE" trace list

if [ -n "${KEEP:-}" ]; then
  trap - EXIT
  echo "== nodes keep running (pids ${pids[*]}); for example:"
  echo "   $bin --data-dir $root/KE status"
  echo "   kill ${pids[*]}"
else
  echo "== stopping"
fi
