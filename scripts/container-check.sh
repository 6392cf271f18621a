#!/usr/bin/env bash
# The container image, built and run: the commands of README.md's "Running in
# a container" (podman part), for two States on one machine.
#
#   scripts/container-check.sh          as root (rootful podman); .ci/run runs it after `cargo test`
#
# 0. Checks that README.md's container commands are among the ones it runs.
# 1. Installs podman, runc, debootstrap (and binutils, python3, iproute2) with apt-get if missing.
# 2. Uses scripts/containers.conf through CONTAINERS_CONF (runc, no forced
#    RLIMIT_NOFILE, no network unless asked), leaving /etc/containers alone.
# 3. Builds the base image debian:bookworm-slim with `debootstrap --variant=minbase`
#    from Debian's package mirror when podman has none (no image registry is
#    reachable here); it stays cached for the next run.
# 4. Builds the `prebuilt` target from the host's target/debug/tracenet.
# 5. Runs DE and KE as two containers on the host network, listening on
#    127.0.0.1 at ports chosen now, with a roster signed by a test anchor;
#    checks status, the health check, the user (uid 10001), the data directory
#    on a volume (it survives the container), and that a trace from KE gets a
#    signed hit from DE.
# 6. Removes the containers, volumes and the tracenet image it made.
#
# Everything listens on 127.0.0.1; nothing is sent beyond the loopback except
# apt-get's and debootstrap's downloads from Debian's mirror.
# DEBOOTSTRAP_MIRROR=URL picks another mirror for the base image.
# README.md's commands leave $S (a two-letter State code) unquoted, as people type them.
# shellcheck disable=SC2086
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)
states=(DE KE)
image=localhost/tracenet:latest
base=docker.io/library/debian:bookworm-slim # what `FROM debian:bookworm-slim` names
work=""
made_image=""

say() { printf '== %s\n' "$*"; }
fail() {
  printf 'container-check: FAILED: %s\n' "$*" >&2
  exit 1
}
elapsed() { echo "$(($(date +%s) - started)) s"; }

