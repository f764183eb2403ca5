// Unknown-field check, as `kubectl apply --validate=strict` does on a server: the JSON schemas
// of kubernetes-models accept any extra property, so a misspelt field (`readinesProbe`,
// `matchLabel`) would pass .validate() and be dropped silently by the API server. The field
// names are read from the TypeScript declarations shipped beside the models, which list every
// property of every type.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { K8S_TESTS, MODULES } from "./chart.mjs";

const NODE_MODULES = path.join(K8S_TESTS, "node_modules");
const parsed = new Map();

function parseDts(file) {
  if (parsed.has(file)) return parsed.get(file);
  const text = readFileSync(file, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/import \{([^}]+)\} from "([^"]+)";/g)) {
    const target = resolveSpec(m[2], path.dirname(file));
    for (const name of m[1].split(",")) {
      const parts = name.trim().split(/\s+as\s+/);
      imports.set(parts[parts.length - 1], target);
    }
  }
  let props = null; // null: not an object type (an alias such as Quantity or IntOrString)
  const info = { file, imports, props };
  parsed.set(file, info);
  const iface = /export interface \w+(?: extends ([^{]+))? \{\n([\s\S]*?)\n\}/.exec(text);
  if (iface) {
    props = new Map();
    // Inherited fields first (the Gateway API models extend their common types, e.g.
    // HTTPRouteSpec extends CommonRouteSpec); a field declared again keeps its own type. An
    // inherited field's type resolves through the parent's imports.
    for (const parent of (iface[1] ?? "").split(",").map((x) => x.trim()).filter(Boolean)) {
      const parentFile = imports.get(parent);
      const base = parentFile && existsSync(parentFile) ? parseDts(parentFile) : null;
      for (const [k, field] of base?.props ?? []) props.set(k, field);
    }
    for (const m of iface[2].matchAll(/^ {4}"([^"]+)"\??: ([^\n]*)$/gm)) {
      props.set(m[1], { type: m[2].replace(/;$/, ""), from: info });
    }
  }
  info.props = props;
  return info;
}

function resolveSpec(spec, dir) {
  if (spec.startsWith(".")) return path.resolve(dir, spec.replace(/\.js$/, ".d.ts"));
  const file = path.join(NODE_MODULES, `${spec.replace(/\.js$/, "")}.d.ts`);
  return existsSync(file) ? file : null;
}

// The declaration file of a type written as `type` inside `info`, or null for a leaf.
function resolveType(type, info) {
  let t = type.trim();
  let arrays = 0;
  for (let m; (m = /^Array<(.*)>$/.exec(t)); ) {
    t = m[1].trim();
    arrays++;
  }
  if (!/^I[A-Za-z0-9]+$/.test(t)) return { arrays, node: null }; // primitives, unions, maps
  const file = info.imports.get(t);
  if (!file || !existsSync(file)) return { arrays, node: null };
  const node = parseDts(file);
  return { arrays, node: node.props ? node : null };
}

function walk(value, node, where, problems) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  for (const [key, v] of Object.entries(value)) {
    const field = node.props.get(key);
    if (field === undefined) {
      problems.push(`${where}.${key}: unknown field`);
      continue;
    }
    const { arrays, node: child } = resolveType(field.type, field.from);
    if (!child) continue;
    let items = [v];
    for (let i = 0; i < arrays; i++) items = items.flatMap((x) => (Array.isArray(x) ? x : []));
    items.forEach((item, i) => walk(item, child, arrays ? `${where}.${key}[${i}]` : `${where}.${key}`, problems));
  }
}

/** The declaration file of a top-level kind, e.g. apps/v1 Deployment. */
export function declarationOf(apiVersion, kind) {
  const dir = path.join(NODE_MODULES, MODULES[apiVersion] ?? `kubernetes-models/${apiVersion}`);
  const file = path.join(dir, `${kind}.d.ts`);
  if (!existsSync(file)) throw new Error(`no declarations for ${apiVersion} ${kind}`);
  return file;
}

/** Unknown fields of a manifest, as "Kind/name.spec.x: unknown field" lines. */
export function unknownFields(obj) {
  const node = parseDts(declarationOf(obj.apiVersion, obj.kind));
  const problems = [];
  walk(obj, node, `${obj.kind}/${obj.metadata?.name}`, problems);
  return problems;
}
