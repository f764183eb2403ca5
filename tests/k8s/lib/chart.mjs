// Rendering the chart with tests/k8s/render (built here when missing or stale) and validating
// what it renders against the Kubernetes and prometheus-operator schemas.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const K8S_TESTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = path.resolve(K8S_TESTS, "../..");
export const CHART = path.join(ROOT, "k8s/helm/roomcast");
export const PRODUCTION_VALUES = path.join(K8S_TESTS, "values-production.yaml");
export const MANIFEST = path.join(ROOT, "k8s/manifests/roomcast.yaml");
export const MANIFEST_VALUES = path.join(ROOT, "k8s/manifests/values.yaml");
export const RELEASE = "roomcast";
export const NAMESPACE = "roomcast";

const RENDER_SRC = path.join(K8S_TESTS, "render");
export const RENDER_BIN = process.env.ROOMCAST_RENDER_BIN || path.join(K8S_TESTS, ".bin/render");

function newestSource() {
  return Math.max(
    ...readdirSync(RENDER_SRC)
      .filter((f) => f.endsWith(".go"))
      .map((f) => statSync(path.join(RENDER_SRC, f)).mtimeMs),
  );
}

/** Builds the renderer (Go in GOPATH mode, with Debian's sprig and yaml packages). */
export function buildRenderer() {
  if (existsSync(RENDER_BIN) && statSync(RENDER_BIN).mtimeMs >= newestSource()) {
    return RENDER_BIN;
  }
  mkdirSync(path.dirname(RENDER_BIN), { recursive: true });
  const env = { ...process.env, GO111MODULE: "off", GOPATH: "/usr/share/gocode", GOFLAGS: "" };
  if (!env.GOCACHE && !env.HOME && !env.XDG_CACHE_HOME) {
    env.GOCACHE = path.join(path.dirname(RENDER_BIN), "go-cache");
  }
  const r = spawnSync("go", ["build", "-o", RENDER_BIN, "."], { cwd: RENDER_SRC, env, encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      `building tests/k8s/render failed (needs golang-go golang-github-masterminds-sprig-dev ` +
        `golang-gopkg-yaml.v3-dev): ${r.error ?? ""}${r.stderr ?? ""}`,
    );
  }
  return RENDER_BIN;
}

const clusterDir = mkdtempSync(path.join(os.tmpdir(), "roomcast-cluster-"));
let clusterFiles = 0;

/**
 * The objects `lookup` finds, as a file for the renderer's --cluster: the namespace's default
 * ServiceAccount (what every namespace has, so the chart sees a live cluster, as under
 * `helm install` into an existing namespace) and any further objects.
 */
function clusterFile(namespace, objects) {
  const sa = { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace } };
  const file = path.join(clusterDir, `cluster-${clusterFiles++}.yaml`);
  // JSON is YAML: one object per document.
  writeFileSync(file, [sa, ...objects].map((o) => `---\n${JSON.stringify(o)}\n`).join(""));
  return file;
}

/**
 * Runs the renderer; returns { ok, stdout, stderr }. args are helm-template-like:
 * ["-f", file, "--set", "a=b", ...]. The release and namespace are roomcast/roomcast.
 * cluster: true (the default) renders as `helm install` into an existing namespace does
 * (lookup sees the namespace); false as `helm template` or a GitOps tool does (lookup finds
 * nothing); a list of objects: a cluster holding them too (an upgrade finds its Secrets).
 */
export function runRender(args = [], { release = RELEASE, namespace = NAMESPACE, cluster = true } = {}) {
  const bin = buildRenderer();
  const lookup = cluster ? ["--cluster", clusterFile(namespace, Array.isArray(cluster) ? cluster : [])] : [];
  const r = spawnSync(bin, [release, CHART, "-n", namespace, ...lookup, ...args], { encoding: "utf8" });
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** Renders and parses: [{ source, obj }] (throws when rendering fails). */
export function render(args = [], opts = {}) {
  const r = runRender(args, opts);
  if (!r.ok) {
    throw new Error(`render failed (${r.status}): ${r.stderr}`);
  }
  return { text: r.stdout, docs: parseManifests(r.stdout) };
}

/** The coalesced values (what templates see as .Values), for schema validation. */
export function renderValues(args = []) {
  const r = runRender([...args, "--values-json"]);
  if (!r.ok) {
    throw new Error(`render --values-json failed: ${r.stderr}`);
  }
  return JSON.parse(r.stdout);
}

/**
 * Parses multi-document YAML as Kubernetes does (YAML 1.1: `off` is a boolean, `0400` octal),
 * so a value the API server would read differently from what the chart meant shows up here.
 */
export function parseManifests(text) {
  const docs = [];
  for (const doc of parseAllDocuments(text, { version: "1.1" })) {
    if (doc.errors.length > 0) {
      throw new Error(`YAML error: ${doc.errors.map((e) => e.message).join("; ")}`);
    }
    const obj = doc.toJS();
    if (obj == null) continue;
    const comments = `${doc.commentBefore ?? ""}\n${doc.contents?.commentBefore ?? ""}`;
    const source = /Source: (\S+)/.exec(comments)?.[1] ?? "";
    docs.push({ source, obj });
  }
  return docs;
}

export const find = (docs, kind, name) =>
  docs.map((d) => d.obj).find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
export const findAll = (docs, kind) => docs.map((d) => d.obj).filter((o) => o.kind === kind);
export const container = (workload, name) =>
  workload.spec.template.spec.containers.find((c) => c.name === name);
export const envOf = (c) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

// apiVersion → the module holding its model classes (and their declarations, lib/strict.mjs).
export const MODULES = {
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "gateway.networking.k8s.io/v1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1",
};

/**
 * Validates one object with the kubernetes-models class of its apiVersion and kind (throws
 * with the schema errors). Unknown apiVersions or kinds are errors too.
 */
export async function validateObject(obj) {
  const spec = MODULES[obj.apiVersion] ?? `kubernetes-models/${obj.apiVersion}`;
  let mod;
  try {
    mod = await import(spec);
  } catch (e) {
    throw new Error(`no schema for apiVersion ${obj.apiVersion} (${e.message})`);
  }
  const Model = mod[obj.kind];
  if (typeof Model !== "function") {
    throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  }
  new Model(obj).validate();
  return Model;
}

/**
 * kubectl's client version when a kubectl of 1.21 or later is installed (its kustomize, v4+,
 * understands `patches:`), else null.
 */
export function kubectl() {
  const r = spawnSync("kubectl", ["version", "--client", "-o", "json"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  const v = JSON.parse(r.stdout).clientVersion;
  if (!v || Number(v.major) !== 1 || Number.parseInt(v.minor, 10) < 21) return null;
  return v.gitVersion;
}

export function kustomize(dir) {
  return execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
}
