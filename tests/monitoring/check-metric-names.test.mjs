// node --test tests/monitoring/: the repository's monitoring assets use only documented metrics,
// and the checker really fails on each kind of drift (a check that never fails checks nothing).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { analyzePromQL, checkSources, parseDocs, parseRunbooks } from "./check-metric-names.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const checker = join(here, "check-metric-names.mjs");
const read = (p) => readFileSync(join(root, p), "utf8");

const DOCS = read("docs/operations.md");
const RULES = read("k8s/monitoring/alerts.yaml");
const RULE_TESTS = read("tests/monitoring/alerts_test.yaml");
const DASHBOARD = read("k8s/monitoring/grafana-dashboard.json");
const README = read("k8s/monitoring/README.md");
const RUNBOOKS = read("docs/runbooks.md");

function repoSources(changes = {}) {
  return {
    docs: changes.docs ?? DOCS,
    runbooks: changes.runbooks ?? RUNBOOKS,
    rules: [{ file: "alerts.yaml", text: changes.rules ?? RULES }],
    ruleTests: [{ file: "alerts_test.yaml", text: changes.ruleTests ?? RULE_TESTS }],
    dashboards: [{ file: "grafana-dashboard.json", text: changes.dashboard ?? DASHBOARD }],
    readmes: [{ file: "README.md", text: changes.readme ?? README }],
  };
}

// A minimal rules file around one alert expression.
function oneAlert(expr, extra = "") {
  return `groups:
  - name: t
    rules:
      - alert: RoomcastEdgeDown
        expr: ${expr}
        labels:
          severity: critical
        annotations:
          summary: s
          description: d${extra}
          runbook_url: "docs/runbooks.md#roomcastedgedown"
`;
}

function problemsFor(changes) {
  const s = repoSources(changes);
  if (changes.rules !== undefined) s.readmes = [{ file: "README.md", text: "RoomcastEdgeDown" }];
  return checkSources(s);
}

function assertProblem(problems, pattern) {
  assert.ok(problems.some((p) => pattern.test(p)), `expected a problem matching ${pattern}, got:\n${problems.join("\n")}`);
}

test("the repository's rules, rule tests, dashboard and README use only documented metrics", () => {
  assert.deepEqual(checkSources(repoSources()), []);
});

