// asyncapi.json in, a pass/fail verdict out: validates the document against the official AsyncAPI 3.0.0 JSON schema (@asyncapi/specs) with ajv,
// checks that every $ref resolves and every channel has its Kafka binding, then parses it with the official @asyncapi/parser
// (spec rules plus the Avro and Protobuf payload schemas).
import fs from "node:fs";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import specs from "@asyncapi/specs";
import { Parser } from "@asyncapi/parser";
import { AvroSchemaParser } from "@asyncapi/avro-schema-parser";
import { ProtoBuffSchemaParser } from "@asyncapi/protobuf-schema-parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate-asyncapi.mjs <asyncapi.json>");
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(file, "utf8"));
const schema = specs.schemas["3.0.0"];
if (!schema) {
  console.error("error: @asyncapi/specs has no 3.0.0 schema; check the installed version");
  process.exit(2);
}
// The AsyncAPI schema bundles the draft-07 meta-schema itself, so ajv must not add its own copy.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true, meta: false, validateSchema: false });
addFormats(ajv);
const validate = ajv.compile(schema);
let failures = 0;
if (!validate(doc)) {
  for (const e of validate.errors) {
    console.error(`asyncapi.json${e.instancePath || "/"}: ${e.message} ${JSON.stringify(e.params)}`);
  }
  failures += validate.errors.length;
}

// Every local $ref must point at something in the document.
function resolve(pointer) {
  let node = doc;
  for (const raw of pointer.replace(/^#\//, "").split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}
function walk(node, where) {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${where}/${i}`));
  else if (node && typeof node === "object") {
    if (typeof node.$ref === "string" && node.$ref.startsWith("#/") && resolve(node.$ref) === undefined) {
      console.error(`asyncapi.json${where}: $ref ${node.$ref} points nowhere`);
      failures++;
    }
    for (const [k, v] of Object.entries(node)) if (k !== "schema") walk(v, `${where}/${k}`);
  }
}
walk(doc, "");

// Kafka bindings must be present on every channel.
for (const [id, channel] of Object.entries(doc.channels || {})) {
  const kafka = channel.bindings && channel.bindings.kafka;
  if (!kafka || kafka.topic !== channel.address || !(kafka.partitions > 0) || !(kafka.replicas > 0)) {
    console.error(`asyncapi.json/channels/${id}: missing or inconsistent Kafka binding (topic, partitions, replicas)`);
    failures++;
  }
}

// The official parser: spec rules and every payload schema parsed by its format's parser.
const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
parser.registerSchemaParser(ProtoBuffSchemaParser());
const { document, diagnostics } = await parser.parse(fs.readFileSync(file, "utf8"));
const ERROR = 0;
for (const d of diagnostics) {
  if (d.severity === ERROR) {
    console.error(`asyncapi.json/${d.path.join("/")}: ${d.code}: ${d.message}`);
    failures++;
  }
}
if (!document) {
  console.error("asyncapi.json: @asyncapi/parser could not parse the document");
  failures++;
}

const channels = Object.keys(doc.channels || {}).length;
const messages = Object.keys((doc.components && doc.components.messages) || {}).length;
if (failures) {
  console.error(`asyncapi.json: ${failures} problem(s)`);
  process.exit(1);
}
console.log(`asyncapi.json: valid AsyncAPI ${doc.asyncapi} (${channels} channels, ${messages} messages)`);
