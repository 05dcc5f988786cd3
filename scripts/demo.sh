#!/usr/bin/env bash
# The demo: two local Kafka-compatible brokers (tansu, sqlite storage, 127.0.0.1 only), a
# source filled with sample data by librdkafka (confluent-kafka), and kmirror replicating it
# with config/demo.properties, an MM2-style file. Prints what was replicated and how fast,
# checks the target against the source with librdkafka, moves a consumer group that stopped
# in the middle of batches to the target (`kmirror offsets translate --commit`) and checks that
# it resumes at exactly the record it would have read next, and stops kmirror with SIGTERM.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-test-deps.sh
tools=${KMIRROR_TOOLS:-$root/.tools}
cargo build --release --quiet
kmirror=$root/target/release/kmirror
python=$tools/venv/bin/python
client="$python protocol-tests/support/kafka_client.py"

# shellcheck source=scripts/tansu-broker.sh
source "$root/scripts/tansu-broker.sh"
start_broker source 19092
start_broker target 19093

echo "== filling the source (127.0.0.1:19092): orders (4 partitions, one codec each), clicks (8 partitions)"
echo '{"bootstrap": "127.0.0.1:19092", "topic": "orders", "partitions": 4}' | $client create-topic >/dev/null
echo '{"bootstrap": "127.0.0.1:19092", "topic": "clicks", "partitions": 8}' | $client create-topic >/dev/null
for p in 0 1 2 3; do
    codec=$(echo none gzip lz4 zstd | cut -d' ' -f$((p + 1)))
    $python - "$p" "$codec" <<'PY' | $client produce >/dev/null
import json, sys
partition, codec = int(sys.argv[1]), sys.argv[2]
records = [{"key": f"order-{partition}-{i}".encode().hex(),
            "value": json.dumps({"order": i, "codec": codec, "items": list(range(i % 9))}).encode().hex(),
            "headers": [["source", "demo".encode().hex()], ["trace", f"{i}".encode().hex()], ["trace", "again".encode().hex()]]}
           for i in range(1000)]
print(json.dumps({"bootstrap": "127.0.0.1:19092", "topic": "orders", "partition": partition,
                  "config": {"compression.type": codec}, "records": records}))
PY
done
echo '{"bootstrap": "127.0.0.1:19092", "topic": "clicks", "partitions": 8, "prefix": "click", "count": 8000, "seconds": 0}' \
    | $client produce-seq >/dev/null

echo "== kmirror check --config config/demo.properties"
"$kmirror" check --config config/demo.properties

echo "== kmirror run --config config/demo.properties"
start=$(date +%s.%N)
(cd "$work" && exec "$kmirror" run --config "$root/config/demo.properties" >"$work/kmirror.log" 2>&1) &
kmirror_pid=$!
pids+=($kmirror_pid)

# Wait until every target partition holds as many records as its source partition.
"$python" - <<'PY' || { echo "kmirror log:"; tail -30 "$work/kmirror.log"; cp -r "$work" /tmp/demo-failed; exit 1; }
import sys, time
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
admins = {b: AdminClient({"bootstrap.servers": b, "enable.metrics.push": False, "log_level": 3})
          for b in ("127.0.0.1:19092", "127.0.0.1:19093")}
def ends(bootstrap, topic, n):
    asked = admins[bootstrap].list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(n)}, request_timeout=10)
    return [asked[TopicPartition(topic, p)].result().offset for p in range(n)]
want = {t: ends("127.0.0.1:19092", t, n) for t, n in (("orders", 4), ("clicks", 8))}
deadline = time.time() + 300
while time.time() < deadline:
    try:
        if all(ends("127.0.0.1:19093", "source." + t, len(w)) == w for t, w in want.items()):
            print("replicated:", {t: sum(w) for t, w in want.items()}, "records")
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit("the target did not catch up within 300 s")
PY
end=$(date +%s.%N)
bytes=$(du -sb "$work/source" | cut -f1)
"$python" -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); b=int(sys.argv[3]); print(f'caught up in {s:.1f} s (source broker storage {b/1e6:.1f} MB, about {b/1e6/s:.1f} MB/s); tansu on sqlite is the bound here, see the README')" \
    "$start" "$end" "$bytes"

