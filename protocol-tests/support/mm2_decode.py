#!/usr/bin/env python3
"""Reads an MM2 internal topic with confluent-kafka and decodes its records independently of
kmirror, from the format description (Kafka's legacy protocol types: big-endian integers,
STRING = INT16 length + UTF-8; fields in schema order; trailing bytes ignored):

  OffsetSync  key: topic STRING, partition INT32
              value: upstreamOffset INT64, offset INT64            (no version)
  Checkpoint  key: group STRING, topic STRING, partition INT32
              value: version INT16 (0), upstreamOffset INT64, offset INT64, metadata STRING
  Heartbeat   key: sourceClusterAlias STRING, targetClusterAlias STRING
              value: version INT16 (0), timestamp INT64

Request on stdin: {"bootstrap", "topic", "kind": "offset-sync"|"checkpoint"|"heartbeat",
"min_records", "timeout_s"}. Answer: {"records": [{"offset", "timestamp", ...decoded fields}]}
for partition 0 from the beginning; a record that does not decode makes the script fail.
"""
import json
import struct
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition


class Fields:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise ValueError(f"truncated at byte {self.at}: {self.data.hex()}")
        (v,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return v

    def int16(self):
        return self.take(">h")

    def int32(self):
        return self.take(">i")

    def int64(self):
        return self.take(">q")

    def string(self):
        n = self.int16()
        if n < 0:
            raise ValueError("negative STRING length")
        if self.at + n > len(self.data):
            raise ValueError("truncated STRING")
        s = self.data[self.at:self.at + n].decode("utf-8")
        self.at += n
        return s


def version0(v):
    version = v.int16()
    if version != 0:
        raise ValueError(f"unknown version {version}")


def offset_sync(key, value):
    k, v = Fields(key), Fields(value)
    return {"topic": k.string(), "partition": k.int32(), "upstream": v.int64(), "downstream": v.int64()}


def checkpoint(key, value):
    k, v = Fields(key), Fields(value)
    out = {"group": k.string(), "topic": k.string(), "partition": k.int32()}
    version0(v)
    out.update({"upstream": v.int64(), "downstream": v.int64(), "metadata": v.string()})
    return out


def heartbeat(key, value):
    k, v = Fields(key), Fields(value)
    out = {"source": k.string(), "target": k.string()}
    version0(v)
    out["heartbeat_timestamp"] = v.int64()
    return out


DECODERS = {"offset-sync": offset_sync, "checkpoint": checkpoint, "heartbeat": heartbeat}


def main():
    req = json.load(sys.stdin)
    decode = DECODERS[req["kind"]]
    consumer = Consumer({
        "bootstrap.servers": req["bootstrap"], "enable.metrics.push": False,
        "group.id": "kmirror-test-mm2-reader", "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(req["topic"], 0, 0)])
    out = []

    def poll(seconds):
        msg = consumer.poll(seconds)
        if msg is None:
            return False
        if msg.error():
            raise KafkaException(msg.error())
        record = decode(msg.key(), msg.value())
        record.update({"offset": msg.offset(), "timestamp": msg.timestamp()[1]})
        out.append(record)
        return True

    deadline = time.time() + req.get("timeout_s", 30)
    while len(out) < req.get("min_records", 1) and time.time() < deadline:
        poll(0.5)
    # Then whatever else is there already.
    while poll(1.0):
        pass
    consumer.close()
    json.dump({"records": out}, sys.stdout)


if __name__ == "__main__":
    main()
