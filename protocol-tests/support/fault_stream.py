#!/usr/bin/env python3
"""The continuous keyed stream of kmirror's fault suite, on confluent-kafka (librdkafka): a
producer writing to the source for as long as a scenario runs, and a consumer reading the
target meanwhile and noting when each record arrived.

Records are those of `kmirror bench e2e` (src/bench/verify.rs): key `k<n>`, value
`<sequence>:<send time in µs>:` padded with `x`, sequences counting from 0 per key, key n always
on partition n mod partitions, so that the target must hold every record once, in sequence
order per key.

  produce  first stdin line: {"bootstrap", "topic", "partitions", "keys", "rate", "value_size",
           "config"?}. Idempotent (acks=all), so that the source itself holds every record once
           and in order whatever it goes through. Writes `rate` records per second until stdin
           says "stop"; on "mark" prints {"mark": µs, "acked": [per key]}, the records of each
           key the source has acknowledged at that moment. On "stop", flushes and prints
           {"acked": [per key], "errors": [...]}; a record the source did not take fails the run
           (exit 1): its fate would be unknown, and it is not kmirror's.
  consume  first stdin line: {"bootstrap", "topic", "partitions", "out"}. Waits for the topic,
           reads every partition from offset 0 (read_committed) and appends one JSON line per
           record to `out`: [partition, offset, key, value, arrival µs]. On a stdin line
           {"expect": [per key], "idle_s"} it reads on until every key has that many distinct
           sequences or nothing new came for idle_s seconds, then prints {"read": n} and exits.
"""
import json
import queue
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

COMMON = {"enable.metrics.push": False}


def now_us():
    return time.time_ns() // 1000


def stdin_lines():
    """Lines of stdin, read by a thread so that the main loop never blocks on them."""
    lines = queue.Queue()

    def read():
        for line in sys.stdin:
            lines.put(line.strip())
        lines.put("stop")

    threading.Thread(target=read, daemon=True).start()
    return lines


def produce(req, commands):
    conf = {
        "bootstrap.servers": req["bootstrap"], **COMMON,
        "enable.idempotence": True, "acks": "all", "linger.ms": 5,
        # Records wait as long as a scenario's faults last rather than fail: a failed record
        # could still be on the source, and the verdict would not know what was sent.
        "message.timeout.ms": 600000, "reconnect.backoff.max.ms": 500,
        "queue.buffering.max.messages": 1000000,
    }
    conf.update(req.get("config", {}))
    producer = Producer(conf)
    keys, partitions = req["keys"], req["partitions"]
    size = req.get("value_size", 100)
    acked = [0] * keys
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
            return
        acked[int(msg.key()[1:])] += 1

    sent = [0] * keys
    interval = 0.01
    per_tick = max(1, round(req["rate"] * interval))
    next_key = 0
    due = time.monotonic()
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = None
        if command == "stop":
            break
        if command == "mark":
            producer.poll(0)
            print(json.dumps({"mark": now_us(), "acked": list(acked)}), flush=True)
        for _ in range(per_tick):
            k = next_key
            next_key = (next_key + 1) % keys
            value = f"{sent[k]}:{now_us()}:".encode()
            value += b"x" * max(0, size - len(value))
            while True:
                try:
                    producer.produce(req["topic"], partition=k % partitions, key=f"k{k}".encode(),
                                     value=value, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)
            sent[k] += 1
        producer.poll(0)
        due += interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            due = time.monotonic()
    remaining = producer.flush(120)
    print(json.dumps({"acked": acked, "sent": sent, "errors": errors[:5], "remaining": remaining}), flush=True)
    if errors or remaining:
        sys.exit(1)


def consume(req, commands):
    topic, partitions = req["topic"], req["partitions"]
    conf = {
        "bootstrap.servers": req["bootstrap"], **COMMON,
        "group.id": "kmirror-fault-reader", "enable.auto.commit": False,
        "isolation.level": "read_committed", "fetch.wait.max.ms": 50,
        "reconnect.backoff.max.ms": 500, "topic.metadata.refresh.interval.ms": 1000,
    }
    consumer = Consumer(conf)
    deadline = time.time() + 120
    while True:
        meta = consumer.list_topics(topic, timeout=10)
        t = meta.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            break
        if time.time() > deadline:
            raise SystemExit(f"{topic} did not appear with {partitions} partitions")
        time.sleep(0.2)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    # The distinct sequences read per key.
    seen = {}
    read = 0
    expect, idle_s, last_new = None, None, time.time()
    with open(req["out"], "a", encoding="ascii") as out:
        while True:
            if expect is None:
                try:
                    line = commands.get_nowait()
                    if line and line != "stop":
                        stop = json.loads(line)
                        expect, idle_s = stop["expect"], stop["idle_s"]
                        last_new = time.time()
                except queue.Empty:
                    pass
            if expect is not None:
                done = all(len(seen.get(f"k{k}", ())) >= n for k, n in enumerate(expect))
                if done or time.time() - last_new > idle_s:
                    break
            for msg in consumer.consume(1000, 0.05):
                if msg.error():
                    raise KafkaException(msg.error())
                at = now_us()
                key = msg.key().decode("ascii", "replace") if msg.key() is not None else None
                value = msg.value().decode("ascii", "replace") if msg.value() is not None else None
                out.write(json.dumps([msg.partition(), msg.offset(), key, value, at]) + "\n")
                seen.setdefault(key, set()).add((value or "").split(":", 1)[0])
                read += 1
                last_new = time.time()
            out.flush()
    consumer.close()
    print(json.dumps({"read": read}), flush=True)


def main():
    commands = {"produce": produce, "consume": consume}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit("usage: fault_stream.py produce|consume (request on the first stdin line)")
    request = json.loads(sys.stdin.readline())
    commands[sys.argv[1]](request, stdin_lines())


if __name__ == "__main__":
    main()
