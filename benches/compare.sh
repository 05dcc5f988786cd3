#!/usr/bin/env bash
# Side by side on the same local brokers: kmirror and the usual hand-rolled mirror, a
# librdkafka consume -> produce -> flush pipeline (confluent-kafka), replicating the same
# source topic. Prints, for both, wall time, throughput and the CPU seconds per GB of the
# replicator process only (kmirror's from /proc/<pid>/stat, the pipeline's from getrusage in
# its own process, librdkafka's threads included), and the ratio.
#
#   benches/compare.sh [RECORDS] [PARTITIONS]     (default 60000 records of 1 KiB, 4 partitions)
#
# Both replicate between the same two Apache Kafka brokers (single KRaft nodes on 127.0.0.1,
# started with KMIRROR_KAFKA_PROFILE=bench: full JIT, parallel collector, 1 GiB heap). On one
# machine the brokers share its cores with the replicator, so wall time and throughput say
# little; CPU per GB of the replicator process is what compares. The source is filled once, by
# librdkafka with lz4, before either replicator starts.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
records=${1:-60000}
partitions=${2:-4}
scripts/install-test-deps.sh >/dev/null
tools=${KMIRROR_TOOLS:-$root/.tools}
cargo build --release --quiet
kmirror=$root/target/release/kmirror
python=$tools/venv/bin/python

export KMIRROR_TOOLS=$tools
# shellcheck source=scripts/kafka-broker.sh
source "$root/scripts/kafka-broker.sh"
export KMIRROR_KAFKA_PROFILE=${KMIRROR_KAFKA_PROFILE:-bench} KMIRROR_KAFKA_HEAP=${KMIRROR_KAFKA_HEAP:-1g}
src_port=$(kafka_free_port)
start_broker source "$src_port"
tgt_port=$(kafka_free_port)
start_broker target "$tgt_port"
src=127.0.0.1:$src_port
tgt=127.0.0.1:$tgt_port

echo "== filling $src topic compare: $records records of 1 KiB, $partitions partitions, lz4" >&2
"$python" - "$src" "$records" "$partitions" <<'PY'
import json, random, sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, records, partitions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
common = {"bootstrap.servers": bootstrap, "enable.metrics.push": False}
admin = AdminClient(common)
for f in admin.create_topics([NewTopic("compare", num_partitions=partitions, replication_factor=1)]).values():
    f.result(30)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
rng = random.Random(1)
p = Producer({**common, "compression.type": "lz4", "linger.ms": 50, "batch.size": 262144, "acks": "all"})
for i in range(records):
    head = json.dumps({"id": i, "user": f"user-{rng.randrange(100000):05}", "event": rng.choice(words)})
    tail = ",".join(rng.choice(words) if rng.random() < 0.7 else f"{rng.getrandbits(32):x}" for _ in range(120))
    value = (head + tail)[:1024].ljust(1024, "x").encode()
    p.produce("compare", key=f"user-{i % 1000}".encode(), value=value, partition=i % partitions)
    if i % 10000 == 0:
        p.poll(0)
left = p.flush(120)
if left:
    raise SystemExit(f"{left} records not delivered")
PY

# Waits until `topic` on the target has as many records per partition as compare on the source.
wait_copied() { # topic
    "$python" - "$src" "$tgt" "$1" "$partitions" <<'PY'
import sys, time
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
src, tgt, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def ends(b, t):
    a = AdminClient({"bootstrap.servers": b, "enable.metrics.push": False, "log_level": 3})
    asked = a.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for p in range(n)}, request_timeout=10)
    return [asked[TopicPartition(t, p)].result().offset for p in range(n)]
want = ends(src, "compare")
deadline = time.time() + 1800
while time.time() < deadline:
    try:
        if ends(tgt, topic) == want:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit("timed out waiting for " + topic)
PY
}