# README.md's container commands, one logical line each (continuations joined,
# comments, blank lines and a redirection of the output at the end dropped),
# from the block after the marker.
readme_commands() {
  awk '/<!-- container-check -->/ { armed = 1; next }
       armed && /^```/ { if (inside) exit; inside = 1; next }
       inside' README.md | logical_lines
}
logical_lines() {
  sed -e 's/^[[:space:]]*//' -e 's/^#.*//' -e 's/[[:space:]][[:space:]]*#[[:space:]].*$//' |
    awk '{ if (sub(/\\$/, "")) { acc = acc $0; next } print acc $0; acc = "" }' |
    sed -e 's/[[:space:]][[:space:]]*/ /g' -e 's/[[:space:]]*$//' -e 's/ > [^ ]*$//' | grep -v '^$' || true
}

# --- 0. README and this script agree -------------------------------------------
mine=$(logical_lines < "$0")
n=0
while IFS= read -r cmd; do
  n=$((n + 1))
  grep -qxF -- "$cmd" <<< "$mine" ||
    fail "README.md's container section says \`$cmd\`, which this script does not run: change one to match the other"
done < <(readme_commands)
[ "$n" -ge 8 ] || fail "found only $n commands after <!-- container-check --> in README.md"
say "README.md's $n container commands are the ones this script runs"

# --- 1. tools --------------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail "run as root: the check uses rootful podman (as CI does)"
missing=()
for tool in podman:podman runc:runc debootstrap:debootstrap strip:binutils python3:python3 ss:iproute2; do
  command -v "${tool%%:*}" > /dev/null || missing+=("${tool#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  t=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No recommends: rootful podman with host or no networking needs neither
  # slirp4netns, fuse-overlayfs nor uidmap; runc named, so crun is not chosen.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
  say "installed in $(($(date +%s) - t)) s"
fi

# Without systemd, podman cannot schedule health checks (it logs an error for
# every container of an image with a HEALTHCHECK): DISABLE_HC_SYSTEMD makes it
# not try; `podman healthcheck run` runs the check.
export CONTAINERS_CONF=$PWD/scripts/containers.conf DISABLE_HC_SYSTEMD=true
podman info --format '{{.Host.OCIRuntime.Name}}' | grep -qx runc ||
  fail "podman does not use runc with $CONTAINERS_CONF"

for s in "${states[@]}"; do
  if podman container exists "tracenet-$s" || podman volume exists "tracenet-$s"; then
    fail "a container or volume tracenet-$s exists already; remove it first (podman rm -f tracenet-$s; podman volume rm tracenet-$s)"
  fi
done

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" != 0 ]; then
    for s in "${states[@]}"; do
      if podman container exists "tracenet-$s"; then
        echo "--- last lines of tracenet-$s's log" >&2
        podman logs --tail 40 "tracenet-$s" >&2 2>&1
      fi
    done
  fi
  for s in "${states[@]}"; do
    podman rm -f -v -t 5 "tracenet-$s" > /dev/null 2>&1
    podman volume rm -f "tracenet-$s" > /dev/null 2>&1
  done
  [ -z "$made_image" ] || podman rmi -f "$image" > /dev/null 2>&1
  [ -z "$work" ] || rm -rf "$work"
  rm -rf "$repo/target/container"
  if [ "$rc" = 0 ]; then
    echo "container-check: passed in $(elapsed) (base image $base kept for the next run)"
  else
    echo "container-check: failed after $(elapsed)" >&2
  fi
}
trap cleanup EXIT

work=$(mktemp -d /tmp/tracenet-container-check.XXXXXX)

# --- 2. the base image -------------------------------------------------------------
if podman image exists "$base"; then
  say "base image $base present"
else
  say "no $base: building it with debootstrap --variant=minbase bookworm"
  t=$(date +%s)
  debootstrap --variant=minbase bookworm "$work/rootfs" ${DEBOOTSTRAP_MIRROR:+"$DEBOOTSTRAP_MIRROR"} \
    > "$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    fail "debootstrap failed (log above)"
  }
  # As the slim image: no package lists or downloaded packages.
  rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*
  tar -C "$work/rootfs" -c . | podman import --change 'CMD ["bash"]' - "$base" > /dev/null
  rm -rf "$work/rootfs"
  say "base image built in $(($(date +%s) - t)) s"
fi

# --- 3. the image ------------------------------------------------------------------
# The debug binary that `cargo test` built (a clean release build, fat LTO,
# takes about 7 min on CI's 2 cores), stripped of its line tables (136 MB to 49 MB).
say "the image, from the host's binary"
t=$(date +%s)
cargo build --bin tracenet
# A shared build cache (CARGO_TARGET_DIR) put it elsewhere: bring it here, so
# that what follows is what the README says.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ "$(cd "$CARGO_TARGET_DIR" && pwd)" != "$repo/target" ]; then
  mkdir -p target/debug && cp "$CARGO_TARGET_DIR/debug/tracenet" target/debug/tracenet
fi
ldd target/debug/tracenet | grep -q 'not found' && fail "target/debug/tracenet lacks a library: $(ldd target/debug/tracenet)"
mkdir -p target/container && strip -o target/container/tracenet target/debug/tracenet
made_image=1
podman build --format docker --pull=never --network none --target prebuilt -t tracenet .
version=$(podman run --rm --network none tracenet --version) ||
  fail "the host's binary does not run on $base (built on a newer glibc? then build the default target)"
say "built $version in $(($(date +%s) - t)) s"
[ "$(podman image inspect --format '{{.Config.User}}' tracenet)" = tracenet ] || fail "the image does not run as the user tracenet"

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# A free port below the ephemeral range, not one handed out before
# (scripts/free-port.py): a port-0 one may be taken by another connection
# before the container binds it.
taken=()
free_port() { python3 "$repo/scripts/free-port.py" "${taken[@]}"; }

# Poll COMMAND until it succeeds, at most SECONDS; WHAT names the condition.
wait_for() {
  local what=$1 seconds=$2 deadline
  shift 2
  deadline=$(($(date +%s) + seconds))
  until "$@" > /dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$what: not after ${seconds} s"
    sleep 0.2
  done
}

# --- 4. the regional organisation's anchor and roster (host binary) -----------------
bin=$repo/target/debug/tracenet
"$bin" --json roster keygen --out "$work/anchor.key" > "$work/anchor.json"
ANCHOR=$(json "d['public_key']" < "$work/anchor.json")
ROSTER=$work/roster.json
"$bin" roster new --out "$ROSTER" --valid-from "$(date -u +%F)" --valid-until "$(date -u -d '+30 days' +%F)" > /dev/null

# --- 5. each State: volume, key, anchor, addresses (README.md's commands) ----------
declare -A port
init_state() {
  local S=$1 PORT=$2
  podman volume create tracenet-$S
  podman run --rm --network none -v tracenet-$S:/var/lib/tracenet tracenet --json init --state $S --anchor $ANCHOR \
    --listen /ip4/127.0.0.1/tcp/$PORT --api-listen 127.0.0.1:0 > "$work/$S.init.json"
}
for s in "${states[@]}"; do
  port[$s]=$(free_port)
  taken+=("${port[$s]}")
  init_state "$s" "${port[$s]}" > /dev/null
  "$bin" roster add "$ROSTER" --state "$s" --name "State $s" --role member \
    --key "$(json "d['public_key']" < "$work/$s.init.json")" \
    --address "/ip4/127.0.0.1/tcp/${port[$s]}" > /dev/null
done
"$bin" roster sign "$ROSTER" --anchor-key "$work/anchor.key" > /dev/null
chmod 0644 "$ROSTER"
say "DE and KE initialised on volumes; roster signed by the test anchor $ANCHOR"

# DE holds synthetic records; KE will trace one of them.
RECORDS=$work/records.jsonl
"$bin" registry generate --state DE --count 200 --seed 7 --out "$RECORDS" > /dev/null
chmod 0644 "$RECORDS"
S=DE
podman run --rm --network none -v tracenet-$S:/var/lib/tracenet -v "$RECORDS:/tmp/records.jsonl:ro" \
  tracenet registry import /tmp/records.jsonl

install_roster() {
  local S=$1
  podman run --rm --network none -v tracenet-$S:/var/lib/tracenet -v "$ROSTER:/tmp/roster.json:ro" \
    tracenet roster install /tmp/roster.json > /dev/null
}
start_node() {
  local S=$1
  podman run -d --name tracenet-$S --network host -v tracenet-$S:/var/lib/tracenet tracenet > /dev/null
  wait_for "tracenet-$S answers status" 60 node_answers "$S"
}
# The node answers `status`; a container that stopped fails the check at once.
node_answers() {
  [ "$(podman inspect --format '{{.State.Running}}' "tracenet-$1")" = true ] ||
    fail "tracenet-$1 stopped: $(podman logs --tail 5 "tracenet-$1" 2>&1)"
  podman exec "tracenet-$1" tracenet status
}
for s in "${states[@]}"; do
  install_roster "$s"
  start_node "$s"
done
say "DE listens on 127.0.0.1:${port[DE]}, KE on 127.0.0.1:${port[KE]}"

# --- 6. the checks ----------------------------------------------------------------
S=DE
podman exec tracenet-$S tracenet status
podman healthcheck run tracenet-$S
say "status and the health check pass"

for s in "${states[@]}"; do
  pid=$(podman inspect --format '{{.State.Pid}}' "tracenet-$s")
  uid=$(stat -c %u "/proc/$pid")
  [ "$uid" = 10001 ] || fail "tracenet-$s's process $pid runs as uid $uid, not 10001"
  mounts=$(podman inspect --format '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}};{{end}}' "tracenet-$s")
  [ "$mounts" = "volume tracenet-$s /var/lib/tracenet;" ] ||
    fail "tracenet-$s's data directory is not the volume tracenet-$s: $mounts"
  # On the host's network: the node listens on 127.0.0.1 only.
  listening=$(ss -Hltnp | awk -v p="pid=$pid," 'index($0, p) { print $4 }' | sort -u | tr '\n' ' ')
  [ -n "$listening" ] || fail "tracenet-$s's process $pid listens nowhere"
  for a in $listening; do
    case $a in 127.0.0.1:*) ;; *) fail "tracenet-$s listens on $a, beyond the loopback" ;; esac
  done
done
say "both nodes run as uid 10001 with /var/lib/tracenet on their volume, listening on 127.0.0.1 only"

connected() { [ "$(podman exec "tracenet-$1" tracenet --json status | json "len(d['net']['connected'])")" -ge 1 ]; }
for s in "${states[@]}"; do
  wait_for "tracenet-$s connects to the other node" 60 connected "$s"
done

# A Walther pistol that DE's registry holds, traced from KE.
line=$(grep -m1 '"country":"DE"' "$RECORDS")
maker=$(json "d['marking']['manufacturer']" <<< "$line")
serial=$(json "d['marking']['serial']" <<< "$line")
podman exec tracenet-KE tracenet --json trace --maker "$maker" --country DE --serial "$serial" \
  --category pistol --ground seized_in_crime --use criminal_investigation --wait 30 > "$work/trace.json" ||
  fail "KE's trace of $maker DE $serial failed: $(cat "$work/trace.json")"
hit=$(json "[a['state'] for a in d['answers'] if a['verified'] and isinstance(a['outcome'], dict) and 'hit' in a['outcome']]" < "$work/trace.json")
[ "$hit" = "['DE']" ] || fail "KE's trace of $maker DE $serial got no signed hit from DE: $(cat "$work/trace.json")"
trace_id=$(json "d['id']" < "$work/trace.json")
say "KE traced $maker DE $serial: DE answered with a hit whose signature verifies"

# The data directory outlives the container: a new KE container on the same
# volume still knows the trace.
podman rm -f -t 10 tracenet-KE > /dev/null
start_node KE
podman exec tracenet-KE tracenet --json trace list | grep -q "$trace_id" ||
  fail "the trace $trace_id is gone after KE's container was replaced: the data directory is not on the volume"
say "KE's trace survives a new container on the same volume"
