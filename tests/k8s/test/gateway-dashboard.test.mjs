// The optional Gateway API HTTPRoute, the Grafana dashboard ConfigMap and Chart.yaml's metadata.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { CHART, ROOT, find, findAll, render, runRender } from "../lib/chart.mjs";
import { assertAllValid, assertConsistent, containers } from "../lib/checks.mjs";

const GATEWAY = [
  "--set", "ingress.enabled=false,gateway.enabled=true",
  "--set", "gateway.parentRefs[0].name=eg,gateway.parentRefs[0].namespace=gateway-system,gateway.parentRefs[0].sectionName=https",
  "--set", "gateway.hostnames={rt.example.com}",
];

describe("Gateway API HTTPRoute", () => {
  test("off by default", () => {
    assert.deepEqual(findAll(render().docs, "HTTPRoute"), []);
  });

  test("routes the edges' path to the edge Service, valid against the Gateway API schema", async () => {
    const { docs } = render(GATEWAY);
    await assertAllValid(docs);
    assertConsistent(docs, "roomcast");
    assert.deepEqual(findAll(docs, "Ingress"), []);
    const route = find(docs, "HTTPRoute", "roomcast-edge");
    assert.equal(route.apiVersion, "gateway.networking.k8s.io/v1");
    assert.deepEqual(route.spec.parentRefs, [{ name: "eg", namespace: "gateway-system", sectionName: "https" }]);
    assert.deepEqual(route.spec.hostnames, ["rt.example.com"]);
    const [rule] = route.spec.rules;
    assert.deepEqual(rule.matches, [{ path: { type: "PathPrefix", value: "/socket.io/" } }]);
    const svc = find(docs, "Service", "roomcast-edge");
    assert.deepEqual(rule.backendRefs, [{ name: svc.metadata.name, port: svc.spec.ports[0].port }]);
    assert.deepEqual(rule.timeouts, { request: "1h" });
    assert.equal(rule.sessionPersistence, undefined, "session persistence is opt-in");
  });

  test("session persistence: a cookie named like the Ingress' affinity cookie", async () => {
    const { docs } = render([...GATEWAY, "--set", "gateway.sessionPersistence.enabled=true"]);
    await assertAllValid(docs);
    assert.deepEqual(find(docs, "HTTPRoute", "roomcast-edge").spec.rules[0].sessionPersistence, {
      type: "Cookie",
      sessionName: "roomcast_affinity",
      absoluteTimeout: "48h",
      cookieConfig: { lifetimeType: "Permanent" },
    });
    const session = find(
      render([...GATEWAY, "--set", "gateway.sessionPersistence.enabled=true,gateway.sessionPersistence.lifetimeType=Session,gateway.sessionPersistence.absoluteTimeout="]).docs,
      "HTTPRoute",
    ).spec.rules[0].sessionPersistence;
    assert.deepEqual(session, { type: "Cookie", sessionName: "roomcast_affinity", cookieConfig: { lifetimeType: "Session" } });
  });

  test("NOTES.txt names the route's hosts", () => {
    const notes = runRender([...GATEWAY, "--notes"]);
    assert.ok(notes.ok, notes.stderr);
    assert.match(notes.stdout, /https:\/\/rt\.example\.com\/socket\.io\//);
    assert.match(notes.stdout, /Gateway API HTTPRoute roomcast-edge/);
  });

  test("refuses a route without a Gateway, and a permanent cookie without a lifetime", () => {
    const noParent = runRender(["--set", "gateway.enabled=true"]);
    assert.equal(noParent.ok, false);
    assert.match(noParent.stderr, /gateway\.enabled needs gateway\.parentRefs/);
    const noLifetime = runRender([...GATEWAY, "--set", "gateway.sessionPersistence.enabled=true,gateway.sessionPersistence.absoluteTimeout="]);
    assert.equal(noLifetime.ok, false);
    assert.match(noLifetime.stderr, /lifetimeType Permanent needs gateway\.sessionPersistence\.absoluteTimeout/);
  });
});

describe("Grafana dashboard ConfigMap", () => {
  const MONITORING = path.join(ROOT, "k8s/monitoring/grafana-dashboard.json");
  const COPY = path.join(CHART, "files/grafana-dashboard.json");

  test("the chart's files/grafana-dashboard.json is identical to k8s/monitoring/grafana-dashboard.json", () => {
    assert.equal(readFileSync(COPY, "utf8"), readFileSync(MONITORING, "utf8"), "copy k8s/monitoring/grafana-dashboard.json to k8s/helm/roomcast/files/");
  });

  test("off by default; on, a ConfigMap labelled for the sidecar holding the dashboard", async () => {
    assert.deepEqual(findAll(render().docs, "ConfigMap").map((c) => c.metadata.name), ["roomcast-nats-config"]);
    const { docs } = render(["--set", "grafanaDashboard.enabled=true"]);
    await assertAllValid(docs);
    const cm = find(docs, "ConfigMap", "roomcast-dashboard");
    assert.equal(cm.metadata.labels.grafana_dashboard, "1");
    assert.deepEqual(JSON.parse(cm.data["roomcast.json"]), JSON.parse(readFileSync(MONITORING, "utf8")));
  });

  test("label, annotations and namespace are configurable", () => {
    const { docs } = render([
      "--set", "grafanaDashboard.enabled=true,grafanaDashboard.namespace=monitoring",
      "--set", "grafanaDashboard.labels.grafana_dashboard=null,grafanaDashboard.labels.dashboards=roomcast",
      "--set", "grafanaDashboard.annotations.grafana_folder=Roomcast",
    ]);
    const cm = find(docs, "ConfigMap", "roomcast-dashboard");
    assert.equal(cm.metadata.namespace, "monitoring");
    assert.equal(cm.metadata.labels.dashboards, "roomcast");
    assert.equal(cm.metadata.labels.grafana_dashboard, undefined);
    assert.deepEqual(cm.metadata.annotations, { grafana_folder: "Roomcast" });
  });
});

describe("Chart.yaml", () => {
  const chart = parseYaml(readFileSync(path.join(CHART, "Chart.yaml"), "utf8"));

  test("has the metadata a chart repository shows", () => {
    for (const key of ["home", "sources", "maintainers", "keywords", "kubeVersion", "annotations", "description"]) {
      assert.ok(chart[key], `Chart.yaml: ${key}`);
    }
    assert.doesNotThrow(() => new URL(chart.home));
    for (const s of chart.sources) assert.doesNotThrow(() => new URL(s));
    for (const m of chart.maintainers) assert.ok(m.name, "every maintainer has a name");
  });

  test("artifacthub.io/images lists exactly the images a render with everything on runs", () => {
    const listed = parseYaml(chart.annotations["artifacthub.io/images"]).map((i) => i.image).sort();
    const { docs } = render(["--set", "nats.metrics.enabled=true"]);
    const used = [...new Set([...containers(docs)].map(({ c }) => c.image))].sort();
    assert.deepEqual(listed, used);
  });
});
