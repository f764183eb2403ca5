// Every flag of the edge is reachable as a chart value: edge.config (at the edge's own
// defaults), another value the chart turns into the flag or its variable, or listed below as
// deliberately not offered, with why. The list of flags is the edge's own `--help`, so a flag
// added to the edge fails this test until the chart offers it (or says why not).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { CHART, ROOT, container, find, render } from "../lib/chart.mjs";

const BUILD_DIR = process.env.ROOMCAST_BUILD_DIR || path.join(ROOT, "build");
const EDGE = path.join(BUILD_DIR, "services/edge/roomcast_edge");

// Flags the chart sets from other values (or from the pod), by the value that controls them.
const SET_BY_CHART = {
  "host": "listenHost",
  "admin-host": "listenHost",
  "port": "edge.port",
  "admin-port": "edge.adminPort",
  "edge-id": "the pod name ($(POD_NAME))",
  "drain-timeout": "edge.drain.timeoutSeconds",
  "drain-spread": "edge.drain.spreadSeconds",
  "auto-create-prefixes": "edge.autoCreatePrefixes",
  "jwt-secret": "secret.* (ROOMCAST_JWT_SECRET from the Secret; see edge.acceptHs256Tokens)",
  "nats-url": "nats.external.url, nats.external.urlSecret or the in-chart servers (ROOMCAST_NATS_URL)",
  "nats-user": "the component's NATS role (ROOMCAST_NATS_USER)",
  "nats-password": "nats.auth.* (ROOMCAST_NATS_PASSWORD from the Secret)",
  "nats-tls-ca": "nats.tls.* (ROOMCAST_NATS_TLS_CA, the Secret's ca.crt)",
  "nats-replicas": "nats.replicas or nats.external.replicas (ROOMCAST_NATS_REPLICAS)",
  "storage-room-stream-max-bytes": "storage.roomStream",
  "storage-rooms-max-bytes": "storage.rooms",
  "storage-sessions-max-bytes": "storage.sessions",
  "storage-presence-max-bytes": "storage.presence",
  "storage-edges-max-bytes": "storage.edges",
  "storage-presence-leader-max-bytes": "storage.presenceLeader",
  "storage-config-max-bytes": "storage.config",
  "storage-revocations-max-bytes": "storage.revocations",
};

// Flags the chart does not offer, and why (edge.extraArgs / extraEnv still reach them).
const NOT_OFFERED = {
  "dev-tokens": "development only: it serves an endpoint that mints tokens for anyone",
  "nats-password-file": "the password comes from the Secret through ROOMCAST_NATS_PASSWORD",
  "nats-tls-cert": "client certificates to NATS: the chart authenticates components by role password",
  "nats-tls-key": "as nats-tls-cert",
};

// edge.config keys that values.yaml leaves unset on purpose (the schema has them).
const UNSET_IN_VALUES = {
  threads: "defaults to the CPU limit (ROOMCAST_THREADS from resources.limits.cpu), not the edge's 0",
};

const kebab = (name) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** { flag: default } from `roomcast_edge --help`. */
function helpFlags() {
  const r = spawnSync(EDGE, ["--help"], { encoding: "utf8" });
  assert.equal(r.status, 0, `${EDGE} --help: ${r.stderr}`);
  const flags = {};
  let current = null;
  for (const line of r.stdout.split("\n")) {
    const flag = /^ {2}--([a-z0-9-]+)/.exec(line);
    if (flag) current = flag[1];
    const def = /Default: (.*)$/.exec(line);
    if (def && current) {
      flags[current] = def[1] === '""' ? "" : def[1];
      current = null;
    }
  }
  return flags;
}

// A value of values.yaml as the edge reads it, to compare with its --help default.
const UNITS = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const DURATIONS = { "": 1, ms: 1, s: 1000, m: 60000, h: 3600000 };
function normalise(value, helpDefault) {
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "boolean" || typeof value === "number") return String(value);
  const bytes = /^(\d+)([kmgt]?)i?$/i.exec(value);
  if (bytes && /^\d+$/.test(helpDefault)) return String(Number(bytes[1]) * UNITS[bytes[2].toLowerCase()]);
  const duration = /^(\d+)(ms|s|m|h)?$/.exec(value);
  const helpDuration = /^(\d+)(ms|s|m|h)$/.exec(helpDefault);
  if (duration && helpDuration) {
    return String(Number(duration[1]) * DURATIONS[duration[2] ?? ""]) === String(Number(helpDuration[1]) * DURATIONS[helpDuration[2]])
      ? helpDefault
      : value;
  }
  return value;
}

const haveEdge = existsSync(EDGE);
// In CI (scripts/test builds everything first) a missing binary is a failure, not a skip.
const skip = haveEdge || process.env.CI ? false : `no ${path.relative(ROOT, EDGE)} (build roomcast_edge, or set ROOMCAST_BUILD_DIR)`;

describe("edge flags", { skip }, () => {
  const help = haveEdge ? helpFlags() : {};
  const values = parseYaml(readFileSync(path.join(CHART, "values.yaml"), "utf8")).edge.config;
  const schema = JSON.parse(readFileSync(path.join(CHART, "values.schema.json"), "utf8")).properties.edge.properties.config.properties;

  test("the edge's --help lists its flags", () => {
    assert.ok(Object.keys(help).length >= 60, `only ${Object.keys(help).length} flags parsed`);
  });

  test("every flag is in edge.config, set by the chart from another value, or not offered with a reason", () => {
    const config = Object.keys(schema).map(kebab);
    const lists = [config, Object.keys(SET_BY_CHART), Object.keys(NOT_OFFERED)];
    const all = lists.flat();
    assert.deepEqual(all.filter((f, i) => all.indexOf(f) !== i), [], "a flag in two lists");
    assert.deepEqual(Object.keys(help).filter((f) => !all.includes(f)), [], "flags of the edge the chart does not account for");
    assert.deepEqual(all.filter((f) => !(f in help)), [], "flags the chart names that the edge does not have");
  });

  test("values.yaml sets every edge.config key at the edge's own default", () => {
    const keys = Object.keys(schema).filter((k) => !(k in UNSET_IN_VALUES));
    assert.deepEqual(Object.keys(values).sort(), keys.sort());
    const differ = keys
      .filter((k) => normalise(values[k], help[kebab(k)]) !== help[kebab(k)])
      .map((k) => `${k}: ${JSON.stringify(values[k])} vs --${kebab(k)} default ${help[kebab(k)]}`);
    assert.deepEqual(differ, []);
  });

  test("the rendered edge passes each non-empty edge.config value as its flag, and the edge accepts them all", () => {
    const c = container(find(render().docs, "Deployment", "roomcast-edge"), "edge");
    for (const [k, v] of Object.entries(values)) {
      const empty = v === "" || (Array.isArray(v) && v.length === 0);
      const passed = c.args.filter((a) => a.startsWith(`--${kebab(k)}=`));
      assert.equal(passed.length, empty ? 0 : 1, `--${kebab(k)}`);
    }
    // The edge parses every flag before it validates them together; a last, deliberately bad
    // flag must be the only complaint, so everything the chart passed was accepted.
    const args = c.args.filter((a) => !a.includes("$(")).concat("--threads=999");
    const r = spawnSync(EDGE, args, { encoding: "utf8", timeout: 10000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /invalid value '999' for --threads/);
  });
});
