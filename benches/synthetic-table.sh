#!/usr/bin/env bash
# Runs `kmirror bench synthetic` for the hot path's rows with two builds, one row at a time,
# the builds alternating, and prints one markdown table: figures of builds measured in the
# same minutes on a shared, noisy machine are comparable as ratios.
#
#   benches/synthetic-table.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]
#
# Each row is (label | extra arguments). KMIRROR_BENCH_SECS sets the measurement (default 8).
set -euo pipefail
before=${1:?usage: synthetic-table.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]}
after=${2:?usage: synthetic-table.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]}
rounds=${3:-1}
secs=${KMIRROR_BENCH_SECS:-8}
rows=(
  "15 KB lz4 batches (defaults)|"
  "59 KB lz4 batches|--batch-records 128"
  "15 KB, TLS both legs|--tls"
  "59 KB, TLS both legs|--tls --batch-records 128"
  "100 B records, 1 per batch, no compression|--record-size 100 --batch-records 1 --codec none"
  "WAN 50 ms round trip, 8 partitions|--rtt-ms 50 --no-baseline"
  "WAN 150 ms round trip, 8 partitions|--rtt-ms 150 --no-baseline"
  "1,000 partitions, 8 MiB fetches, 64 MiB budget|--partitions 1000 --fetch-max-bytes 8388608 --memory-budget-bytes 67108864 --no-baseline"
)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "| row | build | wire GB/s | batches/s | CPU s/GB | µs per batch | relay CPU s/GB | kmirror / relay | p50 / p99 ms | peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for ((r = 1; r <= rounds; r++)); do
  for row in "${rows[@]}"; do
    label=${row%%|*}
    args=${row#*|}
    for build in before after; do
      bin=$before
      [[ $build == after ]] && bin=$after
      # shellcheck disable=SC2086
      if ! "$bin" bench synthetic --duration-secs "$secs" $args >"$out" 2>/dev/null; then
        echo "| $label | $build | failed: $(tail -1 "$out") |"
        continue
      fi
      python3 - "$label" "$build" "$out" <<'PY'
import re, sys
label, build, path = sys.argv[1:4]
t = open(path).read()
def f(pattern, default="-"):
    m = re.search(pattern, t)
    return m.group(1) if m else default
gbs = f(r"throughput\s+([\d.]+) GB/s")
bps = f(r"([\d.]+) batches/s")
cpu = f(r"= ([\d.]+) CPU s/GB \(")
us = f(r"([\d.]+) µs per batch")
relay = f(r"relay\s+([\d.]+) CPU s/GB")
ratio = f(r"CPU per GB = ([\d.]+)x")
p50 = f(r"p50 ([\d.]+) ms")
p99 = f(r"p99 ([\d.]+) ms")
rss = f(r"peak RSS\s+([\d.]+) MiB")
ratio = ratio + "x" if ratio != "-" else ratio
if us == "-" and "-" not in (cpu, gbs, bps) and float(bps) > 0:
    # Builds before the bench printed it: CPU per GB times GB per batch.
    us = f"{float(cpu) * float(gbs) / float(bps) * 1e6:.1f}"
print(f"| {label} | {build} | {gbs} | {float(bps):,.0f} | {cpu} | {us} | {relay} | {ratio} | {p50} / {p99} | {rss} |")
PY
    done
  done
done
