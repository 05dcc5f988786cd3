#!/usr/bin/env python3
"""Scenario steps for kmirror's Kafka tests on confluent-kafka (librdkafka): transactional
writes interleaved with plain ones, a transaction held open, reading a partition to its end,
altering a topic's configuration. Same conventions as kafka_client.py: bytes as hex, headers as
[key, value] pairs.

  transactions     {"bootstrap", "topic", "transactional_id", "tx_config"?, "plain_config"?,
                    "steps": [{"op": "begin"|"commit"|"abort"}
                              | {"op": "send", "producer": "tx"|"plain", "partition", "records"}]}
                   -> {"sent": [[producer, partition, offset], ...]} (one per record, in order)
  open-transaction argv[2] = JSON {"bootstrap", "topic", "transactional_id", "partition",
                    "records"}: begins, sends and flushes, prints "open" and waits for a line
                    "commit" or "abort" on stdin, does it, prints "done".
  read-all         {"bootstrap", "topic", "partition", "isolation"?, "timeout_s"?}
                   -> {"records": [...]} from offset 0 to the end of the partition
  alter-config     {"bootstrap", "topic", "set": {name: value}} -> {"altered"}
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

COMMON = {"enable.metrics.push": False}


def unhex(v):
    return None if v is None else bytes.fromhex(v)


def hexed(v):
    return None if v is None else v.hex()


def send(producer, topic, partition, records, name, sent):
    """Produces `records` and waits for every delivery, so that steps land in their order."""
    results = [None] * len(records)
    errors = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                results[i] = msg.offset()
        return cb

    for i, r in enumerate(records):
        kwargs = {"partition": partition, "key": unhex(r.get("key")), "value": unhex(r.get("value")),
                  "headers": [(k, unhex(v)) for k, v in r.get("headers", [])], "on_delivery": on_delivery(i)}
        if r.get("timestamp") is not None:
            kwargs["timestamp"] = r["timestamp"]
        producer.produce(topic, **kwargs)
    remaining = producer.flush(60)
    if remaining or errors:
        raise SystemExit(f"send failed: {remaining} undelivered, errors: {errors[:5]}")
    sent.extend([name, partition, o] for o in results)


def transactional(req, extra=None):
    conf = {"bootstrap.servers": req["bootstrap"], **COMMON, "transactional.id": req["transactional_id"],
            "transaction.timeout.ms": 300000, "linger.ms": 50}
    conf.update(extra or {})
    p = Producer(conf)
    p.init_transactions(60)
    return p


def transactions(req):
    tx = transactional(req, req.get("tx_config"))
    plain = Producer({"bootstrap.servers": req["bootstrap"], **COMMON, "linger.ms": 50,
                      **req.get("plain_config", {})})
    sent = []
    for step in req["steps"]:
        op = step["op"]
        if op == "begin":
            tx.begin_transaction()
        elif op == "commit":
            tx.commit_transaction(60)
        elif op == "abort":
            tx.abort_transaction(60)
        elif op == "send":
            producer = tx if step["producer"] == "tx" else plain
            send(producer, req["topic"], step["partition"], step["records"], step["producer"], sent)
        else:
            raise SystemExit(f"unknown step {op}")
    return {"sent": sent}


def open_transaction(req):
    tx = transactional(req)
    tx.begin_transaction()
    sent = []
    send(tx, req["topic"], req["partition"], req["records"], "tx", sent)
    print("open", flush=True)
    line = sys.stdin.readline().strip()
    if line == "commit":
        tx.commit_transaction(60)
    elif line == "abort":
        tx.abort_transaction(60)
    else:
        raise SystemExit(f"expected commit or abort, got {line!r}")
    print("done", flush=True)


def read_all(req):
    consumer = Consumer({"bootstrap.servers": req["bootstrap"], **COMMON, "group.id": "kmirror-test-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": req.get("isolation", "read_committed")})
    consumer.assign([TopicPartition(req["topic"], req["partition"], 0)])
    out = []
    deadline = time.time() + req.get("timeout_s", 60)
    while True:
        if time.time() > deadline:
            raise SystemExit(f"no end of {req['topic']}-{req['partition']} within the timeout ({len(out)} read)")
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                break
            raise KafkaException(msg.error())
        ts_type, ts = msg.timestamp()
        out.append({"offset": msg.offset(), "key": hexed(msg.key()), "value": hexed(msg.value()),
                    "headers": [[k, hexed(v)] for k, v in (msg.headers() or [])],
                    "timestamp_type": ts_type, "timestamp": ts})
    consumer.close()
    return {"records": out}


def alter_config(req):
    admin = AdminClient({"bootstrap.servers": req["bootstrap"], **COMMON})
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in req["set"].items()]
    resource = ConfigResource(ConfigResource.Type.TOPIC, req["topic"], incremental_configs=entries)
    for _, f in admin.incremental_alter_configs([resource]).items():
        f.result(timeout=30)
    return {"altered": req["topic"]}


def main():
    commands = {"transactions": transactions, "read-all": read_all, "alter-config": alter_config}
    if len(sys.argv) == 3 and sys.argv[1] == "open-transaction":
        open_transaction(json.loads(sys.argv[2]))
        return
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: kafka_scenarios.py {{{'|'.join(commands)}}} < request.json")
    json.dump(commands[sys.argv[1]](json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
