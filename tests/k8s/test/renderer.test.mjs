// tests/k8s/render renders like `helm template`: a small chart exercising what Helm does
// differently from plain text/template (numbers from values files are float64, toYaml is
// sigs.k8s.io/yaml, missing values print nothing, nulls delete defaults, output sorted by kind
// in Helm's install order), compared with a golden file checked by hand against Helm 3.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { K8S_TESTS, buildRenderer } from "../lib/chart.mjs";

const FIXTURE = path.join(K8S_TESTS, "fixtures/renderer-chart");
const GOLDEN = path.join(K8S_TESTS, "fixtures/renderer-chart.golden.yaml");

function run(args) {
  const r = spawnSync(buildRenderer(), args, { encoding: "utf8" });
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr };
}
const values = (...args) => JSON.parse(run([FIXTURE, "--values-json", ...args]).stdout);

describe("renderer", () => {
  test("renders the fixture chart as helm template does (golden file)", () => {
    const r = run(["fx", FIXTURE, "-n", "ns", "--set", "removed=null", "--kube-version", "v1.29.3"]);
    assert.ok(r.ok, r.stderr);
    assert.equal(r.stdout, readFileSync(GOLDEN, "utf8"));
  });

  test("--set types values as Helm does; --set-string keeps strings", () => {
    const v = values("--set", "a=1,b=true,c=null,d=01,e=x\\,y,f={1,two},g[1]=z,h.i.j=k", "--set-string", "s=5");
    assert.equal(v.a, 1);
    assert.equal(v.b, true);
    assert.ok(!("c" in v));
    assert.equal(v.d, "01");
    assert.equal(v.e, "x,y");
    assert.deepEqual(v.f, [1, "two"]);
    assert.deepEqual(v.g, [null, "z"]);
    assert.deepEqual(v.h, { i: { j: "k" } });
    assert.equal(v.s, "5");
  });

  test("-f files merge in order, --set wins, maps merge deeply, null deletes a default", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "render-"));
    const one = path.join(dir, "one.yaml");
    const two = path.join(dir, "two.yaml");
    writeFileSync(one, "name: one\nnested:\n  keep: 2\n  extra: x\n");
    writeFileSync(two, "name: two\nnested:\n  map: null\n");
    const v = values("-f", one, "-f", two, "--set", "small=9");
    assert.equal(v.name, "two");
    assert.equal(v.small, 9);
    assert.deepEqual(v.nested, { keep: 2, extra: "x", list: ["b", "a"] });
  });

  test("required fails with its message; a template error names the template", () => {
    const r = run([FIXTURE, "--set", "name="]);
    assert.equal(r.ok, false);
    assert.match(r.stderr, /execution error: (name is required|notes need a name)/);
    const dir = mkdtempSync(path.join(os.tmpdir(), "render-"));
    writeFileSync(path.join(dir, "Chart.yaml"), "apiVersion: v2\nname: bad\nversion: 0.0.1\n");
    const tdir = path.join(dir, "templates");
    spawnSync("mkdir", ["-p", tdir]);
    writeFileSync(path.join(tdir, "x.yaml"), "kind: {{ .Values.x | nosuchfunc }}\n");
    const bad = run([dir]);
    assert.equal(bad.ok, false);
    assert.match(bad.stderr, /bad\/templates\/x\.yaml/);
  });

  test("lookup finds nothing, or with --cluster the given objects (one by name, or a list), and .Values is shared between templates", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "render-"));
    writeFileSync(path.join(dir, "Chart.yaml"), "apiVersion: v2\nname: lk\nversion: 0.0.1\n");
    spawnSync("mkdir", ["-p", path.join(dir, "templates")]);
    writeFileSync(
      path.join(dir, "templates/a.yaml"),
      [
        "{{- $_ := set .Values \"fromA\" \"a\" }}",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: a}",
        "data:",
        '  one: {{ with lookup "v1" "Secret" "ns" "s1" }}{{ .metadata.name | quote }}{{ else }}"none"{{ end }}',
        '  other: {{ with lookup "v1" "Secret" "other" "s1" }}{{ .metadata.name | quote }}{{ else }}"none"{{ end }}',
        '  count: {{ len ((lookup "v1" "Secret" "ns" "").items | default list) | quote }}',
        '  list: {{ hasKey (lookup "v1" "Secret" "ns" "") "items" | quote }}',
        "",
      ].join("\n"),
    );
    writeFileSync(path.join(dir, "templates/b.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {fromA: {{ .Values.fromA | quote }}}\n");
    const cluster = path.join(dir, "cluster.yaml");
    writeFileSync(
      cluster,
      ["s1", "s2"].map((n) => `---\napiVersion: v1\nkind: Secret\nmetadata: {name: ${n}, namespace: ns}\n`).join("") +
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: s1, namespace: ns}\n",
    );
    const without = run(["x", dir, "-n", "ns"]);
    assert.ok(without.ok, without.stderr);
    // As under helm template: an empty map, for a list too.
    assert.match(without.stdout, /one: "none"\n {2}other: "none"\n {2}count: "0"\n {2}list: "false"/);
    const withCluster = run(["x", dir, "-n", "ns", "--cluster", cluster]);
    assert.ok(withCluster.ok, withCluster.stderr);
    assert.match(withCluster.stdout, /one: "s1"\n {2}other: "none"\n {2}count: "2"\n {2}list: "true"/);
    assert.match(withCluster.stdout, /fromA: "a"/);
  });

  test("--show-only limits the output to one template", () => {
    const r = run([FIXTURE, "-s", "templates/c-config.yaml"]);
    assert.ok(r.ok, r.stderr);
    assert.deepEqual(r.stdout.match(/# Source: \S+/g), ["# Source: fixture/templates/c-config.yaml"]);
  });
});
