// The Secrets the chart creates: required when rendering without a cluster (helm template,
// GitOps), generated once and then kept with one, and a checksum of what each pod reads on its
// pod template, so that a changed value rolls exactly the pods that read it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { find, runRender, render } from "../lib/chart.mjs";
import { workloads } from "../lib/checks.mjs";
import { loadRoles } from "../../../scripts/lib/nats-auth.mjs";

const ROLES = loadRoles().map((r) => r.name);
const SECRETS = ["--set", "secret.jwtSecret=jwt-0123456789abcdef0123456789abcdef,secret.adminToken=admin-0123456789abcdef0123456789abcdef"];
const PASSWORDS = ["--set", ROLES.map((r) => `nats.auth.passwords.${r}=${r}-pw`).join(",")];
const GITOPS = [...SECRETS, ...PASSWORDS];

/** { workload name: { annotation: value } } of the checksum/* annotations of every pod template. */
function checksums(args, opts) {
  const out = {};
  for (const w of workloads(render(args, opts).docs)) {
    const annotations = w.spec.template.metadata.annotations ?? {};
    out[w.metadata.name] = Object.fromEntries(Object.entries(annotations).filter(([k]) => k.startsWith("checksum/")));
  }
  return out;
}

/** The workloads whose pod-template checksums differ between two renders. */
function changed(a, b) {
  return Object.keys(a)
    .filter((name) => JSON.stringify(a[name]) !== JSON.stringify(b[name]))
    .sort();
}

const ALL = ["roomcast-auth", "roomcast-edge", "roomcast-nats", "roomcast-presence", "roomcast-rooms"];

describe("secrets without a cluster (helm template, GitOps)", () => {
  test("a missing secret value is a render error naming the value and existingSecret", () => {
    const r = runRender([], { cluster: false });
    assert.equal(r.ok, false);
    assert.match(r.stderr, /secret\.jwtSecret is required when rendering without a cluster/);
    assert.match(r.stderr, /secret\.existingSecret/);
    const noPasswords = runRender(SECRETS, { cluster: false });
    assert.equal(noPasswords.ok, false);
    assert.match(noPasswords.stderr, /nats\.auth\.passwords\.\w+ is required when rendering without a cluster/);
    assert.match(noPasswords.stderr, /nats\.auth\.existingSecret/);
  });

  test("with the values given, two renders are identical (nothing random)", () => {
    const a = runRender(GITOPS, { cluster: false });
    assert.ok(a.ok, a.stderr);
    assert.equal(runRender(GITOPS, { cluster: false }).stdout, a.stdout);
    const s = find(render(GITOPS, { cluster: false }).docs, "Secret", "roomcast-secrets");
    assert.equal(Buffer.from(s.data["jwt-secret"], "base64").toString(), "jwt-0123456789abcdef0123456789abcdef");
  });

  test("with existingSecret for both, nothing is required and no Secret is rendered", () => {
    const { docs } = render(["--set", "secret.existingSecret=mine,nats.auth.existingSecret=mine-nats"], { cluster: false });
    assert.equal(docs.filter((d) => d.obj.kind === "Secret").length, 0);
  });
});

describe("secrets with a cluster (helm install, helm upgrade)", () => {
  test("an upgrade keeps the values of the Secrets in place, and the install's checksums (no roll)", () => {
    const first = render([]).docs;
    const secrets = ["roomcast-secrets", "roomcast-nats-auth"].map((n) => find(first, "Secret", n));
    const again = render([], { cluster: secrets }).docs;
    for (const s of secrets) assert.deepEqual(find(again, "Secret", s.metadata.name).data, s.data, s.metadata.name);
    const sums = (docs) => Object.fromEntries(workloads(docs).map((w) => [w.metadata.name, w.spec.template.metadata.annotations]));
    assert.deepEqual(sums(again), sums(first));
  });

  test("on a first install the checksums are of the values generated into the Secret", () => {
    const { docs } = render([]);
    const data = find(docs, "Secret", "roomcast-secrets").data;
    const plain = (k) => Buffer.from(data[k], "base64").toString();
    const expected = createHash("sha256").update(JSON.stringify({ admin: plain("admin-token"), jwt: plain("jwt-secret") })).digest("hex");
    assert.equal(find(docs, "Deployment", "roomcast-auth").spec.template.metadata.annotations["checksum/secret"], expected);
  });
});

