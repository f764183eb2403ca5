// The docs and the chart's schema agree: every YAML snippet in docs/operations.md and
// k8s/README.md is chart values (unless its first line says "# Not chart values"), passes
// values.schema.json (no unknown key) and renders; every `a.b.c` value path the prose names
// exists in the schema.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import Ajv from "ajv";
import { CHART, ROOT, render, renderValues } from "../lib/chart.mjs";

const DOCS = ["docs/operations.md", "k8s/README.md"];
const NOT_VALUES = /^# Not chart values/;
const schema = JSON.parse(readFileSync(path.join(CHART, "values.schema.json"), "utf8"));
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
const tmp = mkdtempSync(path.join(os.tmpdir(), "roomcast-doc-values-"));

/** ```yaml blocks of a Markdown file: [{ line, text }] (list-item indentation removed). */
export function yamlBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```ya?ml\s*$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent));
    blocks.push({ line: i + 1, text: `${body.join("\n")}\n` });
    i = j;
  }
  return blocks;
}

/** The schema node of a dotted values path, or null; `*` and `<...>` match any key. */
function schemaNode(dotted) {
  let node = schema;
  for (const part of dotted.split(".")) {
    if (part === "*") return node;
    if (node.properties?.[part]) node = node.properties[part];
    else if (/^<.+>$/.test(part) && (node.additionalProperties || node.properties)) node = node.additionalProperties || Object.values(node.properties)[0];
    else if (node.additionalProperties && typeof node.additionalProperties === "object") node = node.additionalProperties;
    else if (node.properties || node.additionalProperties === false) return null;
    else return node; // free-form (resources, affinity, annotations, …)
  }
  return node;
}

for (const doc of DOCS) {
  const markdown = readFileSync(path.join(ROOT, doc), "utf8");
  describe(doc, () => {
    const blocks = yamlBlocks(markdown).filter((b) => !NOT_VALUES.test(b.text));

    test("has YAML values snippets", () => {
      assert.ok(blocks.length > 0);
    });

    for (const { line, text } of blocks) {
      test(`the snippet at line ${line} passes the schema and renders`, () => {
        const file = path.join(tmp, `${path.basename(doc)}-${line}.yaml`);
        writeFileSync(file, text);
        const values = renderValues(["-f", file]);
        const errors = validate(values) ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
        assert.deepEqual(errors, [], `${doc}:${line} (mark a block that is not chart values "# Not chart values: …")`);
        render(["-f", file]);
      });
    }

    test("every value path the prose names exists in the schema", () => {
      const tops = Object.keys(schema.properties);
      const prose = markdown.replace(/```[\s\S]*?```/g, "");
      const named = new Set();
      for (const m of prose.matchAll(/`([^`\s]+)`/g)) {
        for (const token of m[1].split(/,\s*/)) {
          const dotted = token.replace(/:.*$/, "").replace(/\[.*$/, "");
          if (!/^[A-Za-z<][\w<>*-]*(\.[\w<>*-]+)+$/.test(dotted)) continue;
          const first = dotted.split(".")[0];
          const expanded = first === "<svc>" ? ["rooms", "presence", "auth"].map((s) => dotted.replace("<svc>", s)) : [dotted];
          for (const d of expanded) if (tops.includes(d.split(".")[0])) named.add(d);
        }
      }
      // File names and NATS things that start like a values key but are not values.
      const notValues = new Set(["nats.conf", "grpc.health.v1"]);
      const unknown = [...named].filter((d) => !notValues.has(d) && !schemaNode(d));
      assert.deepEqual(unknown, [], `${doc} names values the chart does not have`);
      assert.ok(named.size > 0);
    });
  });
}

describe("the snippet check", () => {
  test("rejects what the docs used to say (ingress.host, edge.replicas)", () => {
    for (const text of ["ingress:\n  host: rt.example.com\n", "edge:\n  replicas: 3\n"]) {
      const file = path.join(tmp, "old.yaml");
      writeFileSync(file, text);
      assert.equal(validate(renderValues(["-f", file])), false, text);
    }
    assert.equal(schemaNode("ingress.host"), null);
    assert.equal(schemaNode("edge.replicas"), null);
    assert.ok(schemaNode("edge.config.maxConnections"));
  });
});
