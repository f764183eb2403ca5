// k8s/manifests/roomcast.yaml moved to another namespace (kustomize `namespace:`) still finds its
// own NATS: nothing in it names the namespace it was rendered for, except metadata.namespace,
// which the namespace transform replaces.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { MANIFEST, ROOT, container, envOf, find, kubectl, kustomize, parseManifests } from "../lib/chart.mjs";
import { assertAllValid, workloads } from "../lib/checks.mjs";

const OTHER = "realtime-staging";
// Kinds of the manifest that are not namespaced (none today; kustomize leaves these alone).
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "StorageClass"]);

/** What kustomize's `namespace:` does: set metadata.namespace on every namespaced object. */
function withNamespace(docs, namespace) {
  return docs.map(({ source, obj }) => {
    const copy = structuredClone(obj);
    if (!CLUSTER_SCOPED.has(copy.kind)) copy.metadata.namespace = namespace;
    return { source, obj: copy };
  });
}

/**
 * Checks that the objects work in `namespace`: every NATS address the components and the
 * servers use is a short name of a Service of the manifest (so it resolves in the pod's own
 * namespace) or names `namespace`; no other string names the namespace the manifest was
 * rendered for.
 */
function assertSelfContained(docs, namespace) {
  const services = new Set(docs.filter((d) => d.obj.kind === "Service").map((d) => d.obj.metadata.name));
  const host = (url) => new URL(url.trim()).hostname;
  const resolvesInside = (h) => {
    const parts = h.split(".");
    // <svc>, <pod>.<svc>, or a fully qualified name in `namespace`.
    if (parts.length <= 2) return services.has(parts[parts.length - 1]);
    const svcAt = parts.indexOf("svc");
    return svcAt >= 2 && parts[svcAt - 1] === namespace && services.has(parts[svcAt - 2]);
  };
  const urls = [];
  for (const w of workloads(docs)) {
    for (const c of w.spec.template.spec.containers) {
      const url = envOf(c).ROOMCAST_NATS_URL;
      if (typeof url === "string") urls.push(...url.split(",").map((u) => [`${w.metadata.name}/${c.name}`, u]));
    }
  }
  assert.ok(urls.length >= 4, "the four components have ROOMCAST_NATS_URL");
  const conf = find(docs, "ConfigMap", "roomcast-nats-config").data["nats.conf"];
  const routes = /routes: \[([^\]]*)\]/.exec(conf)[1].split("\n").filter((l) => l.trim());
  assert.equal(routes.length, 3);
  urls.push(...routes.map((r) => ["nats.conf routes", r]));
  for (const [where, url] of urls) assert.ok(resolvesInside(host(url)), `${where}: ${url} does not resolve inside ${namespace}`);
  // Nothing but metadata.namespace may name a namespace: look for the old one anywhere else.
  const rest = docs.map(({ obj }) => JSON.stringify({ ...obj, metadata: { ...obj.metadata, namespace: undefined } })).join("\n");
  assert.doesNotMatch(rest, /\.roomcast\.svc|\.roomcast[:"/]|namespace[^,]*"roomcast"/, "the manifest names its namespace outside metadata.namespace");
}

describe("the manifest in another namespace", () => {
  const docs = parseManifests(readFileSync(MANIFEST, "utf8"));

  test("as rendered, every NATS address resolves inside its namespace", () => {
    assertSelfContained(docs, "roomcast");
  });

  test(`with kustomize's namespace transform (${OTHER}): NATS URLs and routes still point inside it`, async () => {
    const moved = withNamespace(docs, OTHER);
    await assertAllValid(moved);
    assertSelfContained(moved, OTHER);
    for (const { obj } of moved) assert.equal(obj.metadata.namespace, OTHER, `${obj.kind}/${obj.metadata.name}`);
  });

  test("the check catches an address that names the old namespace", () => {
    // The chart before this change: fully qualified NATS names in the release's namespace.
    const broken = withNamespace(docs, OTHER);
    const edge = container(find(broken, "Deployment", "roomcast-edge"), "edge");
    const env = edge.env.find((e) => e.name === "ROOMCAST_NATS_URL");
    env.value = "nats://roomcast-nats-0.roomcast-nats-headless.roomcast.svc.cluster.local:4222";
    assert.throws(() => assertSelfContained(broken, OTHER), /does not resolve inside realtime-staging/);
  });

  const kube = kubectl();
  for (const base of ["k8s/manifests", "k8s/kustomize/production"]) {
    test(
      `kubectl kustomize with namespace: ${OTHER} over ${base}`,
      { skip: kube ? false : "no kubectl 1.21 or later (the transform above stands in for it)" },
      () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "roomcast-kustomize-"));
        writeFileSync(
          path.join(dir, "kustomization.yaml"),
          `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${OTHER}\nresources:\n  - ${path.relative(dir, path.join(ROOT, base))}\n`,
        );
        const built = parseManifests(kustomize(dir));
        assert.equal(built.length, docs.length);
        for (const { obj } of built) assert.equal(obj.metadata.namespace, OTHER, `${obj.kind}/${obj.metadata.name}`);
        assertSelfContained(built, OTHER);
      },
    );
  }
});
