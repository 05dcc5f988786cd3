"""kmirror, MirrorMaker 2 and a librdkafka consume -> produce pipeline, one after the other on the
same two Apache Kafka brokers; run by benches/compare.sh (which starts the brokers and builds
kmirror), with the project venv's Python (confluent-kafka).

Per data set, the source topic is filled once before any replicator starts; each replicator then
copies it into a target topic of its own (MM2 and kmirror under their own cluster aliases, the
pipeline into pipeline.<topic>), while a reader on the target (librdkafka, in its own process)
notes when each record arrives and samples the replicator's CPU time and peak RSS from /proc at
the first and the last record. After the catch-up, records are produced at a fixed rate into a
second topic for the latency figures. kmirror's verifier (`kmirror bench verify`) judges every
copy: lost, duplicated, out of order. On the first data set, consumer groups committed on the
source at chosen offsets are translated through each tool's checkpoints by MM2's own
RemoteClusterUtils.translateOffsets (scripts/kafka/mm2-tools.sh), and the records a consumer
moved to the target would read twice or skip are counted.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

COMMON = {"enable.metrics.push": False, "log_level": 3}
HZ = os.sysconf("SC_CLK_TCK")

# name, partitions, records, value bytes, producer settings, latency rate (records/s)
DATASETS = {
    "lz4-1k": (4, 100_000, 1024, {"compression.type": "lz4", "linger.ms": 20, "batch.size": 16384}, 1000),
    "small-100b": (4, 200_000, 100, {"compression.type": "none", "linger.ms": 0}, 1000),
    "large-100k": (4, 1_000, 100 * 1024, {"compression.type": "none", "linger.ms": 5, "batch.size": 1 << 20}, 20),
    "parts-1000": (1000, 100_000, 1024, {"compression.type": "lz4", "linger.ms": 20, "batch.size": 16384}, 1000),
}
LATENCY_SECONDS = 10


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def now_us():
    return int(time.time() * 1e6)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, **COMMON})


def create_topics(bootstrap, names, partitions):
    a = admin(bootstrap)  # kept alive until the futures are done
    fs = a.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    for f in fs.values():
        f.result(60)


def ends(bootstrap, topic, partitions):
    a = admin(bootstrap)
    asked = a.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}, request_timeout=30)
    return [asked[TopicPartition(topic, p)].result().offset for p in range(partitions)]


def value(seq, size):
    head = f"{seq}:{now_us()}:".encode()
    return head + b"x" * max(0, size - len(head))


def produce(bootstrap, topic, partitions, count, size, settings, sent_path, rate=0):
    """Records keyed k<N> (key N always to partition N mod partitions), values in the
    verifier's format; writes the per-key counts to sent_path. Returns payload bytes."""
    keys = partitions * 4
    sent = [0] * keys
    # Idempotent: a batch retried on a brand-new topic must not overtake the next one (the
    # source's order is what every copy is checked against).
    p = Producer({"bootstrap.servers": bootstrap, **COMMON, "acks": "all", "enable.idempotence": True, **settings})
    errors = []
    payload = 0
    started = time.time()
    for i in range(count):
        k = i % keys
        v = value(sent[k], size)
        key = f"k{k}".encode()
        while True:
            try:
                p.produce(topic, key=key, value=v, partition=k % partitions,
                          on_delivery=lambda err, msg: err and errors.append(str(err)))
                break
            except BufferError:
                p.poll(0.05)
        sent[k] += 1
        payload += len(key) + len(v)
        if rate:
            p.poll(0)
            due = started + (i + 1) / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
        elif i % 5000 == 0:
            p.poll(0)
    left = p.flush(300)
    if left or errors:
        raise SystemExit(f"produce to {topic}: {left} undelivered, errors {errors[:3]}")
    with open(sent_path, "w") as f:
        f.write("".join(f"{n}\n" for n in sent))
    return payload


