// The three ways the chart is meant to be rendered, each schema-validated and rendered into
// valid objects: the defaults (helm install into an existing namespace, which generates the
// Secrets), tests/k8s/values-production.yaml, and tests/k8s/values-gitops.yaml rendered with no
// cluster (helm template / Argo CD / Flux: lookup finds nothing), which must be reproducible.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import Ajv from "ajv";
import { CHART, K8S_TESTS, PRODUCTION_VALUES, find, findAll, render, renderValues, runRender } from "../lib/chart.mjs";
import { assertAllValid, assertConsistent } from "../lib/checks.mjs";

const GITOPS_VALUES = path.join(K8S_TESTS, "values-gitops.yaml");
const schema = JSON.parse(readFileSync(path.join(CHART, "values.schema.json"), "utf8"));
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
const errorsOf = (values) => (validate(values) ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`));

const SCENARIOS = {
  "default values, helm install": { args: [], cluster: true },
  "production values, helm install": { args: ["-f", PRODUCTION_VALUES], cluster: true },
  "production values, without a cluster": { args: ["-f", PRODUCTION_VALUES], cluster: false },
  "GitOps values, without a cluster": { args: ["-f", GITOPS_VALUES], cluster: false },
};

for (const [name, { args, cluster }] of Object.entries(SCENARIOS)) {
  describe(name, () => {
    test("the values pass values.schema.json", () => {
      assert.deepEqual(errorsOf(renderValues(args)), []);
    });

    test("renders valid, consistent objects", async () => {
      const { docs } = render(args, { cluster });
      await assertAllValid(docs);
      assertConsistent(docs, "roomcast");
    });
  });
}

describe("GitOps values", () => {
  test("two renders without a cluster are identical", () => {
    const a = runRender(["-f", GITOPS_VALUES], { cluster: false });
    assert.ok(a.ok, a.stderr);
    assert.equal(runRender(["-f", GITOPS_VALUES], { cluster: false }).stdout, a.stdout);
  });

  test("no Secret of the chart's own; the route, dashboard and edge flags are there", () => {
    const { docs } = render(["-f", GITOPS_VALUES], { cluster: false });
    assert.deepEqual(findAll(docs, "Secret"), []);
    assert.deepEqual(findAll(docs, "Ingress"), []);
    assert.ok(find(docs, "HTTPRoute", "roomcast-edge").spec.rules[0].sessionPersistence);
    assert.ok(find(docs, "ConfigMap", "roomcast-dashboard"));
    const args = find(docs, "Deployment", "roomcast-edge").spec.template.spec.containers[0].args;
    for (const flag of ["--max-connections=20000", "--user-publish-rate=20", "--namespaces=/admin", "--hook-connect=tokenless", "--rpc-timeout=3s"]) {
      assert.ok(args.includes(flag), flag);
    }
  });

  test("the defaults without a cluster stop with the value to set", () => {
    const r = runRender([], { cluster: false });
    assert.equal(r.ok, false);
    assert.match(r.stderr, /is required when rendering without a cluster/);
  });
});
