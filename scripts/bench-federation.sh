#!/usr/bin/env bash
# Federation benchmark (issue 4): 10 State nodes (100,000 synthetic records each)
# and a bootstrap node as real processes on 127.0.0.1; prints trace round trip
# p50/p99, gossip messages per trace, idle memory, and one node's answering rate,
# beside plain rust-libp2p twice: every node in one process, and each holder in
# a process of its own (as tracenet's nodes run here), the latter timed in
# blocks of 25 traces between tracenet's, so that the goals' ratios compare the
# same minutes of the machine.
#   TRACENET_BENCH_STATES=N  TRACENET_BENCH_RECORDS=N  TRACENET_BENCH_TRACES=N
#   TRACENET_BENCH_GOSSIP=strict (every State strict; default payload, as a first roster states)
#   TRACENET_BENCH_AFTER=1 (also the requester's CPU after the round trips: each
#   trace's silent-holder check and deadline, waited out; 16 s more)
#
#   TRACENET_BENCH_SIZES="4 6 10" runs the benchmark once per federation size
#   (States, the requester included) and then splits the requester's CPU per
#   trace into a part paid once per trace (the control API's request, the
#   trace stored and published) and a part paid per answer, by least squares
#   over the sizes, for tracenet and for plain rust-libp2p's requester (a
#   process each); the round trip's p50 likewise, per trace and per holder.
#   The goal of 0.3 ms of requester CPU per answer "whatever N" is the total
#   divided by the answers, which the fixed part weighs on most at small N.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${TRACENET_BENCH_SIZES:-}" ]]; then
    exec cargo bench --bench federation
fi

for n in $TRACENET_BENCH_SIZES; do
    if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 4 || n > 14)); then
        echo "TRACENET_BENCH_SIZES: '$n' is not a number of States from 4 to 14 (e.g. \"4 6 10\")" >&2
        exit 2
    fi
done
cargo bench --no-run --bench federation
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for n in $TRACENET_BENCH_SIZES; do
    echo "== $n States (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    out=$(TRACENET_BENCH_STATES=$n cargo bench --quiet --bench federation 2>&1) || {
        echo "$out"
        echo "the benchmark failed at $n States" >&2
        exit 1
    }
    echo "$out" | grep -E "round trip \(send|requester CPU|own process|States asked" || true
    # answers per trace (States asked), tracenet's requester ms per trace,
    # plain's requester ms per answer, plain's holders, tracenet p50, plain p50
    echo "$out" | awk '
        /States asked on average/ { for (i = 1; i <= NF; i++) if ($i == "States" && $(i+1) == "asked") k = $(i-1) }
        /requester CPU: .* ms per trace/ { t = $3 }
        /each in its own process/ {
            h = $3
            for (i = 1; i <= NF; i++) {
                if ($i == "p50" && pp == "") pp = $(i+1)
                if ($i == "requester" && $(i+2) == "ms") pa = $(i+1)
            }
        }
        /^  trace round trip \(send/ { for (i = 1; i <= NF; i++) if ($i == "p50") tp = $(i+1) }
        END {
            if (k == "" || t == "" || pa == "" || h == "" || tp == "" || pp == "") {
                print "the benchmark printed no line for one of: States asked, requester CPU, plain libp2p a process each, round trip (has its wording changed? see the awk above)" > "/dev/stderr"
                exit 1
            }
            print k, t, pa, h, tp, pp
        }' >>"$rows"
done

awk -v sizes="$TRACENET_BENCH_SIZES" '
    function fit(xs, ys, n,    i, sx, sy, sxx, sxy, d) {
        sx = sy = sxx = sxy = 0
        for (i = 1; i <= n; i++) { sx += xs[i]; sy += ys[i]; sxx += xs[i] * xs[i]; sxy += xs[i] * ys[i] }
        d = n * sxx - sx * sx
        if (d == 0) { slope = 0; icpt = sy / n; return }
        slope = (n * sxy - sx * sy) / d
        icpt = (sy - slope * sx) / n
    }
    { n++; k[n] = $1; t[n] = $2; pt[n] = $3 * $4; h[n] = $4; tp[n] = $5; pp[n] = $6 }
    END {
        if (n < 2) { print "one size only: nothing to split"; exit }
        if (n < 3) print "(two sizes: a line through two points, which cannot show whether the cost is linear; give three or more)"
        print ""
        print "requester CPU split over the sizes " sizes " (least squares, answers per trace " k[1] " to " k[n] "):"
        fit(k, t, n); ts = slope; ti = icpt
        fit(h, pt, n); ps = slope; pi = icpt
        printf "  tracenet: %.2f ms once per trace + %.3f ms per answer (goal 0.3 ms per answer, the total divided by the answers)\n", ti, ts
        printf "  plain rust-libp2p, a process each: %.2f ms once per trace + %.3f ms per answer\n", pi, ps
        if (ps > 0 && pi > 0) printf "  ratio: %.1fx per trace, %.1fx per answer\n", ti / pi, ts / ps
        for (i = 1; i <= n; i++)
            printf "  at %s answers: %.3f ms per answer, of which the per-trace part %.3f\n", k[i], t[i] / k[i], ti / k[i]
        fit(k, tp, n); rs = slope; ri = icpt
        fit(h, pp, n); qs = slope; qi = icpt
        printf "round trip p50 split: tracenet %.2f ms + %.3f ms per holder; plain rust-libp2p, a process each, %.2f ms + %.3f ms per holder\n", ri, rs, qi, qs
    }' "$rows"
