"""carebus's Avro big-decimal values (a JSON-lines file) in, the decimals an independent reading of them gives out (JSON lines on stdout).

Neither fastavro nor Apache Avro's own Python package implements the `big-decimal` logical type
(Avro 1.12): both read it as its underlying `bytes`, as the specification says of logical types
a reader does not know. So fastavro reads the record (binary and Avro JSON), and the bytes are
then decoded here by the layout of Apache Avro's Java reference (`Conversions.BigDecimalConversion`):
the unscaled integer as Avro `bytes` (zig-zag varint length, big-endian two's complement), then
the scale as a zig-zag varint.

Each input line is {"schema", "avro_hex", "json"}: a record schema whose field `value` is a
big-decimal, carebus's binary datum and Avro JSON text of one record. Each output line is
{"text": str(decimal.Decimal) of the binary's value, "json_text": the same of the JSON's value,
"fastavro_json": fastavro's json_writer text of the record it read from the binary}.

Usage: big_decimal.py cases.jsonl
"""

import decimal
import io
import json
import sys

from fastavro import json_reader, json_writer, parse_schema, schemaless_reader


def varint(data, pos):
    """A zig-zag varint at data[pos:]: (value, position after it)."""
    shift = 0
    z = 0
    while True:
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (z >> 1) ^ -(z & 1), pos


def big_decimal(content):
    """The decimal.Decimal of a big-decimal's bytes, by the Java reference's layout."""
    length, pos = varint(content, 0)
    unscaled = int.from_bytes(content[pos : pos + length], "big", signed=True)
    scale, end = varint(content, pos + length)
    if end != len(content):
        raise ValueError(f"{len(content) - end} bytes after the scale")
    sign = 1 if unscaled < 0 else 0
    digits = tuple(int(d) for d in str(abs(unscaled)))
    return decimal.Decimal((sign, digits, -scale))


def check(case):
    schema = parse_schema(json.loads(case["schema"]))
    from_binary = schemaless_reader(io.BytesIO(bytes.fromhex(case["avro_hex"])), schema, None)
    from_json = next(iter(json_reader(io.StringIO(case["json"]), schema)))
    written = io.StringIO()
    json_writer(written, schema, [from_binary])
    return {
        "text": str(big_decimal(from_binary["value"])),
        "json_text": str(big_decimal(from_json["value"])),
        "fastavro_json": written.getvalue().strip(),
    }


def main():
    with open(sys.argv[1], encoding="utf-8") as cases:
        lines = cases.readlines()
    for line in lines:
        if line.strip():
            print(json.dumps(check(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