def watch_ends(bootstrap, topic, partitions, expected, pid, marks, done):
    """Polls the target partitions' end offsets (every 20 ms), whatever the reader's own pace.
    The catch-up starts at the last poll that found the target empty (sent time; the replicator's
    CPU time sampled then is its start-up cost) and ends when a poll that finds every record
    is answered: both bounds err on the slow side, by a poll at most."""
    a = admin(bootstrap)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    empty = None
    while not done.is_set():
        before = {"t": time.time(), "cpu": cpu_seconds(pid)}
        try:
            asked = a.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=10)
            total = sum(max(0, f.result().offset) for f in asked.values())
        except Exception:  # the topic does not exist yet
            total = 0
        if total == 0:
            empty = before
        elif "first" not in marks:
            marks["first"] = empty or before
        if total >= expected:
            marks["last"] = {"t": time.time(), "cpu": cpu_seconds(pid), "rss": peak_rss_mib(pid)}
            return
        time.sleep(0.02)


def probe_main(args):
    """The reader: every record of a target topic with its arrival time (for the verifier and
    the latency figures), and the catch-up moments from the target's end offsets. Prints a JSON
    summary."""
    bootstrap, topic, partitions, expected, pid, out_path, timeout = (
        args.bootstrap, args.topic, args.partitions, args.expected, args.pid, args.out, args.timeout)
    marks, done = {}, threading.Event()
    watcher = threading.Thread(target=watch_ends, args=(bootstrap, topic, partitions, expected, pid, marks, done))
    watcher.start()
    c = Consumer({"bootstrap.servers": bootstrap, **COMMON, "group.id": f"probe-{os.getpid()}",
                  "enable.auto.commit": False, "topic.metadata.refresh.interval.ms": 500,
                  "fetch.wait.max.ms": 20, "fetch.queue.backoff.ms": 0})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = 0
    deadline = time.time() + timeout
    with open(out_path, "w") as out:
        while got < expected and time.time() < deadline:
            for m in c.consume(num_messages=10000, timeout=0.2):
                if m.error():
                    continue
                at = now_us()
                v = m.value() or b""
                seq, sent, _ = (v.split(b":", 2) + [b"", b""])[:3]
                out.write(f"{(m.key() or b'-').decode()} {seq.decode()}:{sent.decode()}: {at}\n")
                got += 1
    c.close()
    watcher.join(max(0.0, deadline - time.time()))
    done.set()
    watcher.join()
    print(json.dumps({"received": got, "first": marks.get("first"),
                      "last": marks.get("last") if got >= expected else None}))


class Probe:
    def __init__(self, script, bootstrap, topic, partitions, expected, pid, out, timeout):
        self.proc = subprocess.Popen(
            [sys.executable, script, "probe", "--bootstrap", bootstrap, "--topic", topic,
             "--partitions", str(partitions), "--expected", str(expected), "--pid", str(pid),
             "--out", out, "--timeout", str(timeout)], stdout=subprocess.PIPE)

    def result(self):
        out, _ = self.proc.communicate()
        return json.loads(out)


def verify(kmirror, sent, received):
    out = subprocess.run([kmirror, "bench", "verify", "--sent", sent, "--received", received],
                         capture_output=True, text=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("verdict ")]
    if not line:
        raise SystemExit(f"kmirror bench verify failed: {out.stdout}{out.stderr}")
    return dict(kv.split("=", 1) for kv in line[0].split()[1:])


# ---------------------------------------------------------------- the replicators

ONE_BROKER = """replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset-syncs.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
"""


def properties(src_alias, tgt_alias, src, tgt, topics, extra=""):
    """The mm2.properties both MM2 and kmirror run (each with its own aliases)."""
    return f"""clusters = {src_alias}, {tgt_alias}
{src_alias}.bootstrap.servers = {src}
{tgt_alias}.bootstrap.servers = {tgt}
{src_alias}->{tgt_alias}.enabled = true
{src_alias}->{tgt_alias}.topics = {", ".join(topics)}
emit.heartbeats.enabled = false
heartbeats.replication.enabled = false
refresh.topics.interval.seconds = 1
refresh.groups.interval.seconds = 1
emit.checkpoints.interval.seconds = 1
offset.flush.interval.ms = 1000
{ONE_BROKER}{extra}"""


