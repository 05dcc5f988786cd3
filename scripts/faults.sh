#!/usr/bin/env bash
# The fault suite's long forms (docs/failures.md): every scenario of protocol-tests/faults/
# with KMIRROR_FAULTS=full (50 kmirror kills, the whole target cluster stopped 60 s, network
# partitions of 30 s towards the target and towards the source, longer outages elsewhere),
# one at a time, then the table: scenario, records produced, lost, duplicated, out of order,
# recovery time from the fault's end.
#
#   scripts/faults.sh                 every scenario (about 15 minutes on 2 cores)
#   scripts/faults.sh kmirror_killed  only the scenarios whose test name contains that
#
# Needs root and iproute2 for the network partitions (network namespaces joined by veth
# pairs, loopback-range addresses only, deleted on exit). KMIRROR_FAULTS_LOGS=<dir> keeps each
# scenario's kmirror logs and arrival times there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export KMIRROR_TOOLS=${KMIRROR_TOOLS:-$root/.tools}
export KMIRROR_FAULTS=full
report=$(mktemp /tmp/kmirror-faults.XXXXXX.jsonl)
export KMIRROR_FAULTS_REPORT=$report

cleanup() {
    # The namespaces of this run's test process (kmf-<pid>-...), should it have been killed
    # before it could delete them.
    for ns in $(ip netns list 2>/dev/null | awk '/^kmf-/ {print $1}'); do
        pid=${ns#kmf-}
        pid=${pid%%-*}
        [ -d "/proc/$pid" ] || ip netns del "$ns" 2>/dev/null || true
    done
}
trap cleanup EXIT

# kmirror as built for production: recovery includes catching up, which an unoptimised
# build does more slowly.
cargo build --release --quiet
export KMIRROR_FAULTS_BIN=$root/target/release/kmirror

filter=${1:-faults::}
log=${KMIRROR_FAULTS_LOGS:-/tmp}/kmirror-faults-output.log
status=0
echo "full output: $log"
# (`replication_faults::` is the fake-broker group, not this suite.)
cargo test --features testkit --test protocol "$filter" -- --skip replication_faults:: \
    --include-ignored --test-threads=1 --nocapture \
    >"$log" 2>&1 || status=$?
grep -E '^(FAULT |test |kmirror kills: seed|test result)' "$log" || true
[ "$status" = 0 ] || { echo "FAILED: see $log" >&2; grep -E -A20 "^---- |panicked at" "$log" | head -100 >&2; }

python3 - "$report" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
head = ["scenario", "produced", "lost", "duplicated", "out of order", "fault lasted",
        "lag 0 after fault end", "all read after fault end", "longest record delay"]
out = []
for r in rows:
    if "detected" in r:
        # Scenarios whose records cannot all arrive: what counts is that kmirror stopped the
        # partition with the error, and the target holds none of what followed.
        out.append([r["scenario"], str(r["produced"]), "-", "0", "0", "-", "stopped: " + r["detected"], "-", "-"])
        continue
    rec = "never" if r["recovery_s"] is None else f'{r["recovery_s"]:.2f} s'
    lag0 = "-" if r.get("lag_zero_s") is None else f'{r["lag_zero_s"]:.2f} s'
    delay = "-" if r.get("max_delay_s") is None else f'{r["max_delay_s"]:.2f} s'
    out.append([r["scenario"], str(r["produced"]), str(r["lost"]), str(r["duplicated"]),
                str(r["out_of_order"]), f'{r["fault_s"]:.1f} s', lag0, rec, delay])
widths = [max(len(x) for x in col) for col in zip(head, *out)] if out else [len(h) for h in head]
line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
print(line(head))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in out:
    print(line(r))
for r in rows:
    print(f'- {r["scenario"]}: {r.get("fault") or r.get("detail")}')
EOF
rm -f "$report"
exit $status
