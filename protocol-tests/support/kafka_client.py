#!/usr/bin/env python3
"""Independent Kafka client for kmirror's tests, on confluent-kafka (librdkafka).

Subcommands read a JSON request on stdin and print a JSON answer on stdout; binary fields
travel as hex strings so that any byte survives. Headers are lists of [key, value] pairs,
in order, duplicates kept, value null for a null header value.

  create-topic  {"bootstrap", "topic", "partitions", "replication_factor"?, "config"?: {...},
                 "replicas"?: [[broker ids] per partition]}
  produce       {"bootstrap", "topic", "partition", "config": {...}, "records": [
                   {"key": hex|null, "value": hex|null, "headers": [[k, hex|null]], "timestamp": ms|null}]}
                -> {"offsets": [...]}
  produce-seq   {"bootstrap", "topic", "partitions", "prefix", "count", "seconds", "start"} -> {"produced"}
  consume       {"bootstrap", "topic", "partition", "offset", "count", "timeout_s"}
                -> {"records": [{"offset", "key", "value", "headers", "timestamp_type", "timestamp"}]}
                ("offset" null: from the committed offset of "group")
  commit        {"bootstrap", "group", "offsets": [[topic, partition, offset]]} -> {"committed"}
  committed     {"bootstrap", "group"} -> {"offsets": [[topic, partition, offset]]}
  describe      {"bootstrap", "topic"} -> {"partitions": [{"partition", "leader", "replicas", "isr"}]}
  brokers       {"bootstrap"} -> {"brokers": n} (0 while the cluster does not answer)
  delete-topic  {"bootstrap", "topic"} -> {"deleted"}: returns once the cluster no longer lists it
  member        {"bootstrap", "group", "topic", "protocol": "classic"|"consumer"} on the first
                line of stdin: joins the group (KIP-848 with "consumer"), prints "joined" once it
                has partitions, stays (committing nothing) until stdin closes, then leaves and
                prints "left"

Every request may carry "security": librdkafka settings (security.protocol, ssl.*, sasl.*)
added to each client's configuration.
"""
import json
import sys

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

COMMON = {
    # No KIP-714 client telemetry pushes: they only add requests to what the tests look at.
    "enable.metrics.push": False,
}


def unhex(v):
    return None if v is None else bytes.fromhex(v)


def hexed(v):
    return None if v is None else v.hex()


def create_topic(req):
    admin = AdminClient({"bootstrap.servers": req["bootstrap"], **COMMON, **req.get("security", {})})
    if req.get("replicas"):
        # Explicit replicas per partition, the first one its preferred leader.
        # librdkafka wants the partition count spelled out with an assignment.
        topic = NewTopic(req["topic"], num_partitions=len(req["replicas"]), replica_assignment=req["replicas"],
                         config=req.get("config", {}))
    else:
        # Replication factor -1: the cluster's default.replication.factor (KIP-464).
        topic = NewTopic(req["topic"], num_partitions=req["partitions"],
                         replication_factor=req.get("replication_factor", -1), config=req.get("config", {}))
    futures = admin.create_topics([topic])
    for _, f in futures.items():
        f.result(timeout=30)
    return {"created": req["topic"]}


def produce(req):
    conf = {"bootstrap.servers": req["bootstrap"], **COMMON, **req.get("security", {}), "linger.ms": 100, "batch.num.messages": 100000}
    conf.update(req.get("config", {}))
    producer = Producer(conf)
    if req.get("wait_for_metadata"):
        # Produce only once the partition's leader is known: records produced before that wait
        # in librdkafka's unassigned queue and leave it in batches cut by timing.
        producer.list_topics(req["topic"], timeout=30)
    offsets = [None] * len(req["records"])
    errors = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                offsets[i] = msg.offset()
        return cb

    for i, r in enumerate(req["records"]):
        kwargs = {
            "topic": req["topic"],
            "partition": req["partition"],
            "key": unhex(r.get("key")),
            "value": unhex(r.get("value")),
            "headers": [(k, unhex(v)) for k, v in r.get("headers", [])],
            "on_delivery": on_delivery(i),
        }
        if r.get("timestamp") is not None:
            kwargs["timestamp"] = r["timestamp"]
        producer.produce(**kwargs)
    remaining = producer.flush(60)
    if remaining or errors:
        raise SystemExit(f"produce failed: {remaining} undelivered, errors: {errors[:5]}")
    return {"offsets": offsets}


def produce_seq(req):
    """Writes records "<prefix>-<i>" for i in [start, start+count) spread over `seconds`, to
    `partitions` partitions round robin, flushing as it goes: a steady stream to replicate
    while kmirror is being killed."""
    import time
    conf = {"bootstrap.servers": req["bootstrap"], **COMMON, **req.get("security", {}), "linger.ms": 5}
    conf.update(req.get("config", {}))
    producer = Producer(conf)
    errors = []
    start, count, partitions = req.get("start", 0), req["count"], req["partitions"]
    pause = req.get("seconds", 0) / max(count, 1)
    for i in range(start, start + count):
        producer.produce(req["topic"], partition=i % partitions, key=str(i).encode(),
                         value=f"{req['prefix']}-{i}".encode(),
                         on_delivery=lambda err, msg: err and errors.append(str(err)))
        if pause:
            producer.poll(0)
            time.sleep(pause)
    remaining = producer.flush(60)
    if remaining or errors:
        raise SystemExit(f"produce failed: {remaining} undelivered, errors: {errors[:5]}")
    return {"produced": count}