def create_ready(bootstrap, names, partitions):
    """Creates topics and waits until every partition has a leader that answers: the controller
    answers before the broker has opened every partition's log (15 to 20 s for 1,000 partitions
    on two cores), and no replicator's figures should include that wait."""
    create_topics(bootstrap, names, partitions)
    deadline = time.time() + 180
    for name in names:
        while True:
            try:
                ends(bootstrap, name, partitions)
                break
            except Exception:
                if time.time() > deadline:
                    raise SystemExit(f"topic {name} on {bootstrap}: partitions not ready after 180 s")
                time.sleep(0.2)


def create_target_topics(o, r, ds, topics):
    """Every replicator writes into target topics created beforehand, empty, with the source's
    partitions."""
    create_ready(o.target, [r.target_topic(t) for t in topics], DATASETS[ds][0])


class Replicator:
    name = ""
    src_alias = tgt_alias = None

    def target_topic(self, topic):
        return f"{self.src_alias}.{topic}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Kmirror(Replicator):
    name = "kmirror"

    def __init__(self, o, ds, topics, codec):
        self.src_alias, self.tgt_alias = f"k{ds}".replace("-", ""), "ktarget"
        work = os.path.join(o.work, f"kmirror-{ds}")
        os.makedirs(work, exist_ok=True)
        path = os.path.join(work, "mm2.properties")
        with open(path, "w") as f:
            f.write(properties(self.src_alias, self.tgt_alias, o.source, o.target, topics,
                               f"state.dir = {work}/state\n"))
        create_target_topics(o, self, ds, topics)
        self.proc = subprocess.Popen([o.kmirror, "run", "--config", path], cwd=work,
                                     stdout=open(os.path.join(work, "kmirror.log"), "w"), stderr=subprocess.STDOUT,
                                     env={**os.environ, "RUST_LOG": "warn"})
        self.pid = self.proc.pid


class Mm2(Replicator):
    name = "MirrorMaker 2"

    def __init__(self, o, ds, topics, codec):
        self.src_alias, self.tgt_alias = f"m{ds}".replace("-", ""), "mtarget"
        work = os.path.join(o.work, f"mm2-{ds}")
        os.makedirs(work, exist_ok=True)
        path = os.path.join(work, "mm2.properties")
        # Settings an operator would give it here: as many tasks as the data set has
        # partitions (up to 4), the source's codec on the target.
        extra = f"tasks.max = 4\n{self.tgt_alias}.producer.compression.type = {codec}\n"
        with open(path, "w") as f:
            f.write(properties(self.src_alias, self.tgt_alias, o.source, o.target, topics, extra))
        create_target_topics(o, self, ds, topics)
        env = {**os.environ, "KMIRROR_KAFKA_PROFILE": "bench", "KMIRROR_KAFKA_HEAP": o.mm2_heap}
        self.proc = subprocess.Popen(
            [os.path.join(o.repo, "scripts/kafka/node.sh"), "java", "org.apache.kafka.connect.mirror.MirrorMaker",
             path, "--clusters", self.tgt_alias],
            cwd=work, stdout=open(os.path.join(work, "mm2.log"), "w"), stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid  # node.sh execs the JVM


PIPELINE = r"""
import signal, sys
from confluent_kafka import Consumer, Producer
src, tgt, codec, topics = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
common = {"enable.metrics.push": False, "log_level": 3}
c = Consumer({**common, "bootstrap.servers": src, "group.id": "compare-pipeline-" + topics[0],
              "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": "read_committed",
              "topic.metadata.refresh.interval.ms": 1000, "fetch.wait.max.ms": 20})
p = Producer({**common, "bootstrap.servers": tgt, "compression.type": codec, "linger.ms": 5,
              "enable.idempotence": True, "acks": "all", "batch.size": 262144})
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
c.subscribe(topics)
while running:
    for m in c.consume(num_messages=10000, timeout=0.1):
        if m.error():
            continue
        while True:
            try:
                p.produce("pipeline." + m.topic(), key=m.key(), value=m.value(), headers=m.headers(),
                          partition=m.partition(), timestamp=m.timestamp()[1])
                break
            except BufferError:
                p.poll(0.05)
    p.poll(0)
p.flush(60)
c.close()
"""


class Pipeline(Replicator):
    name = "librdkafka pipeline"

    def __init__(self, o, ds, topics, codec):
        create_target_topics(o, self, ds, topics)
        self.proc = subprocess.Popen([sys.executable, "-c", PIPELINE, o.source, o.target, codec, *topics])
        self.pid = self.proc.pid

    def target_topic(self, topic):
        return f"pipeline.{topic}"


# ---------------------------------------------------------------- failover quality

GROUP_KINDS = ["start", "batch boundary", "mid-batch", "far behind", "head"]


def batch_bases(o, topic, partition, around):
    """Base offsets of the batches from the one holding `around` on (kmirror inspect)."""
    out = subprocess.run([o.kmirror, "inspect", "-b", o.source, "-t", topic, "-p", str(partition),
                          "-o", str(around), "--max-batches", "3"], capture_output=True, text=True, check=True)
    bases = []
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0].isdigit() and f[1].isdigit():
            bases.append(int(f[0]))
    return bases


