#!/usr/bin/env bash
# The demo: two local Apache Kafka brokers (single KRaft nodes, 127.0.0.1 only), a source
# filled with sample data by librdkafka (confluent-kafka), and kmirror replicating it with
# config/demo.properties, an MM2-style file. Prints what was replicated and how fast, checks
# the target against the source with librdkafka, moves a consumer group that stopped in the
# middle of batches to the target (`kmirror offsets translate --commit`) and checks that it
# resumes at exactly the record it would have read next, and stops kmirror with SIGTERM.
#
#   scripts/demo.sh [ORDERS_PER_PARTITION] [CLICKS]    (default 50000 x 4 orders, 200000 clicks)
#
# The brokers run with KMIRROR_KAFKA_PROFILE=bench (full JIT, parallel collector, 1 GiB heap),
# so that the broker's start-up JIT settings do not bound the rate printed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
orders_per_partition=${1:-50000}
clicks=${2:-200000}
scripts/install-test-deps.sh
tools=${KMIRROR_TOOLS:-$root/.tools}
export KMIRROR_TOOLS=$tools
cargo build --release --quiet
kmirror=$root/target/release/kmirror
python=$tools/venv/bin/python
client="$python protocol-tests/support/kafka_client.py"

for port in 19092 19093; do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "127.0.0.1:$port is in use: config/demo.properties needs 19092 and 19093 free" >&2
        exit 1
    fi
done
# shellcheck source=scripts/kafka-broker.sh
source "$root/scripts/kafka-broker.sh"
export KMIRROR_KAFKA_PROFILE=${KMIRROR_KAFKA_PROFILE:-bench} KMIRROR_KAFKA_HEAP=${KMIRROR_KAFKA_HEAP:-1g}
echo "== starting Apache Kafka $(sed -n 's/^reference=//p' scripts/kafka/versions.properties): source on 127.0.0.1:19092, target on 127.0.0.1:19093"
start_broker source 19092
start_broker target 19093

echo "== filling the source: orders (4 partitions, one codec each: none, gzip, lz4, zstd; three headers per record), clicks (8 partitions, snappy)"
echo '{"bootstrap": "127.0.0.1:19092", "topic": "orders", "partitions": 4}' | $client create-topic >/dev/null
echo '{"bootstrap": "127.0.0.1:19092", "topic": "clicks", "partitions": 8}' | $client create-topic >/dev/null
"$python" - "$orders_per_partition" "$clicks" <<'PY'
import json, random, sys, time
from confluent_kafka import Producer
per_partition, clicks = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(7)
skus = [f"SKU-{n:05}" for n in range(2000)]
pages = ["/", "/search", "/cart", "/checkout", "/account", "/help"] + [f"/product/{s}" for s in skus[:200]]
agents = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0"]

# Records carry the time they are produced at (CreateTime): older ones would be deleted by the
# brokers' default retention of seven days while the demo runs.
def send(producer, topic, partition, key, value, headers):
    while True:
        try:
            producer.produce(topic, key=key, value=value, partition=partition, headers=headers)
            return
        except BufferError:
            producer.poll(0.05)

def flush(producer):
    left = producer.flush(120)
    if left:
        sys.exit(f"{left} records not delivered")

started = time.time()
for partition, codec in enumerate(["none", "gzip", "lz4", "zstd"]):
    p = Producer({"bootstrap.servers": "127.0.0.1:19092", "enable.metrics.push": False, "compression.type": codec,
                  "linger.ms": 20, "queue.buffering.max.messages": 500000})
    for i in range(per_partition):
        items = [{"sku": rng.choice(skus), "qty": rng.randint(1, 4), "price": round(rng.uniform(2, 250), 2)}
                 for _ in range(1 + i % 6)]
        value = json.dumps({"order": i, "codec": codec, "customer": f"C{rng.randrange(10**6):06}", "items": items,
                            "currency": "EUR", "shipping": {"country": rng.choice(["DE", "FR", "NL", "PL", "SE"]),
                                                            "zip": f"{rng.randrange(10**5):05}"}})
        send(p, "orders", partition, f"order-{partition}-{i}".encode(), value.encode(),
             [("source", b"demo"), ("trace", str(i).encode()), ("trace", b"again")])
    flush(p)
p = Producer({"bootstrap.servers": "127.0.0.1:19092", "enable.metrics.push": False, "compression.type": "snappy",
              "linger.ms": 20, "queue.buffering.max.messages": 500000})
for i in range(clicks):
    user = rng.randrange(50000)
    value = json.dumps({"user": f"U{user:05}", "page": rng.choice(pages), "referrer": rng.choice(pages),
                        "agent": rng.choice(agents), "ms": rng.randint(5, 4000)})
    send(p, "clicks", user % 8, f"U{user:05}".encode(), value.encode(), None)
