# Kafka records on a topic turned into CloudEvents by the official Python SDK (from_binary / from_structured), printed as one JSON list.
"""Usage: read_records.py BOOTSTRAP TOPIC COUNT

Reads COUNT records from the start of TOPIC with confluent-kafka and parses each with
cloudevents.core.bindings.kafka: structured mode when its content-type is
application/cloudevents+json, binary mode otherwise. Prints, for each record in offset order,
{"mode", "attributes", "data"} with the time as RFC 3339 text and bytes data as
{"base64": ...}. Any record the SDK rejects fails the script (exit 1) with the SDK's error.
"""
import base64
import datetime
import json
import sys
import time
import uuid

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import Consumer


def plain(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"pycloudevents-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + 60
    while len(records) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"poll failed: {msg.error()}")
        records.append(msg)
    consumer.close()
    if len(records) < count:
        raise SystemExit(f"read {len(records)} of {count} records from {topic} in 60 s")
    records.sort(key=lambda m: (m.partition(), m.offset()))
    out = []
    for msg in records:
        headers = {name: value for name, value in (msg.headers() or [])}
        message = ce_kafka.KafkaMessage(headers=headers, key=msg.key(), value=msg.value())
        content_type = headers.get("content-type", b"").decode("utf-8")
        if content_type.startswith("application/cloudevents+json"):
            mode, event = "structured", ce_kafka.from_structured(message, JSONFormat())
        else:
            mode, event = "binary", ce_kafka.from_binary(message, JSONFormat())
        attributes = {k: plain(v) for k, v in event.get_attributes().items()}
        out.append({"mode": mode, "attributes": attributes, "data": plain(event.get_data())})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
