#!/usr/bin/env bash
# kmirror, MirrorMaker 2 (4.3.1, dedicated mode) and a librdkafka consume -> produce pipeline,
# one after the other, on the same two Apache Kafka brokers, in one run: per data set one table
# (catch-up throughput, CPU seconds per GB of the replicator's own process, peak RSS, end-to-end
# latency at a fixed rate, time to the first replicated record, records lost, duplicated and out
# of order), then the failover table (groups translated through each tool's checkpoints by MM2's
# RemoteClusterUtils). The tables are Markdown on stdout; progress goes to stderr.
#
#   benches/compare.sh [--datasets lz4-1k,small-100b,large-100k,parts-1000]
#                      [--tools mm2,kmirror,pipeline] [--scale 0.1] [--timeout SECONDS]
#
# What each figure means and what bounds it: docs/mirrormaker2.md. The brokers are single
# KRaft nodes on 127.0.0.1 with KMIRROR_KAFKA_PROFILE=bench (full JIT, parallel collector, 1 GiB
# heap); MM2 runs with the same JVM settings. The whole run is bounded: every wait has a
# deadline (--timeout per catch-up, default 600 s).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-test-deps.sh >/dev/null
tools=${KMIRROR_TOOLS:-$root/.tools}
cargo build --release --quiet
export KMIRROR_TOOLS=$tools
# shellcheck source=scripts/kafka-broker.sh
source "$root/scripts/kafka-broker.sh"
export KMIRROR_KAFKA_PROFILE=${KMIRROR_KAFKA_PROFILE:-bench} KMIRROR_KAFKA_HEAP=${KMIRROR_KAFKA_HEAP:-1g}
src_port=$(kafka_free_port)
start_broker source "$src_port"
tgt_port=$(kafka_free_port)
start_broker target "$tgt_port"
echo "== Apache Kafka $(basename "$(scripts/kafka/node.sh home)"): source 127.0.0.1:$src_port, target 127.0.0.1:$tgt_port; $(nproc) cores" >&2
# MM2's client code, compiled before anything is measured.
scripts/kafka/mm2-tools.sh >/dev/null 2>&1 || true
"$tools/venv/bin/python" benches/compare.py run --source "127.0.0.1:$src_port" --target "127.0.0.1:$tgt_port" \
    --kmirror "$root/target/release/kmirror" --repo "$root" --work "$work" "$@"