flush(p)
print(f"{4 * per_partition + clicks} records in {time.time() - started:.1f} s")
PY

echo "== kmirror check --config config/demo.properties"
"$kmirror" check --config config/demo.properties

echo "== kmirror run --config config/demo.properties"
cpu_of() { # pid -> CPU seconds (utime + stime) of the whole process
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}
source_jvm=${pids[0]} target_jvm=${pids[1]}
brokers_cpu_before="$(cpu_of "$source_jvm") $(cpu_of "$target_jvm")"
start=$(date +%s.%N)
(cd "$work" && exec "$kmirror" run --config "$root/config/demo.properties" >"$work/kmirror.log" 2>&1) &
kmirror_pid=$!
pids+=($kmirror_pid)

# Waits until every target partition holds as many records as its source partition, then
# prints the rate: records and bytes of the replicated batches over the seconds since kmirror
# started (start-up, metadata and topic creation included). The bytes are the sizes of the
# target's log segments of source.orders and source.clicks: every batch as it was produced to
# the target, as many bytes as its source batch (checked against the source's segments).
"$python" - "$start" "$work" "$kmirror_pid" "$source_jvm" "$target_jvm" "$brokers_cpu_before" <<'PY' || { echo "kmirror log:"; tail -30 "$work/kmirror.log"; exit 1; }
import glob, os, sys, time
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
start, work, pid = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
jvms, before = sys.argv[4:6], [float(c) for c in sys.argv[6].split()]
def cpu_of(p):
    """utime + stime of process p, in seconds."""
    with open(f"/proc/{p}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
def running():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
admins = {b: AdminClient({"bootstrap.servers": b, "enable.metrics.push": False, "log_level": 3})
          for b in ("127.0.0.1:19092", "127.0.0.1:19093")}
def ends(bootstrap, topic, n):
    asked = admins[bootstrap].list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(n)}, request_timeout=10)
    return [asked[TopicPartition(topic, p)].result().offset for p in range(n)]
want = {t: ends("127.0.0.1:19092", t, n) for t, n in (("orders", 4), ("clicks", 8))}
deadline = start + 600
while time.time() < deadline:
    if not running():
        sys.exit("kmirror exited before the target caught up")
    try:
        if all(ends("127.0.0.1:19093", "source." + t, len(w)) == w for t, w in want.items()):
            break
    except Exception:
        pass
    time.sleep(0.05)
else:
    sys.exit("the target did not catch up within 600 s")
seconds = time.time() - start
cpu = cpu_of(pid)
source_cpu, target_cpu = (cpu_of(j) - b for j, b in zip(jvms, before))
def segments(broker, topics):
    return sum(os.path.getsize(f) for t in topics for f in glob.glob(f"{work}/{broker}/data/{t}-*/*.log"))
target_bytes = segments("target", ["source.orders", "source.clicks"])
source_bytes = segments("source", ["orders", "clicks"])
if target_bytes != source_bytes:
    sys.exit(f"the target's batches hold {target_bytes} bytes, the source's {source_bytes}")
records = sum(sum(w) for w in want.values())
print("replicated:", {t: sum(w) for t, w in want.items()}, "records")
print(f"caught up in {seconds:.1f} s after kmirror started: {records} records, {target_bytes / 1e6:.1f} MB of record batches "
      f"(the target's log segments, byte for byte the source's), {target_bytes / 1e6 / seconds:.1f} MB/s, "
      f"{records / seconds:,.0f} records/s")
print(f"CPU seconds meanwhile ({os.cpu_count()} cores, shared): kmirror {cpu:.1f}, source broker {source_cpu:.1f}, "
      f"target broker {target_cpu:.1f}")
PY

echo "== the target, read back with librdkafka (first records of source.orders-3, zstd on the source)"
echo '{"bootstrap": "127.0.0.1:19093", "topic": "source.orders", "partition": 3, "offset": 0, "count": 2, "timeout_s": 30}' \
    | $client consume | "$python" -c '
import json, sys
for r in json.load(sys.stdin)["records"]:
    print(" ", r["offset"], bytes.fromhex(r["key"]).decode(), bytes.fromhex(r["value"]).decode(),
          [(k, v and bytes.fromhex(v).decode()) for k, v in r["headers"]])'
"$kmirror" inspect -b 127.0.0.1:19093 -t source.orders -p 3 --max-batches 3

echo "== a consumer group on the source: billing reads part of orders and commits in the middle of batches"
# Kafka keeps librdkafka's batches (hundreds of records each, see the inspect above), so these
# offsets fall inside batches: where MM2's sampled offset syncs and its "+1" rule would make the
# group re-read records after the move.
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