def commit_groups(o, topic, partitions, prefix):
    """Commits one group per kind on the source; returns {group: {partition: offset}}."""
    end = ends(o.source, topic, partitions)
    groups = {}
    for kind in GROUP_KINDS:
        offsets = {}
        for p in range(partitions):
            bases = batch_bases(o, topic, p, end[p] // 2)
            boundary = bases[1] if len(bases) > 1 else end[p] // 2
            offsets[p] = {"start": 0, "batch boundary": boundary, "mid-batch": boundary + 3,
                          "far behind": end[p] // 50 + 3, "head": end[p]}[kind]
        group = f"{prefix}-{kind.replace(' ', '-')}"
        c = Consumer({"bootstrap.servers": o.source, **COMMON, "group.id": group, "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(topic, p, off) for p, off in offsets.items()], asynchronous=False)
        c.close()
        groups[group] = offsets
    return groups


def translate(o, alias, group):
    out = subprocess.run([os.path.join(o.repo, "scripts/kafka/mm2-tools.sh"), "translate", o.target, alias, group],
                         capture_output=True, text=True)
    got = {}
    for line in out.stdout.splitlines():
        t, p, off = line.split()
        got[(t, int(p))] = int(off)
    return got


def failover(o, r, topic, groups):
    """Waits until the translations of every group are stable (two reads 3 s apart, at most 90 s),
    then counts, per kind, what a consumer moved to the target would read twice or skip. The
    target topic was created empty by the replicator and verified exact, so the target offset of
    source record c is c."""
    remote = r.target_topic(topic)
    deadline = time.time() + 90
    previous = None
    while time.time() < deadline:
        now = {g: translate(o, r.src_alias, g) for g in groups}
        if now == previous and all(len(v) == len(groups[g]) for g, v in now.items()):
            break
        previous = now
        time.sleep(3)
    rows = {}
    for (group, offsets), kind in zip(groups.items(), GROUP_KINDS):
        reread = skipped = missing = 0
        for p, c in offsets.items():
            d = now[group].get((remote, p))
            if d is None:
                missing += 1
                continue
            reread += max(0, c - d)
            skipped += max(0, d - c)
        rows[kind] = {"reread": reread, "skipped": skipped, "untranslated": missing, "partitions": len(offsets)}
    return rows


# ---------------------------------------------------------------- the run

def warm_up(o):
    """The same warm-up for both brokers, before anything is measured: 40 MB produced to the
    source, copied to the target and read back there by librdkafka (both brokers' produce and
    fetch paths are compiled by the JIT before the first replicator runs)."""
    log("warming both brokers up (40 MB through a librdkafka copy)")
    create_topics(o.source, ["warmup"], 4)
    create_topics(o.target, ["warmup"], 4)
    produce(o.source, "warmup", 4, 40_000, 1024, {"compression.type": "lz4", "linger.ms": 20}, os.devnull)
    c = Consumer({"bootstrap.servers": o.source, **COMMON, "group.id": "warmup", "auto.offset.reset": "earliest"})
    p = Producer({"bootstrap.servers": o.target, **COMMON, "compression.type": "lz4", "linger.ms": 20})
    c.subscribe(["warmup"])
    copied = 0
    deadline = time.time() + 300
    while copied < 40_000 and time.time() < deadline:
        for m in c.consume(num_messages=10000, timeout=0.5):
            if not m.error():
                while True:
                    try:
                        p.produce("warmup", key=m.key(), value=m.value(), partition=m.partition())
                        break
                    except BufferError:
                        p.poll(0.05)
                copied += 1
        p.poll(0)
    p.flush(60)
    c.close()
    c = Consumer({"bootstrap.servers": o.target, **COMMON, "group.id": "warmup", "auto.offset.reset": "earliest"})
    c.subscribe(["warmup"])
    read = 0
    while read < 40_000 and time.time() < deadline:
        read += len([m for m in c.consume(num_messages=10000, timeout=0.5) if not m.error()])
    c.close()


def run_tool(o, cls, ds, topic, payload, sent, groups, script):
    partitions, count, size, settings, rate = DATASETS[ds]
    codec = settings.get("compression.type", "none")
    # A latency topic per tool: each copies only the records produced while it runs.
    lat_topic = f"{ds}-latency-{cls.__name__.lower()}"
    create_ready(o.source, [lat_topic], partitions)
    started = time.time()
    r = cls(o, ds, [topic, lat_topic], codec)
    log(f"{ds}: {r.name} (pid {r.pid})")
    base = os.path.join(o.work, f"{ds}-{r.name.split()[0]}")
    probe = Probe(script, o.target, r.target_topic(topic), partitions, count, r.pid, base + ".recv", o.timeout)
    caught = probe.result()
    if r.proc.poll() is not None:
        raise SystemExit(f"{r.name} exited early ({r.proc.returncode}); see {o.work}")
    if caught["last"] is None:
        r.stop()
        raise SystemExit(f"{ds}: {r.name} copied {caught['received']} of {count} records within {o.timeout} s")
    # Latency: a fixed rate into the second topic, the replicator running.
    lat_count = rate * LATENCY_SECONDS
    lprobe = Probe(script, o.target, r.target_topic(lat_topic), partitions, lat_count, r.pid, base + ".lat.recv",
                   LATENCY_SECONDS + 120)
    time.sleep(1)
    lat_sent = base + ".lat.sent"
    produce(o.source, lat_topic, partitions, lat_count, size, {**settings, "linger.ms": 0}, lat_sent, rate=rate)
    lprobe.result()
    fail = failover(o, r, topic, groups) if groups and not isinstance(r, Pipeline) else None
    rss = peak_rss_mib(r.pid)
    r.stop()
    v = verify(o.kmirror, sent, base + ".recv")
    lv = verify(o.kmirror, lat_sent, base + ".lat.recv")
    secs = caught["last"]["t"] - caught["first"]["t"]
    return {
        "tool": r.name,
        "first_s": caught["first"]["t"] - started,
        "done_s": caught["last"]["t"] - started,
        "secs": secs,
        "mb_s": payload / 1e6 / secs,
        "rec_s": count / secs,
        "cpu_start": caught["first"]["cpu"],
        "cpu_all": caught["last"]["cpu"],
        "cpu_gb": (caught["last"]["cpu"] - caught["first"]["cpu"]) / (payload / 1e9),
        "rss": rss,
        "p50": lv["p50_ms"],
        "p99": lv["p99_ms"],
        "lat_lost": int(lv["lost"]) + int(lv["duplicates"]) + int(lv["reordered"]),
        "lost": int(v["lost"]),
        "dup": int(v["duplicates"]),
        "order": int(v["reordered"]),
        "failover": fail,
    }


def table(ds, payload, rows):
    partitions, count, size, settings, rate = DATASETS[ds]
    print(f"\n### {ds}: {count:,} records of {size:,} B, {partitions} partitions, "
          f"{settings.get('compression.type')}, linger.ms {settings.get('linger.ms')}; "
          f"{payload / 1e6:.1f} MB of keys and values; latency at {rate} records/s for {LATENCY_SECONDS} s\n")
    print("| replicator | catch-up MB/s | records/s | CPU s/GB | start-up CPU s | peak RSS MiB | "
          "latency p50 ms | p99 ms | first record after s | all records after s | CPU s in all | lost | duplicated | "
          "out of order |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['tool']} | {r['mb_s']:.1f} | {r['rec_s']:,.0f} | {r['cpu_gb']:.1f} | {r['cpu_start']:.1f} | "
              f"{r['rss']:.0f} | {r['p50']} | {r['p99']} | {r['first_s']:.1f} | {r['done_s']:.1f} | {r['cpu_all']:.2f} | {r['lost']} | {r['dup']} | {r['order']} |")
    by = {r["tool"]: r for r in rows}
    k, m = by.get("kmirror"), by.get("MirrorMaker 2")
    if k and m:
        cpu = (f"x{k['cpu_gb'] / m['cpu_gb']:.3f} (1/{m['cpu_gb'] / k['cpu_gb']:.1f})" if k["cpu_gb"] > 0
               else "below the clock tick")
        print(f"\nkmirror / MM2: catch-up throughput x{k['mb_s'] / m['mb_s']:.2f}, CPU per GB {cpu}, peak RSS "
              f"x{k['rss'] / m['rss']:.3f}, first record {k['first_s']:.1f} s vs {m['first_s']:.1f} s")
    sys.stdout.flush()


def failover_table(rows):
    print("\n### failover: groups committed on the source, translated through each tool's checkpoints by "
          "MM2's RemoteClusterUtils.translateOffsets\n")
    print("| group committed at | " + " | ".join(f"{r['tool']}: read twice | skipped | untranslated" for r in rows) + " |")
    print("|---|" + "---:|---:|---:|" * len(rows))
    for kind in GROUP_KINDS:
        cells = []
        for r in rows:
            f = r["failover"][kind]
            cells.append(f"{f['reread']} | {f['skipped']} | {f['untranslated']} of {f['partitions']}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("probe")
    for a in ("bootstrap", "topic", "out"):
        pr.add_argument(f"--{a}", required=True)
    for a in ("partitions", "expected", "pid", "timeout"):
        pr.add_argument(f"--{a}", type=int, required=True)
    run = sub.add_parser("run")
    for a in ("source", "target", "kmirror", "repo", "work"):
        run.add_argument(f"--{a}", required=True)
    run.add_argument("--datasets", default=",".join(DATASETS))
    run.add_argument("--tools", default="mm2,kmirror,pipeline")
    run.add_argument("--scale", type=float, default=1.0, help="multiplies every record count")
    run.add_argument("--timeout", type=int, default=600, help="seconds a catch-up may take")
    run.add_argument("--mm2-heap", default="1g")
    o = ap.parse_args()
    if o.cmd == "probe":
        return probe_main(o)
    script = os.path.abspath(__file__)
    if o.scale != 1.0:
        for name, (p, n, s, st, rate) in list(DATASETS.items()):
            DATASETS[name] = (p, max(p * 10, int(n * o.scale)), s, st, rate)
    warm_up(o)
    classes = {"mm2": Mm2, "kmirror": Kmirror, "pipeline": Pipeline}
    failovers = []
    for i, ds in enumerate(o.datasets.split(",")):
        partitions, count, size, settings, _ = DATASETS[ds]
        topic = ds
        create_topics(o.source, [topic], partitions)
        log(f"{ds}: filling the source with {count} records of {size} B in {partitions} partitions")
        sent = os.path.join(o.work, f"{ds}.sent")
        payload = produce(o.source, topic, partitions, count, size, settings, sent)
        groups = commit_groups(o, topic, partitions, f"cmp-{ds}") if i == 0 else None
        tools = [t for t in o.tools.split(",")]
        # Alternate who goes first between MM2 and kmirror; the pipeline last.
        pair = [t for t in tools if t != "pipeline"]
        if i % 2 == 1:
            pair.reverse()
        order = pair + [t for t in tools if t == "pipeline"]
        rows = [run_tool(o, classes[t], ds, topic, payload, sent, groups, script) for t in order]
        table(ds, payload, rows)
        if groups:
            failovers = [r for r in rows if r["failover"]]
    if failovers:
        failover_table(failovers)


if __name__ == "__main__":
    main()
