# CloudEvents described in a JSON file turned by the official Python SDK (to_binary / to_structured) into Kafka records on a topic, sent with confluent-kafka.
"""Usage: produce_events.py BOOTSTRAP TOPIC EVENTS_JSON

EVENTS_JSON is a list of {"mode": "binary"|"structured", "key": str, "attributes": {...},
"data": <JSON> | {"base64": str}}. "time" in attributes is RFC 3339 text. Only the attributes
given are sent: no carebus extension is added. Exits 1 when a record is not delivered.
"""
import base64
import json
import sys

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Producer
from dateutil.parser import isoparse


def main():
    bootstrap, topic, path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, encoding="utf-8") as f:
        specs = json.load(f)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(str(err))

    for spec in specs:
        attributes = dict(spec["attributes"])
        attributes.setdefault("specversion", "1.0")
        if "time" in attributes:
            attributes["time"] = isoparse(attributes["time"])
        data = spec["data"]
        if isinstance(data, dict) and set(data) == {"base64"}:
            data = base64.b64decode(data["base64"])
        event = CloudEvent(attributes, data)
        to = ce_kafka.to_structured if spec["mode"] == "structured" else ce_kafka.to_binary
        message = to(event, JSONFormat(), key_mapper=lambda _e, key=spec["key"]: key)
        producer.produce(
            topic,
            key=message.key,
            value=message.value,
            headers=list(message.headers.items()),
            on_delivery=delivered,
        )
    remaining = producer.flush(30)
    if remaining or failures:
        raise SystemExit(f"{remaining} records not flushed, delivery errors: {failures}")
    print(f"sent {len(specs)} CloudEvents to {topic}")


if __name__ == "__main__":
    main()
