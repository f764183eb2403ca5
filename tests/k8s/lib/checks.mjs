// Assertions shared by the chart tests: every object valid against its schema (and free of
// unknown fields), selectors that select, ports that exist.
import assert from "node:assert/strict";
import { validateObject } from "./chart.mjs";
import { unknownFields } from "./strict.mjs";

/** Validates every rendered object; returns how many there were. */
export async function assertAllValid(docs) {
  assert.ok(docs.length > 0, "nothing rendered");
  const problems = [];
  for (const { source, obj } of docs) {
    const id = `${obj.kind}/${obj.metadata?.name} (${source})`;
    try {
      await validateObject(obj);
    } catch (e) {
      problems.push(`${id}: ${e.message}`);
    }
    for (const p of unknownFields(obj)) problems.push(`${id}: ${p}`);
  }
  assert.deepEqual(problems, [], `invalid objects:\n${problems.join("\n")}`);
  return docs.length;
}

export const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

export const workloads = (docs) =>
  docs.map((d) => d.obj).filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");

export const podLabels = (w) => w.spec.template.metadata.labels;

/** Every container of every Deployment and StatefulSet, with its workload. */
export function* containers(docs) {
  for (const w of workloads(docs)) {
    for (const c of w.spec.template.spec.containers) yield { w, c };
  }
}

/**
 * Structural consistency: names unique per kind, every workload's selector matches its pod
 * labels, every Service selects exactly one workload and targets ports that exist, every PDB
 * selects one workload, every object in the expected namespace.
 */
export function assertConsistent(docs, namespace) {
  const objs = docs.map((d) => d.obj);
  const seen = new Set();
  for (const o of objs) {
    const key = `${o.kind}/${o.metadata.name}`;
    assert.ok(!seen.has(key), `${key} rendered twice`);
    seen.add(key);
    assert.equal(o.metadata.namespace, namespace, `${key} namespace`);
    assert.ok(o.metadata.name.length <= 63, `${key}: name longer than 63`);
  }
  const ws = workloads(docs);
  for (const w of ws) {
    assert.ok(matches(w.spec.selector.matchLabels, podLabels(w)), `${w.metadata.name}: selector vs pod labels`);
  }
  for (const s of objs.filter((o) => o.kind === "Service")) {
    const selected = ws.filter((w) => matches(s.spec.selector, podLabels(w)));
    assert.equal(selected.length, 1, `Service ${s.metadata.name} selects ${selected.length} workloads`);
    const ports = selected[0].spec.template.spec.containers.flatMap((c) => c.ports ?? []);
    for (const p of s.spec.ports) {
      const target = p.targetPort ?? p.port;
      const found = ports.find((cp) => cp.name === target || cp.containerPort === target);
      assert.ok(found, `Service ${s.metadata.name} port ${p.name}: no container port ${target}`);
    }
  }
  for (const pdb of objs.filter((o) => o.kind === "PodDisruptionBudget")) {
    const selected = ws.filter((w) => matches(pdb.spec.selector.matchLabels, podLabels(w)));
    assert.equal(selected.length, 1, `PDB ${pdb.metadata.name} selects ${selected.length} workloads`);
  }
  for (const np of objs.filter((o) => o.kind === "NetworkPolicy")) {
    const selected = ws.filter((w) => matches(np.spec.podSelector.matchLabels, podLabels(w)));
    assert.equal(selected.length, 1, `NetworkPolicy ${np.metadata.name} selects ${selected.length} workloads`);
  }
}