def consume(req):
    conf = {
        "bootstrap.servers": req["bootstrap"], **COMMON, **req.get("security", {}),
        "group.id": req.get("group") or "kmirror-test-reader", "enable.auto.commit": False,
        "isolation.level": req.get("isolation", "read_committed"),
    }
    if req.get("offset") is None:
        # Reading from a group's committed offset must not fall back silently.
        conf["auto.offset.reset"] = "error"
    consumer = Consumer(conf)
    if req.get("offset") is None:
        # No offset: librdkafka starts from the group's committed offset.
        consumer.assign([TopicPartition(req["topic"], req["partition"])])
    else:
        consumer.assign([TopicPartition(req["topic"], req["partition"], req["offset"])])
    out = []
    import time
    deadline = time.time() + req.get("timeout_s", 30)
    while len(out) < req["count"] and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        ts_type, ts = msg.timestamp()
        out.append({
            "offset": msg.offset(),
            "key": hexed(msg.key()),
            "value": hexed(msg.value()),
            "headers": [[k, hexed(v)] for k, v in (msg.headers() or [])],
            "timestamp_type": ts_type,
            "timestamp": ts,
        })
    consumer.close()
    return {"records": out}


def commit(req):
    """Commits offsets for a group the way a consumer outside any rebalance does
    (librdkafka sends generation -1 for a consumer that never joined)."""
    consumer = Consumer({"bootstrap.servers": req["bootstrap"], **COMMON, "group.id": req["group"],
                         "enable.auto.commit": False})
    tps = [TopicPartition(t, p, o) for t, p, o in req["offsets"]]
    result = consumer.commit(offsets=tps, asynchronous=False)
    consumer.close()
    errors = [str(tp.error) for tp in result if tp.error is not None]
    if errors:
        raise SystemExit(f"commit failed: {errors}")
    return {"committed": len(tps)}


def committed(req):
    """The group's committed offsets. The admin client hands retriable errors up (a coordinator
    still loading its partition after a broker start, a coordinator that moved): those are
    asked again, for up to 30 s."""
    import time
    from confluent_kafka import ConsumerGroupTopicPartitions
    admin = AdminClient({"bootstrap.servers": req["bootstrap"], **COMMON})
    deadline = time.time() + 30
    while True:
        futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(req["group"])], request_timeout=30)
        try:
            out = []
            for _, f in futures.items():
                for tp in f.result().topic_partitions:
                    if tp.error is None and tp.offset >= 0:
                        out.append([tp.topic, tp.partition, tp.offset])
            return {"offsets": sorted(out)}
        except KafkaException as e:
            err = e.args[0]
            # librdkafka does not flag the coordinator errors as retriable for this call.
            coordinator = err.code() in (KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                         KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR)
            if not (err.retriable() or coordinator) or time.time() > deadline:
                raise
            time.sleep(0.2)


def describe(req):
    from confluent_kafka import TopicCollection
    admin = AdminClient({"bootstrap.servers": req["bootstrap"], **COMMON, **req.get("security", {})})
    futures = admin.describe_topics(TopicCollection([req["topic"]]), request_timeout=30)
    out = []
    for _, f in futures.items():
        for p in f.result().partitions:
            out.append({"partition": p.id, "leader": p.leader.id if p.leader else -1,
                        "replicas": [n.id for n in p.replicas], "isr": [n.id for n in p.isr]})
    return {"partitions": sorted(out, key=lambda p: p["partition"])}


def brokers(req):
    admin = AdminClient({"bootstrap.servers": req["bootstrap"], **COMMON})
    try:
        return {"brokers": len(admin.list_topics(timeout=5).brokers)}
    except KafkaException:
        return {"brokers": 0}


def delete_topic(req):
    import time
    admin = AdminClient({"bootstrap.servers": req["bootstrap"], **COMMON})
    for _, f in admin.delete_topics([req["topic"]], operation_timeout=30).items():
        f.result(timeout=60)
    deadline = time.time() + 60
    while req["topic"] in admin.list_topics(timeout=10).topics:
        if time.time() > deadline:
            raise SystemExit(f"{req['topic']} still listed 60 s after its deletion")
        time.sleep(0.2)
    return {"deleted": req["topic"]}


def member(req):
    import threading
    conf = {"bootstrap.servers": req["bootstrap"], **COMMON, "group.id": req["group"],
            "group.protocol": req.get("protocol", "classic"), "enable.auto.commit": False,
            "auto.offset.reset": "earliest"}
    consumer = Consumer(conf)
    consumer.subscribe([req["topic"]])
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    joined = False
    while not done.is_set():
        consumer.poll(0.2)
        if not joined and consumer.assignment():
            joined = True
            print("joined", flush=True)
    consumer.close()
    print("left", flush=True)


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "member":
        member(json.loads(sys.stdin.readline()))
        return
    commands = {"create-topic": create_topic, "produce": produce, "produce-seq": produce_seq, "consume": consume,
                "commit": commit, "committed": committed, "describe": describe, "brokers": brokers,
                "delete-topic": delete_topic}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: kafka_client.py {{{'|'.join(commands)}|member}} < request.json")
    answer = commands[sys.argv[1]](json.load(sys.stdin))
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