describe("checksum annotations", () => {
  const base = checksums(GITOPS, { cluster: false });

  test("every workload has them: the Roomcast pods for both Secrets, NATS for its config and the passwords", () => {
    for (const name of ["roomcast-auth", "roomcast-presence", "roomcast-rooms"]) {
      assert.deepEqual(Object.keys(base[name]).sort(), ["checksum/nats-auth", "checksum/secret"], name);
    }
    // Without auth keys the edges verify HS256 tokens, so they read the JWT secret.
    assert.deepEqual(Object.keys(base["roomcast-edge"]).sort(), ["checksum/nats-auth", "checksum/secret"]);
    assert.deepEqual(Object.keys(base["roomcast-nats"]).sort(), ["checksum/config", "checksum/nats-auth"]);
  });

  const cases = {
    "the admin token: rooms, presence, auth": [["--set", "secret.adminToken=another-admin-token-0123456789abcdef"], ["roomcast-auth", "roomcast-presence", "roomcast-rooms"]],
    "the JWT secret: auth and the edges": [["--set", "secret.jwtSecret=another-jwt-secret-0123456789abcdef"], ["roomcast-auth", "roomcast-edge"]],
    "the edge role's password: the edges and NATS": [["--set", "nats.auth.passwords.edge=other"], ["roomcast-edge", "roomcast-nats"]],
    "the rooms role's password: rooms and NATS": [["--set", "nats.auth.passwords.rooms=other"], ["roomcast-nats", "roomcast-rooms"]],
    "the backend role's password: NATS only (backends read it, no pod of the chart)": [["--set", "nats.auth.passwords.backend=other"], ["roomcast-nats"]],
    "the NATS configuration: NATS only": [["--set", "nats.maxPayload=8Mi"], ["roomcast-nats"]],
    "a value no pod reads from a Secret: none": [["--set", "edge.config.historyMax=5"], []],
  };
  for (const [what, [args, expected]] of Object.entries(cases)) {
    test(`change ${what}`, () => {
      assert.deepEqual(changed(base, checksums([...GITOPS, ...args], { cluster: false })), expected);
    });
  }

  test("with auth keys the edges do not read the JWT secret, and its checksum leaves them", () => {
    const keys = ["--set", "auth.keys.enabled=true,auth.keys.existingSecret=keys"];
    const before = checksums([...GITOPS, ...keys], { cluster: false });
    assert.deepEqual(Object.keys(before["roomcast-edge"]), ["checksum/nats-auth"]);
    const after = checksums([...GITOPS, ...keys, "--set", "secret.jwtSecret=another-jwt-secret-0123456789abcdef"], { cluster: false });
    assert.deepEqual(changed(before, after), ["roomcast-auth"]);
  });

  test("Secrets given by name have no checksum (their content is not in the chart)", () => {
    const byName = checksums(["--set", "secret.existingSecret=mine,nats.auth.existingSecret=mine-nats"], { cluster: false });
    for (const name of ALL.filter((n) => n !== "roomcast-nats")) assert.deepEqual(byName[name], {}, name);
    assert.deepEqual(Object.keys(byName["roomcast-nats"]), ["checksum/config"]);
  });

  test("podAnnotations are kept beside them", () => {
    const { docs } = render([...GITOPS, "--set", "edge.podAnnotations.team=rt"], { cluster: false });
    const a = find(docs, "Deployment", "roomcast-edge").spec.template.metadata.annotations;
    assert.equal(a.team, "rt");
    assert.ok(a["checksum/secret"]);
  });
});
