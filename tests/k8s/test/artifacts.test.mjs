// Files derived from others, kept in step: the chart's alert rules (a copy of
// k8s/monitoring/alerts.yaml), the kubectl manifest (the rendered chart), the kustomize files,
// the NATS roles table of docs/operations.md (files/nats-roles.json), the storage budgets table
// of docs/operations.md (the chart's storage values).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { CHART, MANIFEST, ROOT, container, envOf, find, findAll, kubectl, kustomize, parseManifests, render } from "../lib/chart.mjs";
import { assertAllValid, assertConsistent } from "../lib/checks.mjs";
import { manifestText } from "../lib/manifest.mjs";
import { loadRoles } from "../../../scripts/lib/nats-auth.mjs";

const MONITORING_ALERTS = path.join(ROOT, "k8s/monitoring/alerts.yaml");
const CHART_ALERTS = path.join(CHART, "files/alerts.yaml");

describe("NATS roles", () => {
  test("docs/operations.md's table lists exactly the subjects of files/nats-roles.json", () => {
    const doc = readFileSync(path.join(ROOT, "docs/operations.md"), "utf8");
    const start = doc.indexOf("## NATS roles");
    assert.ok(start >= 0, 'docs/operations.md has a "## NATS roles" section');
    const section = doc.slice(start, doc.indexOf("\n### ", start));
    const codes = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    const documented = [...section.matchAll(/^\| `([^`]+)` \|(.*)\|(.*)\|$/gm)].map((m) => ({
      name: m[1],
      publish: codes(m[2]),
      subscribe: codes(m[3]),
    }));
    const roles = loadRoles().map(({ name, publish, subscribe }) => ({ name, publish, subscribe }));
    assert.deepEqual(documented, roles);
  });
});

describe("storage budgets", () => {
  test("docs/operations.md's table has every budget the chart passes, with the chart's default", () => {
    const doc = readFileSync(path.join(ROOT, "docs/operations.md"), "utf8");
    const start = doc.indexOf("## Storage budgets");
    assert.ok(start >= 0, 'docs/operations.md has a "## Storage budgets" section');
    const section = doc.slice(start, doc.indexOf("\n## ", start + 1));
    // | stream or bucket | `--flag` | `VARIABLE` | `storage.key` | default | when full |
    const rows = [...section.matchAll(/^\| [^|]+ \| `(--[a-z-]+)` \| `(ROOMCAST_[A-Z_]+)` \| `storage\.(\w+)` \| (\w+) \|/gm)];
    const documented = Object.fromEntries(rows.map((m) => [m[2], { flag: m[1], key: m[3], size: m[4] }]));
    const values = parseYaml(readFileSync(path.join(CHART, "values.yaml"), "utf8")).storage;
    const env = envOf(container(find(render().docs, "Deployment", "roomcast-edge"), "edge"));
    const rendered = Object.keys(env).filter((k) => k.startsWith("ROOMCAST_STORAGE_")).sort();
    assert.equal(rendered.length, 8);
    assert.deepEqual(Object.keys(documented).sort(), rendered);
    for (const [variable, { flag, key, size }] of Object.entries(documented)) {
      assert.equal(flag, `--${variable.slice("ROOMCAST_".length).toLowerCase().replaceAll("_", "-")}`, variable);
      assert.equal(values[key], size, `storage.${key}`);
    }
  });
});

describe("alert rules", () => {
  test("files/alerts.yaml is a Prometheus rule file (groups with names and rules)", () => {
    const rules = parseYaml(readFileSync(CHART_ALERTS, "utf8"));
    assert.ok(Array.isArray(rules.groups) && rules.groups.length > 0);
    for (const g of rules.groups) {
      assert.equal(typeof g.name, "string");
      assert.ok(Array.isArray(g.rules), `group ${g.name}: rules`);
    }
  });

  test(
    "the chart's files/alerts.yaml is identical to k8s/monitoring/alerts.yaml",
    { skip: existsSync(MONITORING_ALERTS) ? false : "k8s/monitoring/alerts.yaml does not exist yet" },
    () => {
      assert.equal(
        readFileSync(CHART_ALERTS, "utf8"),
        readFileSync(MONITORING_ALERTS, "utf8"),
        "copy k8s/monitoring/alerts.yaml to k8s/helm/roomcast/files/alerts.yaml",
      );
    },
  );
});

describe("k8s/manifests/roomcast.yaml", () => {
  test("is the chart rendered now (cd tests/k8s && npm run update-manifest)", () => {
    assert.equal(readFileSync(MANIFEST, "utf8"), manifestText());
  });

  test("is valid, holds no Secret and refers to roomcast-secrets", async () => {
    const docs = parseManifests(readFileSync(MANIFEST, "utf8"));
    await assertAllValid(docs);
    assertConsistent(docs, "roomcast");
    assert.deepEqual(findAll(docs, "Secret"), []);
    const text = readFileSync(MANIFEST, "utf8");
    assert.match(text, /name: roomcast-secrets/);
    assert.ok(find(docs, "StatefulSet", "roomcast-nats"));
    assert.ok(find(docs, "Ingress", "roomcast-edge"));
  });
});

const kube = kubectl();
describe("kustomize", { skip: kube ? false : "no kubectl 1.21 or later" }, () => {
  test("k8s/manifests builds to the manifest's objects", () => {
    const built = parseManifests(kustomize(path.join(ROOT, "k8s/manifests")));
    const manifest = parseManifests(readFileSync(MANIFEST, "utf8"));
    const ids = (docs) => docs.map((d) => `${d.obj.kind}/${d.obj.metadata.name}`).sort();
    assert.deepEqual(ids(built), ids(manifest));
  });

  test("the production overlay builds, valid, with its patches applied", async () => {
    const docs = parseManifests(kustomize(path.join(ROOT, "k8s/kustomize/production")));
    await assertAllValid(docs);
    const ing = find(docs, "Ingress", "roomcast-edge");
    assert.equal(ing.spec.rules[0].host, "rt.example.com");
    assert.deepEqual(ing.spec.tls, [{ secretName: "roomcast-tls", hosts: ["rt.example.com"] }]);
    assert.equal(find(docs, "Deployment", "roomcast-edge").spec.replicas, 3);
    assert.equal(find(docs, "StatefulSet", "roomcast-nats").spec.volumeClaimTemplates[0].spec.storageClassName, "fast-ssd");
  });
});

describe("k8s/README.md", () => {
  test("the values table documents every value of values.yaml", () => {
    const readme = readFileSync(path.join(ROOT, "k8s/README.md"), "utf8");
    const table = readme.slice(readme.indexOf("## Values"), readme.indexOf("## Scaling"));
    const names = [...table.matchAll(/^\| ([^|]+) \|/gm)]
      .flatMap((m) => [...m[1].matchAll(/`([^`]+)`/g)].map((x) => x[1]))
      .flatMap((n) => (n.includes("<svc>") ? ["rooms", "presence", "auth"].map((s) => n.replace("<svc>", s)) : [n]));
    const documented = (leaf) =>
      names.some((n) => n === leaf || leaf.startsWith(`${n.replace(/\.\*$/, "")}.`));
    const defaults = parseYaml(readFileSync(path.join(CHART, "values.yaml"), "utf8"));
    const leaves = [];
    const walk = (v, p) => {
      if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) {
        for (const [k, x] of Object.entries(v)) walk(x, p ? `${p}.${k}` : k);
      } else leaves.push(p);
    };
    walk(defaults, "");
    assert.deepEqual(leaves.filter((l) => !documented(l)), []);
  });
});
