#!/usr/bin/env node
// Keeps the monitoring assets honest against docs/operations.md "Metrics", the one list of the
// metric names, types and labels Roomcast exposes. Fails (exit 1, one line per problem) when
//   - a PromQL expression in the rules, the rule tests or the dashboard selects a metric that is
//     not documented (histograms may add _bucket, _sum, _count; `up` is Prometheus' own),
//     calls an unknown function, or uses a recorded series (level:metric:op) no rule records;
//   - a selector uses a label the metric does not have (besides the target labels job,
//     instance, namespace, pod, and le on _bucket), or a value outside a documented enumeration
//     such as result (recovered, failed), or a job outside the naming convention;
//   - any roomcast_* word anywhere in those files or in k8s/monitoring/README.md is not a
//     documented name (this catches annotations and prose too);
//   - an alert lacks a severity label, a summary, a description or a runbook_url, or the README
//     does not list an alert;
//   - a runbook_url is not docs/runbooks.md#<anchor> with the alert's own section (the anchor of
//     a heading named like the alert), that section lacks its Symptom, Checks or Fix, or an
//     alert still carries the old relative `runbook:` annotation.
//
//   node tests/monitoring/check-metric-names.mjs [--root DIR]   checks the repository's files
//   node --test tests/monitoring/                       also proves the checker fails on bad input
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Target labels the scrape configs / ServiceMonitors attach (k8s/monitoring/README.md).
const TARGET_LABELS = new Set(["job", "instance", "namespace", "pod"]);
const JOBS = new Set(["roomcast-edge", "roomcast-rooms", "roomcast-presence", "roomcast-auth"]);

const AGGREGATORS = new Set([
  "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
  "topk", "quantile", "limitk", "limit_ratio",
]);
const FUNCTIONS = new Set([
  "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
  "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
  "histogram_count", "histogram_sum", "histogram_fraction", "histogram_quantile",
  "histogram_stddev", "histogram_stdvar", "holt_winters", "hour", "idelta", "increase", "irate",
  "label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate",
  "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector",
  "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
  "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
  "present_over_time", "mad_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos",
  "cosh", "sin", "sinh", "tan", "tanh", "deg", "pi", "rad",
]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

// ---------------------------------------------------------------------------------------------
// docs/operations.md

// GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
export function slug(heading) {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

// Returns { metrics: Map(name -> { type, labels: Map(label -> Set(values) | null) }), anchors }.
export function parseDocs(text) {
  const anchors = new Set();
  const metrics = new Map();
  // Listed label values (bucket names such as roomcast_rooms are values, not metrics).
  const labelValues = new Set();
  let inMetrics = false;
  let header = null;
  for (const line of text.split("\n")) {
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      anchors.add(slug(h[2]));
      if (h[1].length === 2) {
        inMetrics = h[2].trim() === "Metrics";
      }
      header = null;
      continue;
    }
    if (!inMetrics || !line.startsWith("|")) {
      if (!line.startsWith("|")) header = null;
      continue;
    }
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (header === null) {
      header = cells.map((c) => c.toLowerCase());
      continue;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    const col = (name) => {
      const i = header.indexOf(name);
      return i < 0 ? "" : cells[i];
    };
    const type = col("type");
    const labels = new Map();
    for (const m of col("labels").matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`(?:\s*\(([^)]*)\))?/g)) {
      // "(polling, websocket)" enumerates values; "(full gRPC path)" describes them.
      const items = m[2] ? m[2].split(",").map((v) => v.trim()) : [];
      const enumerated = items.length > 0 && items.every((v) => /^[a-z_ ]+$/.test(v));
      labels.set(m[1], enumerated ? new Set(items) : null);
      items.filter((v) => /^[A-Za-z0-9_]+$/.test(v)).forEach((v) => labelValues.add(v));
    }
    // Ours (roomcast_*) and the standard process metrics (process_*).
    for (const m of col("metric").matchAll(/`((?:roomcast|process)_[A-Za-z0-9_]+)`/g)) {
      metrics.set(m[1], { type, labels });
    }
  }
  // A histogram's series: name_bucket (with le), name_sum, name_count.
  for (const [name, info] of [...metrics]) {
    if (info.type === "histogram") {
      const bucketLabels = new Map(info.labels);
      bucketLabels.set("le", null);
      metrics.set(`${name}_bucket`, { type: "counter", labels: bucketLabels, base: name });
      metrics.set(`${name}_sum`, { type: "counter", labels: info.labels, base: name });
      metrics.set(`${name}_count`, { type: "counter", labels: info.labels, base: name });
    }
  }
  metrics.set("up", { type: "gauge", labels: new Map(), builtin: true });
  return { metrics, anchors, labelValues };
}

// ---------------------------------------------------------------------------------------------
// PromQL: a lexer good enough to tell metric names from functions, keywords and label names.

function lex(expr) {
  const tokens = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "#") {
      while (i < expr.length && expr[i] !== "\n") i++;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      let value = "";
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === "\\" && c !== "`") {
          value += expr[j + 1] === "\\" ? "\\" : expr[j] + expr[j + 1];
          j += 2;
        } else {
          value += expr[j++];
        }
      }
      if (j >= expr.length) throw new Error("unterminated string");
      tokens.push({ t: "str", v: value });
      i = j + 1;
    } else if (/[A-Za-z_:]/.test(c)) {
      const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(expr.slice(i));
      tokens.push({ t: "id", v: m[0] });
      i += m[0].length;
    } else if (/[0-9.]/.test(c)) {
      const m = /^[0-9.][0-9A-Za-z.+-]*/.exec(expr.slice(i));
      // Stop a number before a following operator such as "-" in "5m-1" (rare; durations).
      const v = /^[0-9.]+(?:e[+-]?[0-9]+)?[a-z0-9]*/i.exec(m[0])[0];
      tokens.push({ t: "num", v });
      i += v.length;
    } else if (c === "$") {
      const m = /^\$(\{[^}]*\}|[A-Za-z0-9_]+)/.exec(expr.slice(i));
      tokens.push({ t: "var", v: m ? m[0] : "$" });
      i += m ? m[0].length : 1;
    } else {
      const two = expr.slice(i, i + 2);
      if (["=~", "!~", "!=", "==", ">=", "<="].includes(two)) {
        tokens.push({ t: "op", v: two });
        i += 2;
      } else {
        tokens.push({ t: "op", v: c });
        i++;
      }
    }
  }
  return tokens;
}