test("the command line passes on the repository", () => {
  const r = spawnSync(process.execPath, [checker], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("the docs' metric tables are read: names, types, labels and enumerated values", () => {
  const { metrics, anchors } = parseDocs(DOCS);
  assert.ok(metrics.has("roomcast_edge_connections"));
  assert.ok(metrics.has("roomcast_edge_packets_out_total"), "two names in one table cell");
  assert.ok(metrics.has("roomcast_grpc_request_duration_seconds_bucket"), "histogram series");
  assert.ok(!metrics.has("roomcast_edge_connections_bucket"), "gauges have no buckets");
  assert.deepEqual([...metrics.get("roomcast_edge_recoveries_total").labels.get("result")], ["recovered", "failed"]);
  assert.equal(metrics.get("roomcast_grpc_requests_total").labels.get("method"), null, "described, not enumerated");
  assert.ok(anchors.has("when-nats-is-down"));
});

test("the PromQL reader tells metrics from functions, keywords and grouping labels", () => {
  const a = analyzePromQL(
    'sum by (namespace, le) (rate(x_bucket{a="1", b=~"2|3"}[5m] offset 1h)) / on (namespace) group_left () y > bool 0.5 or vector(1)');
  assert.deepEqual(a.selectors.map((s) => s.name), ["x_bucket", "y"]);
  assert.deepEqual(a.selectors[0].matchers, [
    { label: "a", op: "=", value: "1" }, { label: "b", op: "=~", value: "2|3" }]);
  assert.deepEqual(a.errors, []);
});

test("fails on an undocumented metric in an alert expression", () => {
  assertProblem(problemsFor({ rules: oneAlert("roomcast_edge_sessions_open > 5") }), /roomcast_edge_sessions_open is not in docs/);
});

test("fails on a metric that is not Roomcast's (only `up` and the documented process_* are allowed)", () => {
  assert.deepEqual(problemsFor({ rules: oneAlert("process_open_fds > 5") }).filter((p) => /process_/.test(p)), []);
  assertProblem(problemsFor({ rules: oneAlert("go_goroutines > 5") }), /metric go_goroutines is not in docs/);
  assertProblem(problemsFor({ rules: oneAlert("process_network_receive_bytes_total > 5") }),
    /metric process_network_receive_bytes_total is not in docs/);
});

test("a bucket name listed as a label value is not taken for an undocumented metric", () => {
  assert.deepEqual(problemsFor({ rules: oneAlert('roomcast_jetstream_bytes{name="roomcast_sessions"} > 5') })
    .filter((p) => /roomcast_(sessions|jetstream)/.test(p)), []);
  assertProblem(problemsFor({ rules: oneAlert("roomcast_jetstream_bytes > 5", " see roomcast_sessionz") }),
    /roomcast_sessionz is not a metric/);
});

test("fails on an undocumented metric mentioned only in an annotation", () => {
  assertProblem(problemsFor({ rules: oneAlert("roomcast_nats_connected == 0", " see roomcast_nats_latency_seconds") }),
    /roomcast_nats_latency_seconds is not a metric/);
});

test("fails on histogram suffixes of a metric that is not a histogram", () => {
  assertProblem(problemsFor({ rules: oneAlert("roomcast_edge_connections_bucket > 1") }), /roomcast_edge_connections_bucket/);
});

test("fails on an undocumented label and on a value outside a documented enumeration", () => {
  assertProblem(problemsFor({ rules: oneAlert('roomcast_edge_connections{room="lobby"} > 1') }), /has no label room/);
  assertProblem(problemsFor({ rules: oneAlert('rate(roomcast_edge_recoveries_total{result="timeout"}[5m]) > 1') }),
    /no documented value "timeout"/);
  assertProblem(problemsFor({ rules: oneAlert('rate(roomcast_edge_auth_failures_total{code=~"token_invalid|token_revoked"}[5m]) > 1') }),
    /no documented value "token_revoked"/);
});

test("fails on a job outside the naming convention", () => {
  assertProblem(problemsFor({ rules: oneAlert('up{job="roomcast-edges"} == 0') }), /job "roomcast-edges"/);
});

test("fails on an unknown function and on a recorded series no rule records", () => {
  assertProblem(problemsFor({ rules: oneAlert("ratee(roomcast_nats_reconnects_total[5m]) > 1") }), /unknown function ratee/);
  assertProblem(problemsFor({ rules: oneAlert("job:roomcast_nats_reconnects:rate5m > 1") }), /recorded by no rule/);
});

test("fails when an alert lacks severity or annotations", () => {
  const noSeverity = oneAlert("roomcast_nats_connected == 0").replace("severity: critical", "team: x");
  assertProblem(problemsFor({ rules: noSeverity }), /no severity label/);
  const noRunbook = oneAlert("roomcast_nats_connected == 0").replace(/\s+runbook_url:.*\n/, "\n");
  assertProblem(problemsFor({ rules: noRunbook }), /no runbook_url annotation/);
});

test("every alert of the repository has its own runbook section with symptom, checks and fix", () => {
  const { anchors } = parseRunbooks(RUNBOOKS);
  const alerts = [...RULES.matchAll(/^\s+- alert: (\S+)/gm)].map((m) => m[1]);
  assert.ok(alerts.length >= 18, `alerts read: ${alerts}`);
  for (const a of alerts) {
    assert.ok(anchors.has(a.toLowerCase()), `docs/runbooks.md has no section for ${a}`);
    assert.ok(RULES.includes(`runbook_url: "docs/runbooks.md#${a.toLowerCase()}"`), `${a}: runbook_url`);
  }
  assert.ok(!/^\s+runbook:/m.test(RULES), "no old relative runbook: annotation is left");
});

test("fails on a runbook_url whose anchor is not a heading of docs/runbooks.md", () => {
  // The runbook's heading renamed: the alert's anchor no longer exists.
  const runbooks = RUNBOOKS.replace("## RoomcastEdgeDown", "## Edge down");
  assertProblem(problemsFor({ rules: oneAlert("roomcast_nats_connected == 0"), runbooks }),
    /docs\/runbooks.md has no heading #roomcastedgedown/);
  // The repository's own rules against that runbook: the same failure.
  assertProblem(checkSources({ ...repoSources(), runbooks }), /RoomcastEdgeDown: docs\/runbooks.md has no heading #roomcastedgedown/);
});

test("fails on a runbook_url that is not the alert's section, not under docs/runbooks.md, or the old runbook:", () => {
  const other = oneAlert("roomcast_nats_connected == 0").replace("#roomcastedgedown", "#roomcastnatsdisconnected");
  assertProblem(problemsFor({ rules: other }), /is not the alert's own section \(#roomcastedgedown\)/);
  const elsewhere = oneAlert("roomcast_nats_connected == 0").replace("docs/runbooks.md#", "docs/operations.md#");
  assertProblem(problemsFor({ rules: elsewhere }), /is not docs\/runbooks.md#<anchor>/);
  const old = oneAlert("roomcast_nats_connected == 0").replace("          runbook_url:", '          runbook: "docs/operations.md#metrics"\n          runbook_url:');
  assertProblem(problemsFor({ rules: old }), /a "runbook:" annotation/);
});

test("fails on a runbook section without its symptom, checks or fix", () => {
  const runbooks = RUNBOOKS.replace(/(## RoomcastEdgeDown[\s\S]*?)\*\*Fix\.\*\*/, "$1**Remedy.**");
  assertProblem(problemsFor({ rules: oneAlert("roomcast_nats_connected == 0"), runbooks }),
    /docs\/runbooks.md#roomcastedgedown has no \*\*Fix\*\*/);
});

test("runbook anchors are GitHub's: lower case, punctuation dropped, duplicates numbered", () => {
  const { anchors } = parseRunbooks("# A\n## Foo Bar!\ntext\n## Foo Bar\n```\n## not a heading\n```\n");
  assert.deepEqual([...anchors.keys()], ["a", "foo-bar", "foo-bar-1"]);
  assert.match(anchors.get("a"), /text/, "a section runs to the next heading of its level");
});

test("fails on an undocumented metric in the dashboard, a panel or a variable", () => {
  const d = JSON.parse(DASHBOARD);
  d.panels.find((p) => p.targets).targets[0].expr = "sum(roomcast_edge_rooms)";
  assertProblem(problemsFor({ dashboard: JSON.stringify(d) }), /roomcast_edge_rooms is not in docs/);
  const v = JSON.parse(DASHBOARD);
  v.templating.list.find((t) => t.name === "pod").query.query = "label_values(roomcast_edge_info, pod)";
  assertProblem(problemsFor({ dashboard: JSON.stringify(v) }), /roomcast_edge_info is not in docs/);
  assertProblem(problemsFor({ dashboard: DASHBOARD.slice(0, -10) }), /not valid JSON/);
});

test("fails on an undocumented metric in the rule tests' input series", () => {
  const t = RULE_TESTS.replace("roomcast_nats_connected{", "roomcast_nats_up{");
  assertProblem(problemsFor({ ruleTests: t }), /roomcast_nats_up is not/);
});

test("fails when the README does not describe an alert", () => {
  assertProblem(problemsFor({ readme: README.replaceAll("RoomcastBusEventsLost", "BusEventsLost") }),
    /alert RoomcastBusEventsLost is not described/);
});

test("fails when docs/operations.md drops or renames a metric the assets use", () => {
  const docs = DOCS.replace("`roomcast_edge_bus_events_lost_total`", "`roomcast_edge_bus_gaps_lost_total`");
  assertProblem(problemsFor({ docs }), /roomcast_edge_bus_events_lost_total is not/);
  assertProblem(problemsFor({ docs: DOCS.replace("## Metrics", "## Measurements") }), /no metric tables/);
});

test("the command line exits 1 and names the problem", () => {
  const dir = mkdtempSync(join(tmpdir(), "roomcast-monitoring-"));
  try {
    for (const p of ["docs/operations.md", "docs/runbooks.md", "k8s/monitoring", "tests/monitoring/alerts_test.yaml"]) {
      cpSync(join(root, p), join(dir, p), { recursive: true });
    }
    writeFileSync(join(dir, "k8s/monitoring/alerts.yaml"),
      RULES.replace("roomcast_nats_connected == 0", "roomcast_nats_status == 0"));
    const r = spawnSync(process.execPath, [checker, "--root", dir], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /roomcast_nats_status is not in docs\/operations.md/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
