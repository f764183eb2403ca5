// values.schema.json: Helm validates the merged values against it before rendering; here ajv
// does the same with the values the renderer merged (--values-json).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import Ajv from "ajv";
import { parse as parseYaml } from "yaml";
import { CHART, MANIFEST_VALUES, PRODUCTION_VALUES, renderValues } from "../lib/chart.mjs";

const schema = JSON.parse(readFileSync(path.join(CHART, "values.schema.json"), "utf8"));
const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(schema);
const errorsOf = (values) => (validate(values) ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`));

const tmp = mkdtempSync(path.join(os.tmpdir(), "roomcast-values-"));
function valuesFile(name, text) {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

describe("values.schema.json", () => {
  test("is a draft-07 schema, strict at the top level", () => {
    assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
    assert.equal(schema.additionalProperties, false);
  });

  test("accepts the chart's defaults and every values file the tests and manifest use", () => {
    assert.deepEqual(errorsOf(renderValues()), []);
    assert.deepEqual(errorsOf(renderValues(["-f", PRODUCTION_VALUES])), []);
    assert.deepEqual(errorsOf(renderValues(["-f", MANIFEST_VALUES])), []);
    assert.deepEqual(errorsOf(renderValues(["--set", "nats.external.url=nats://nats:4222"])), []);
  });

  test("describes every key of values.yaml", () => {
    const defaults = parseYaml(readFileSync(path.join(CHART, "values.yaml"), "utf8"));
    const missing = [];
    const walk = (value, node, where) => {
      if (!node || value === null || typeof value !== "object" || Array.isArray(value)) return;
      if (!node.properties) return; // free-form (resources, affinity, …)
      for (const [k, v] of Object.entries(value)) {
        if (!(k in node.properties)) missing.push(`${where}.${k}`);
        else walk(v, node.properties[k], `${where}.${k}`);
      }
    };
    walk(defaults, schema, "");
    assert.deepEqual(missing, []);
  });

  const invalid = {
    "an unknown top-level key": ["replicaCount: 3\n", " must NOT have additional properties"],
    "a misspelt nested key": ["edge:\n  replicas: 3\n", "/edge must NOT have additional properties"],
    "a wrong type": ["edge:\n  replicaCount: two\n", "/edge/replicaCount must be integer"],
    "an even NATS cluster": ["nats:\n  replicas: 2\n", "/nats/replicas must be equal to one of the allowed values"],
    "an unknown SameSite": ["ingress:\n  affinity:\n    cookieSameSite: Sometimes\n", "/ingress/affinity/cookieSameSite must be equal to one of the allowed values"],
    "an unknown edge flag": ["edge:\n  config:\n    devTokens: true\n", "/edge/config must NOT have additional properties"],
    "a bad log level": ["rooms:\n  config:\n    logLevel: verbose\n", "/rooms/config/logLevel must be equal to one of the allowed values"],
    "a bad duration": ["presence:\n  config:\n    grace: 5 seconds\n", '/presence/config/grace must match pattern "^[0-9]+(ms|s|m|h)?$"'],
    "a bad NATS URL": ["nats:\n  external:\n    url: http://nats:4222\n", "/nats/external/url must match pattern"],
    "a bad storage size": ["nats:\n  jetstream:\n    fileStore:\n      size: ten gigs\n", "/nats/jetstream/fileStore/size must match pattern"],
    "a storage budget in words": ["storage:\n  roomStream: one gig\n", "/storage/roomStream must match pattern"],
    "a storage budget in GiB": ["storage:\n  rooms: 1GiB\n", "/storage/rooms must match pattern"],
    "a storage budget as a number": ["storage:\n  sessions: 1048576\n", "/storage/sessions must be string"],
    "a misspelt storage budget": ["storage:\n  roomsStream: 1Gi\n", "/storage must NOT have additional properties"],
    "a bad gRPC TLS reload interval": ["grpc:\n  tls:\n    reloadInterval: soon\n", '/grpc/tls/reloadInterval must match pattern'],
    "a misspelt gRPC TLS key": ["grpc:\n  tls:\n    secret: x\n", "/grpc/tls must NOT have additional properties"],
    "a short JWT secret": ["secret:\n  jwtSecret: short\n", "/secret/jwtSecret must NOT have fewer than 32 characters"],
    "a bad kid": ["auth:\n  keys:\n    files:\n      .hidden: x\n", "/auth/keys/files must match pattern"],
  };
  for (const [what, [yaml, expected]] of Object.entries(invalid)) {
    test(`rejects ${what}`, () => {
      const file = valuesFile(`${what.replace(/\W+/g, "-")}.yaml`, yaml);
      const errors = errorsOf(renderValues(["-f", file]));
      assert.ok(errors.length > 0, `accepted ${JSON.stringify(yaml)}`);
      assert.ok(errors.some((e) => e.startsWith(expected)), `${errors.join("; ")} lacks ${expected}`);
    });
  }
});