cpu_of() { # pid -> CPU seconds (utime + stime) of the whole process
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

echo "== kmirror" >&2
cat >"$work/kmirror.properties" <<EOF
clusters = source, target
source.bootstrap.servers = $src
target.bootstrap.servers = $tgt
source->target.enabled = true
source->target.topics = compare
refresh.topics.interval.seconds = 1
EOF
start=$(date +%s.%N)
(cd "$work" && exec "$kmirror" run --config "$work/kmirror.properties" --metrics-addr 127.0.0.1:0 >"$work/kmirror.log" 2>&1) &
kpid=$!
pids+=($kpid)
wait_copied source.compare
k_end=$(date +%s.%N)
k_cpu=$(cpu_of "$kpid")
metrics_addr=$(grep -o 'metrics on http://[^/]*' "$work/kmirror.log" | head -1 | sed 's|metrics on http://||')
wire_bytes=$("$python" - "$metrics_addr" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=10).read().decode()
print(int(sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("kmirror_bytes_sent_total{"))))
PY
)
kill -TERM "$kpid"
wait "$kpid" || true
k_secs=$(echo "$k_end - $start" | bc -l)

echo "== librdkafka consume -> produce pipeline (confluent-kafka)" >&2
# Its target topic exists beforehand with the same partitions, as kmirror creates its own.
"$python" - "$tgt" "$partitions" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({"bootstrap.servers": sys.argv[1], "enable.metrics.push": False})
for f in admin.create_topics([NewTopic("pipeline.compare", num_partitions=int(sys.argv[2]), replication_factor=1)]).values():
    f.result(30)
PY
start=$(date +%s.%N)
p_cpu=$("$python" - "$src" "$tgt" "$records" <<'PY'
import resource, sys
from confluent_kafka import Consumer, Producer
src, tgt, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
common = {"enable.metrics.push": False}
c = Consumer({**common, "bootstrap.servers": src, "group.id": "compare-pipeline", "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "isolation.level": "read_committed"})
p = Producer({**common, "bootstrap.servers": tgt, "compression.type": "lz4", "linger.ms": 5,
              "enable.idempotence": True, "acks": "all", "batch.size": 262144})
c.subscribe(["compare"])
copied = 0
while copied < total:
    for m in c.consume(num_messages=10000, timeout=1.0):
        if m.error():
            continue
        while True:
            try:
                p.produce("pipeline.compare", key=m.key(), value=m.value(), headers=m.headers(),
                          partition=m.partition(), timestamp=m.timestamp()[1])
                break
            except BufferError:
                p.poll(0.05)
        copied += 1
    p.poll(0)
left = p.flush(300)
if left:
    raise SystemExit(f"{left} records not delivered")
c.close()
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime)
PY
)
wait_copied pipeline.compare
p_secs=$(echo "$(date +%s.%N) - $start" | bc -l)

"$python" - "$records" "$wire_bytes" "$k_secs" "$k_cpu" "$p_secs" "$p_cpu" <<'PY'
import sys
records, wire = int(sys.argv[1]), int(sys.argv[2])
k_secs, k_cpu, p_secs, p_cpu = map(float, sys.argv[3:])
gb = wire / 1e9
print(f"{records} records, {wire / 1e6:.1f} MB on the wire (lz4 batches), two Apache Kafka brokers on 127.0.0.1")
print(f"{'replicator':<34} {'seconds':>8} {'MB/s':>8} {'records/s':>10} {'CPU s':>7} {'CPU s/GB':>9}")
for name, secs, cpu in (("kmirror", k_secs, k_cpu), ("librdkafka consume->produce", p_secs, p_cpu)):
    print(f"{name:<34} {secs:8.1f} {wire / 1e6 / secs:8.1f} {records / secs:10.0f} {cpu:7.2f} {cpu / gb:9.1f}")
if k_cpu < 0.05:
    print("kmirror's CPU time is under 5 clock ticks: too coarse for a ratio, use more records")
else:
    print(f"kmirror CPU per GB = {k_cpu / p_cpu:.3f} x the librdkafka pipeline's (1/{p_cpu / k_cpu:.1f})")
PY
