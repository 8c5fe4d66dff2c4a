# Confluent-framed Kafka records in, values decoded by confluent-kafka's AvroDeserializer through a Schema Registry URL out (one JSON line per record).
"""Usage: confluent_read.py BOOTSTRAP TOPIC COUNT REGISTRY_URL

Reads COUNT records from the start of TOPIC with confluent-kafka and decodes each value with
confluent_kafka.schema_registry.avro.AvroDeserializer backed by a SchemaRegistryClient on
REGISTRY_URL: what a Python team does on day one. Prints, per record, {"id": the header's
schema id, "subject": the record name the served schema declares, "value": the decoded dict}
with dates, times, decimals and bytes as text. A record the deserializer rejects fails the
script (exit 1) with its error.
"""
import base64
import datetime
import decimal
import json
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(value):
    if isinstance(value, datetime.datetime):
        # RFC 3339 as carebus writes it: UTC as `Z`, no trailing zeros in the fraction.
        text = value.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat()
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text + "Z"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot show {type(value)}")


def main():
    bootstrap, topic, count, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    registry = SchemaRegistryClient({"url": url})
    deserialize = AvroDeserializer(registry)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"pyconfluent-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    deadline = time.time() + 60
    while seen < count and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consume error: {msg.error()}")
        raw = msg.value()
        schema_id = int.from_bytes(raw[1:5], "big")
        value = deserialize(raw, SerializationContext(topic, MessageField.VALUE))
        served = json.loads(registry.get_schema(schema_id).schema_str)
        subject = served["name"]
        if "." not in subject and served.get("namespace"):
            subject = served["namespace"] + "." + subject
        print(json.dumps({"id": schema_id, "subject": subject, "value": value}, default=plain))
        seen += 1
    consumer.close()
    if seen < count:
        raise SystemExit(f"read {seen} of {count} records in 60 s")


if __name__ == "__main__":
    main()