// Returns { selectors: [{ name, matchers: [{ label, op, value }] }], functions, errors }.
export function analyzePromQL(expr) {
  const out = { selectors: [], functions: [], errors: [] };
  let tokens;
  try {
    tokens = lex(expr);
  } catch (e) {
    out.errors.push(e.message);
    return out;
  }
  const next = (i) => tokens[i + 1] || { t: "eof", v: "" };
  const readMatchers = (i) => {
    // tokens[i] is "{"; returns [matchers, index after "}"].
    const matchers = [];
    let j = i + 1;
    while (j < tokens.length && tokens[j].v !== "}") {
      if (tokens[j].v === ",") {
        j++;
        continue;
      }
      const [l, op, v] = [tokens[j], tokens[j + 1], tokens[j + 2]];
      if (!l || l.t !== "id" || !op || op.t !== "op" || !v || v.t !== "str") {
        out.errors.push(`cannot read label matcher near "${l ? l.v : ""}"`);
        return [matchers, tokens.length];
      }
      matchers.push({ label: l.v, op: op.v, value: v.v });
      j += 3;
    }
    return [matchers, j + 1];
  };
  let i = 0;
  while (i < tokens.length) {
    const tok = tokens[i];
    if (tok.t === "op" && tok.v === "[") {
      while (i < tokens.length && tokens[i].v !== "]") i++;
      i++;
    } else if (tok.t === "op" && tok.v === "{") {
      const [matchers, j] = readMatchers(i);
      out.selectors.push({ name: null, matchers });
      out.errors.push("selector without a metric name: cannot check it");
      i = j;
    } else if (tok.t === "id" && GROUPING.has(tok.v)) {
      i++;
      if (tokens[i] && tokens[i].v === "(") {
        while (i < tokens.length && tokens[i].v !== ")") i++;
        i++;
      }
    } else if (tok.t === "id" && AGGREGATORS.has(tok.v) && (next(i).v === "(" || GROUPING.has(next(i).v))) {
      out.functions.push(tok.v);
      i++;
    } else if (tok.t === "id" && next(i).v === "(") {
      if (!FUNCTIONS.has(tok.v)) out.errors.push(`unknown function ${tok.v}()`);
      out.functions.push(tok.v);
      i++;
    } else if (tok.t === "id" && KEYWORDS.has(tok.v.toLowerCase())) {
      i++;
    } else if (tok.t === "id") {
      let matchers = [];
      let j = i + 1;
      if (next(i).v === "{") [matchers, j] = readMatchers(i + 1);
      out.selectors.push({ name: tok.v, matchers });
      i = j;
    } else {
      i++;
    }
  }
  return out;
}

