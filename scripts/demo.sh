#!/usr/bin/env bash
# The demo: starts a local Kafka-compatible broker (tansu, sqlite storage, 127.0.0.1 only),
# writes records with librdkafka in every codec tansu can serve, then shows what kmirror sees:
# the cluster's metadata and the raw record batches of each partition, read from their
# 61-byte headers without decompressing anything.
#
# Replication between two brokers arrives with the replication engine; until then this is
# kmirror's main job: speaking the protocol and framing batches.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-test-deps.sh
tools=${KMIRROR_TOOLS:-$root/.tools}
cargo build --release --quiet
kmirror=$root/target/release/kmirror

work=$(mktemp -d)
port=${KMIRROR_DEMO_PORT:-19092}
broker=127.0.0.1:$port
cleanup() {
    [ -n "${tansu_pid:-}" ] && kill "$tansu_pid" 2>/dev/null && wait "$tansu_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

(cd "$work" && exec env -i PATH="$PATH" "$tools/bin/tansu" broker \
    --listener-url "tcp://$broker" --advertised-listener-url "tcp://$broker" \
    --storage-engine sqlite://demo.db >"$work/tansu.log" 2>&1) &
tansu_pid=$!
for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

client="$tools/venv/bin/python protocol-tests/support/kafka_client.py"
echo "{\"bootstrap\": \"$broker\", \"topic\": \"orders\", \"partitions\": 4}" | $client create-topic >/dev/null
for p in 0 1 2 3; do
    codec=$(echo none gzip lz4 zstd | cut -d' ' -f$((p + 1)))
    python3 - "$broker" "$p" "$codec" <<'PY' | $client produce >/dev/null
import json, sys
broker, partition, codec = sys.argv[1], int(sys.argv[2]), sys.argv[3]
records = [{"key": f"order-{i}".encode().hex(),
            "value": json.dumps({"order": i, "codec": codec, "items": list(range(i % 9))}).encode().hex(),
            "headers": [["source", "demo".encode().hex()], ["trace", f"{i}".encode().hex()], ["trace", "again".encode().hex()]]}
           for i in range(500)]
print(json.dumps({"bootstrap": broker, "topic": "orders", "partition": partition,
                  "config": {"compression.type": codec}, "records": records}))
PY
done

echo "== kmirror metadata -b $broker"
"$kmirror" metadata -b "$broker"
for p in 0 1 2 3; do
    echo
    echo "== kmirror inspect -b $broker -t orders -p $p"
    "$kmirror" inspect -b "$broker" -t orders -p "$p"
done