echo "== the target, read back with librdkafka (first records of source.orders-3, zstd on the source)"
echo '{"bootstrap": "127.0.0.1:19093", "topic": "source.orders", "partition": 3, "offset": 0, "count": 2, "timeout_s": 30}' \
    | $client consume | "$python" -c '
import json, sys
for r in json.load(sys.stdin)["records"]:
    print(" ", r["offset"], bytes.fromhex(r["key"]).decode(), bytes.fromhex(r["value"]).decode(),
          [(k, v and bytes.fromhex(v).decode()) for k, v in r["headers"]])'
"$kmirror" inspect -b 127.0.0.1:19093 -t source.orders -p 3 --max-batches 3

echo "== a consumer group on the source: billing reads part of orders and commits in the middle of batches"
# tansu merges a partition's records into large batches when it serves them (the inspect above
# shows source.orders-3 as one batch of 1000 records), so these offsets fall inside batches: where MM2's sampled offset syncs and its "+1"
# rule would make the group re-read records after the move.
"$python" - "$work/expected.json" <<'PY'
import json, sys
from confluent_kafka import Consumer, TopicPartition
common = {"bootstrap.servers": "127.0.0.1:19092", "enable.metrics.push": False, "log_level": 3,
          "enable.auto.commit": False}
consumed = {0: 137, 1: 250, 2: 333, 3: 501}
def read(group, partition, offset, count):
    c = Consumer({**common, "group.id": group})
    c.assign([TopicPartition("orders", partition, offset)])
    out = []
    while len(out) < count:
        m = c.poll(10)
        if m is None:
            sys.exit(f"orders-{partition}: no record within 10 s")
        if m.error():
            sys.exit(f"orders-{partition}: {m.error()}")
        out.append(m)
    return c, out
expected = {}
for partition, count in consumed.items():
    c, _ = read("billing", partition, 0, count)
    c.commit(offsets=[TopicPartition("orders", partition, count)], asynchronous=False)
    c.close()
    # What the group would read next on the source.
    c, nxt = read("kmirror-demo-reader", partition, count, 3)
    c.close()
    expected[partition] = [[m.key().hex(), m.value().hex(), [[k, v.hex()] for k, v in m.headers() or []]] for m in nxt]
json.dump(expected, open(sys.argv[1], "w"))
print("group billing committed", {f"orders-{p}": n for p, n in consumed.items()})
PY

echo "== kmirror offsets translate --config config/demo.properties --group billing"
(cd "$work" && "$kmirror" offsets translate --config "$root/config/demo.properties" --group billing)
echo "== kmirror offsets translate --config config/demo.properties --group billing --commit"
(cd "$work" && "$kmirror" offsets translate --config "$root/config/demo.properties" --group billing --commit)

# The group's first records on the target must be the ones it would have read next on the source.
"$python" - "$work/expected.json" <<'PY'
import json, sys
from confluent_kafka import Consumer, TopicPartition
expected = {int(p): v for p, v in json.load(open(sys.argv[1])).items()}
c = Consumer({"bootstrap.servers": "127.0.0.1:19093", "enable.metrics.push": False, "log_level": 3,
              "group.id": "billing", "enable.auto.commit": False, "auto.offset.reset": "error"})
got, wrong = {}, []
for partition, want in expected.items():
    # No offset given: librdkafka starts at the group's committed offset on the target.
    c.assign([TopicPartition("source.orders", partition)])
    records = []
    while len(records) < len(want):
        m = c.poll(10)
        if m is None or m.error():
            wrong.append(f"source.orders-{partition}: {m and m.error() or 'no record within 10 s'}")
            break
        records.append([m.key().hex(), m.value().hex(), [[k, v.hex()] for k, v in m.headers() or []]])
    c.unassign()
    if records != want:
        wrong.append(f"source.orders-{partition}: first records differ from the source's next ones")
    got[partition] = records
c.close()
if wrong:
    sys.exit("check FAILED: " + "; ".join(wrong))
first = bytes.fromhex(got[0][0][0]).decode()
print(f"check ok: on the target, group billing reads first exactly the records it would have read next on the source "
      f"({len(expected)} partitions x {len(expected[0])} records, keys, values and headers; source.orders-0 starts at {first})")
PY

echo "== SIGTERM"
kill -TERM "$kmirror_pid"
wait "$kmirror_pid" && echo "kmirror exited 0 (in-flight batches drained, offsets flushed)"
