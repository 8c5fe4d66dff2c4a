"""Cases of carebus's JSON encoding (a JSON-lines file) in, fastavro's verdict on each out (JSON lines on stdout).

Each input line is {"name", "schema", "json", "avro_hex"}: an event's self-contained Avro schema,
the JSON text carebus wrote for a value (`to_json`) and the Avro binary datum carebus wrote
for the same value (`encode_payload`). For each, fastavro (the independent implementation):

- reads the JSON text with `json_reader` and the datum with `schemaless_reader`, and says
  whether the two values are equal (`equal`, and `json_value`/`binary_value` when not);
- writes the value it read from the datum with `json_writer` (`fastavro_json`), for carebus to
  read back, and with `schemaless_writer` (`fastavro_json_binary_hex`): what carebus must read
  that JSON as (fastavro chooses a union's branch from the Python value, alike in both);
- writes the value it read from the JSON text with `schemaless_writer` (`reencoded_hex`), for
  carebus to decode.

Usage: avro_json.py cases.jsonl
"""

import io
import json
import sys

from fastavro import json_reader, json_writer, parse_schema, schemaless_reader, schemaless_writer


def check(case):
    schema = parse_schema(json.loads(case["schema"]))
    from_json = next(iter(json_reader(io.StringIO(case["json"]), schema)))
    from_binary = schemaless_reader(io.BytesIO(bytes.fromhex(case["avro_hex"])), schema, None)
    written = io.StringIO()
    json_writer(written, schema, [from_binary])
    # The binary fastavro writes for the value it wrote as JSON: fastavro picks a union's branch
    # from the Python value (a float may go to "double"), the same way for both writers.
    written_binary = io.BytesIO()
    schemaless_writer(written_binary, schema, from_binary)
    reencoded = io.BytesIO()
    schemaless_writer(reencoded, schema, from_json)
    out = {
        "name": case["name"],
        "equal": from_json == from_binary,
        "fastavro_json": written.getvalue().strip(),
        "fastavro_json_binary_hex": written_binary.getvalue().hex(),
        "reencoded_hex": reencoded.getvalue().hex(),
    }
    if not out["equal"]:
        out["json_value"] = repr(from_json)
        out["binary_value"] = repr(from_binary)
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as cases:
        lines = cases.readlines()
    for line in lines:
        if line.strip():
            print(json.dumps(check(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