// Problems with one expression, given the documented metrics and the recorded names.
export function checkExpr(expr, where, docs, recorded, { checkJobs = true } = {}) {
  const problems = [];
  const a = analyzePromQL(expr);
  for (const e of a.errors) problems.push(`${where}: ${e}`);
  for (const sel of a.selectors) {
    if (sel.name === null) continue;
    if (sel.name.includes(":")) {
      if (!recorded.has(sel.name)) problems.push(`${where}: ${sel.name} is recorded by no rule`);
      continue;
    }
    const info = docs.metrics.get(sel.name);
    if (!info) {
      problems.push(`${where}: metric ${sel.name} is not in docs/operations.md "Metrics"`);
      continue;
    }
    for (const m of sel.matchers) {
      if (m.label === "__name__") {
        problems.push(`${where}: ${sel.name}: __name__ matchers cannot be checked`);
        continue;
      }
      if (m.label === "job") {
        if (checkJobs && m.op === "=" && !JOBS.has(m.value)) {
          problems.push(`${where}: job "${m.value}" is not one of ${[...JOBS].join(", ")}`);
        }
        continue;
      }
      if (TARGET_LABELS.has(m.label)) continue;
      if (!info.labels.has(m.label)) {
        problems.push(`${where}: ${sel.name} has no label ${m.label} in docs/operations.md`);
        continue;
      }
      const allowed = info.labels.get(m.label);
      if (allowed === null || m.value.includes("$")) continue;
      // Equality, or a regex that is a plain alternation of values.
      const values = m.op === "=" || m.op === "!=" ? [m.value]
        : /^[A-Za-z0-9_ |]+$/.test(m.value) ? m.value.split("|") : [];
      for (const v of values) {
        if (!allowed.has(v)) {
          problems.push(`${where}: ${sel.name}{${m.label}} has no documented value "${v}"`);
        }
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// YAML (rules and rule tests): only the keys that hold PromQL, without a YAML library.

function yamlScalar(lines, i, key) {
  const m = new RegExp(`^(\\s*)(?:-\\s+)?${key}:\\s*(.*)$`).exec(lines[i]);
  if (!m) return null;
  const indent = m[1].length;
  const rest = m[2].trim();
  if (/^[|>][+-]?$/.test(rest)) {
    const body = [];
    let j = i + 1;
    while (j < lines.length && (lines[j].trim() === "" || /^\s*/.exec(lines[j])[0].length > indent)) {
      body.push(lines[j]);
      j++;
    }
    return body.join("\n");
  }
  if (rest.startsWith("'")) return rest.slice(1, rest.lastIndexOf("'")).replace(/''/g, "'");
  if (rest.startsWith('"')) return JSON.parse(rest.slice(0, rest.lastIndexOf('"') + 1));
  return rest.replace(/\s+#.*$/, "");
}

// Returns { rules: [{ kind, name, expr, block, line }], exprs: [{ expr, line }] }.
export function parseRulesYaml(text) {
  const lines = text.split("\n");
  const rules = [];
  const exprs = [];
  let current = null;
  for (let i = 0; i < lines.length; i++) {
    const r = /^\s*-\s+(alert|record):\s*(\S+)/.exec(lines[i]);
    if (r) {
      current = { kind: r[1], name: r[2].replace(/^["']|["']$/g, ""), expr: null, block: [], line: i + 1 };
      rules.push(current);
    }
    if (/^\s*-\s+name:/.test(lines[i]) || /^\S/.test(lines[i])) current = null;
    if (current) current.block.push(lines[i]);
    for (const key of ["expr", "series"]) {
      const v = yamlScalar(lines, i, key);
      if (v === null) continue;
      exprs.push({ expr: v, line: i + 1 });
      if (current && key === "expr") current.expr = v;
    }
  }
  for (const r of rules) r.block = r.block.join("\n");
  return { rules, exprs };
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboard JSON: every target expression and every query variable.

export function dashboardExprs(json) {
  const found = [];
  const walk = (node, path) => {
    if (Array.isArray(node)) {
      node.forEach((n, k) => walk(n, `${path}[${k}]`));
    } else if (node && typeof node === "object") {
      if (typeof node.expr === "string") found.push({ expr: node.expr, where: `${path}.expr` });
      if (node.type === "query" && node.query !== undefined) {
        const q = typeof node.query === "string" ? node.query : node.query.query;
        const lv = /^\s*label_values\(\s*(.*)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/s.exec(q || "");
        const inner = lv ? lv[1] : /^\s*query_result\(\s*(.*)\s*\)\s*$/s.exec(q || "")?.[1];
        if (inner !== undefined) found.push({ expr: inner, where: `${path}.query` });
        else if (q) found.push({ expr: q, where: `${path}.query` });
      }
      for (const [k, v] of Object.entries(node)) {
        if (k !== "expr" && k !== "query" && k !== "definition") walk(v, `${path}.${k}`);
      }
    }
  };
  walk(json, "$");
  return found;
}

// ---------------------------------------------------------------------------------------------

// Any roomcast_* or process_* word (not part of a recorded level:metric:op name) must be
// documented.
function checkWords(text, file, docs) {
  const problems = [];
  const lines = text.split("\n");
  lines.forEach((line, k) => {
    for (const m of line.matchAll(/[A-Za-z0-9_:]+/g)) {
      const w = m[0];
      if (w.includes(":") || !/^(roomcast|process)_/.test(w) || docs.labelValues.has(w)) continue;
      if (!docs.metrics.has(w)) {
        problems.push(`${file}:${k + 1}: ${w} is not a metric in docs/operations.md "Metrics"`);
      }
    }
  });
  return problems;
}

// docs/runbooks.md: its heading anchors (GitHub's, duplicates numbered -1, -2, ...) and, per
// anchor, the text of its section up to the next heading of the same or a higher level.
export function parseRunbooks(text) {
  const anchors = new Map();  // anchor -> section text
  const seen = new Map();
  const lines = text.split("\n");
  let inFence = false;
  const headings = [];
  lines.forEach((line, i) => {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const h = !inFence && /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) headings.push({ level: h[1].length, text: h[2], line: i });
  });
  headings.forEach((h, k) => {
    const base = slug(h.text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    const anchor = n === 0 ? base : `${base}-${n}`;
    let end = lines.length;
    for (const next of headings.slice(k + 1)) {
      if (next.level <= h.level) {
        end = next.line;
        break;
      }
    }
    anchors.set(anchor, lines.slice(h.line + 1, end).join("\n"));
  });
  return { anchors };
}

export const RUNBOOK_PREFIX = "docs/runbooks.md#";

// An alert's runbook_url: docs/runbooks.md#<the anchor of a heading named like the alert>, a
// section with **Symptom**, **Checks** and **Fix**.
function checkRunbookUrl(rule, where, runbooks) {
  const m = /^\s+runbook_url:\s*["']?([^"'\s]+)["']?\s*$/m.exec(rule.block);
  if (!m) return [];
  const url = m[1];
  if (!url.startsWith(RUNBOOK_PREFIX)) {
    return [`${where}: runbook_url ${url} is not ${RUNBOOK_PREFIX}<anchor>`];
  }
  const anchor = url.slice(RUNBOOK_PREFIX.length);
  const problems = [];
  if (anchor !== slug(rule.name)) {
    problems.push(`${where}: runbook_url ${url} is not the alert's own section (#${slug(rule.name)})`);
  }
  const section = runbooks.anchors.get(anchor);
  if (section === undefined) {
    problems.push(`${where}: docs/runbooks.md has no heading #${anchor}`);
    return problems;
  }
  for (const part of ["Symptom", "Checks", "Fix"]) {
    if (!new RegExp(`\\*\\*${part}\\b`).test(section)) {
      problems.push(`${where}: docs/runbooks.md#${anchor} has no **${part}**`);
    }
  }
  return problems;
}

// sources: { docs: text, runbooks: text, rules: [{ file, text }], ruleTests: [...], dashboards: [...],
// readmes: [...] }. Returns a list of problems (empty: all good).
export function checkSources(sources) {
  const docs = parseDocs(sources.docs);
  const runbooks = parseRunbooks(sources.runbooks ?? "");
  const problems = [];
  if (![...docs.metrics.keys()].some((k) => k.startsWith("roomcast_"))) {
    return ["docs/operations.md: no metric tables found under \"## Metrics\""];
  }
  const recorded = new Set();
  const alerts = new Set();
  const parsedRules = (sources.rules || []).map((f) => ({ ...f, parsed: parseRulesYaml(f.text) }));
  for (const f of parsedRules) {
    for (const r of f.parsed.rules) {
      if (r.kind === "record") recorded.add(r.name);
      else alerts.add(r.name);
    }
  }
  for (const f of parsedRules) {
    const { rules, exprs } = f.parsed;
    if (rules.length === 0) problems.push(`${f.file}: no rules found`);
    for (const r of rules) {
      const where = `${f.file}:${r.line} ${r.name}`;
      if (r.expr === null) {
        problems.push(`${where}: no expr found (the checker reads "expr:" keys)`);
        continue;
      }
      problems.push(...checkExpr(r.expr, where, docs, recorded));
      if (r.kind !== "alert") continue;
      if (!/^\s+severity:\s*["']?(critical|warning|info)["']?\s*$/m.test(r.block)) {
        problems.push(`${where}: no severity label (critical, warning or info)`);
      }
      for (const key of ["summary", "description", "runbook_url"]) {
        if (!new RegExp(`^\\s+${key}:`, "m").test(r.block)) problems.push(`${where}: no ${key} annotation`);
      }
      if (/^\s+runbook:/m.test(r.block)) problems.push(`${where}: a "runbook:" annotation (use runbook_url)`);
      problems.push(...checkRunbookUrl(r, where, runbooks));
    }
    if (exprs.length !== rules.length) {
      problems.push(`${f.file}: ${rules.length} rules but ${exprs.length} expressions read`);
    }
  }
  for (const f of sources.ruleTests || []) {
    for (const e of parseRulesYaml(f.text).exprs) {
      // Tests may hold other applications' targets (a job named *edge* that is not ours).
      problems.push(...checkExpr(e.expr, `${f.file}:${e.line}`, docs, recorded, { checkJobs: false }));
    }
  }
  for (const f of sources.dashboards || []) {
    let json;
    try {
      json = JSON.parse(f.text);
    } catch (e) {
      problems.push(`${f.file}: not valid JSON: ${e.message}`);
      continue;
    }
    const exprs = dashboardExprs(json);
    if (exprs.length === 0) problems.push(`${f.file}: no queries found`);
    for (const e of exprs) problems.push(...checkExpr(e.expr, `${f.file} ${e.where}`, docs, recorded));
  }
  const all = [...(sources.rules || []), ...(sources.ruleTests || []), ...(sources.dashboards || []),
    ...(sources.readmes || [])];
  for (const f of all) {
    problems.push(...checkWords(f.text, f.file, docs));
    for (const m of f.text.matchAll(/docs\/operations\.md#([A-Za-z0-9_-]+)/g)) {
      if (!docs.anchors.has(m[1])) problems.push(`${f.file}: docs/operations.md has no heading #${m[1]}`);
    }
  }
  for (const f of sources.readmes || []) {
    for (const a of alerts) {
      if (!new RegExp(`\\b${a}\\b`).test(f.text)) problems.push(`${f.file}: alert ${a} is not described`);
    }
  }
  return problems;
}

function main() {
  // --root DIR checks another checkout (the self-tests use it); default: this repository.
  const at = process.argv.indexOf("--root");
  const root = at > 0 ? process.argv[at + 1] : join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const read = (p) => ({ file: p, text: readFileSync(join(root, p), "utf8") });
  const problems = checkSources({
    docs: readFileSync(join(root, "docs/operations.md"), "utf8"),
    runbooks: readFileSync(join(root, "docs/runbooks.md"), "utf8"),
    rules: [read("k8s/monitoring/alerts.yaml")],
    ruleTests: [read("tests/monitoring/alerts_test.yaml")],
    dashboards: [read("k8s/monitoring/grafana-dashboard.json")],
    readmes: [read("k8s/monitoring/README.md")],
  });
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    console.error(`${problems.length} problem(s): use only the metrics of docs/operations.md "Metrics"` +
      ` (or document the new metric there first).`);
    process.exit(1);
  }
  console.log("metric names: alerts, rule tests, dashboard and README match docs/operations.md");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
