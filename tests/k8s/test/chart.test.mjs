// The Helm chart k8s/helm/roomcast rendered with its defaults, with a production-like values
// file and with an external NATS: every object valid against the Kubernetes schemas, and what
// Roomcast needs from Kubernetes actually in the manifests.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { CHART, PRODUCTION_VALUES, container, envOf, find, findAll, render, runRender } from "../lib/chart.mjs";
import { assertAllValid, assertConsistent, containers, matches, podLabels } from "../lib/checks.mjs";
import { loadRoles, renderAuthorization } from "../../../scripts/lib/nats-auth.mjs";

const NS = "roomcast";
const GRPC = { rooms: [50051, 9151], presence: [50052, 9152], auth: [50053, 9153] };
// Short names (<pod>.<headless service>): they resolve in the pod's own namespace, so nothing
// the components or servers read names the namespace (test/namespace.test.mjs).
const NATS_PODS = [0, 1, 2].map((i) => `roomcast-nats-${i}.roomcast-nats-headless`);
const NATS_URL = NATS_PODS.map((h) => `nats://${h}:4222`).join(",");

const natsConfig = (docs) => find(docs, "ConfigMap", "roomcast-nats-config").data["nats.conf"];
// The chart's password variable of a role (templates/_helpers.tpl, roomcast.natsPasswordVar).
const passwordVar = (role) => `NATS_PASSWORD_${role.toUpperCase().replaceAll("-", "_")}`;

/** nats-server from PATH or Debian's sbin (scripts/test installs it). */
function natsServer() {
  for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin"]) {
    try {
      accessSync(path.join(dir, "nats-server"), constants.X_OK);
      return path.join(dir, "nats-server");
    } catch {
      // not here
    }
  }
  throw new Error("nats-server not found: install it (apt-get install nats-server; scripts/test does)");
}
const portOf = (c, name) => c.ports.find((p) => p.name === name)?.containerPort;

describe("default values", () => {
  const { docs } = render();

  test("every object is valid against its Kubernetes schema, with no unknown field", async () => {
    const n = await assertAllValid(docs);
    assert.ok(n >= 25, `only ${n} objects`);
  });

  test("names, selectors, Service ports and namespaces are consistent", () => {
    assertConsistent(docs, NS);
  });

  test("renders the four components, NATS, the Secrets, the Ingress and nothing optional", () => {
    const kinds = (k) => findAll(docs, k).map((o) => o.metadata.name).sort();
    assert.deepEqual(kinds("Deployment"), ["roomcast-auth", "roomcast-edge", "roomcast-presence", "roomcast-rooms"]);
    assert.deepEqual(kinds("StatefulSet"), ["roomcast-nats"]);
    assert.deepEqual(kinds("Secret"), ["roomcast-nats-auth", "roomcast-secrets"]);
    assert.deepEqual(kinds("Ingress"), ["roomcast-edge"]);
    assert.deepEqual(kinds("HorizontalPodAutoscaler"), []);
    assert.deepEqual(kinds("ServiceMonitor"), []);
    assert.deepEqual(kinds("PrometheusRule"), []);
    assert.equal(find(docs, "Deployment", "roomcast-edge").spec.replicas, 2);
  });

  test("the Secret holds a generated JWT secret and admin token", () => {
    const s = find(docs, "Secret", "roomcast-secrets");
    for (const key of ["jwt-secret", "admin-token"]) {
      const value = Buffer.from(s.data[key], "base64").toString();
      assert.match(value, /^[A-Za-z0-9]{48}$/, key);
    }
    const again = find(render().docs, "Secret", "roomcast-secrets");
    assert.notEqual(again.data["jwt-secret"], s.data["jwt-secret"], "randAlphaNum gives a fresh value per render");
  });

  test("edge: listens on 0.0.0.0, edge id = pod name, drain flags, no auto-created rooms", () => {
    const c = container(find(docs, "Deployment", "roomcast-edge"), "edge");
    // The chart's own flags first, then edge.config (every other flag at the edge's default;
    // test/edge-flags.test.mjs compares them with the edge's --help), in key order.
    assert.deepEqual(c.args.slice(0, 7), [
      "--host=0.0.0.0",
      "--port=8081",
      "--admin-host=0.0.0.0",
      "--admin-port=9181",
      "--edge-id=$(POD_NAME)",
      "--drain-timeout=25s",
      "--drain-spread=5s",
    ]);
    assert.ok(c.args.includes("--log-level=info"));
    assert.ok(!c.args.some((a) => a.startsWith("--auto-create-prefixes")), "no auto-created rooms");
    assert.deepEqual(envOf(c).POD_NAME, { fieldRef: { fieldPath: "metadata.name" } });
    // $(POD_NAME) in args expands only from a variable defined earlier in env.
    assert.equal(c.env[0].name, "POD_NAME");
    assert.equal(portOf(c, "http"), 8081);
    assert.equal(portOf(c, "admin"), 9181);
  });

  test("edge: I/O threads follow the CPU limit unless --threads is set", () => {
    const c = container(find(docs, "Deployment", "roomcast-edge"), "edge");
    assert.deepEqual(envOf(c).ROOMCAST_THREADS, {
      resourceFieldRef: { containerName: "edge", resource: "limits.cpu", divisor: "1" },
    });
    const set = container(find(render(["--set", "edge.config.threads=4"]).docs, "Deployment", "roomcast-edge"), "edge");
    assert.equal(envOf(set).ROOMCAST_THREADS, undefined);
    assert.ok(set.args.includes("--threads=4"));
    const unlimited = render(["--set", "edge.resources.limits=null"]).docs;
    assert.equal(envOf(container(find(unlimited, "Deployment", "roomcast-edge"), "edge")).ROOMCAST_THREADS, undefined);
  });

  test("edge: HTTP probes on the admin port (/livez liveness and startup, /readyz readiness)", () => {
    const c = container(find(docs, "Deployment", "roomcast-edge"), "edge");
    assert.deepEqual(c.livenessProbe.httpGet, { path: "/livez", port: "admin" });
    assert.deepEqual(c.startupProbe.httpGet, { path: "/livez", port: "admin" });
    assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "admin" });
    assert.ok(c.readinessProbe.periodSeconds <= 2, "readiness notices a draining edge quickly");
  });

  test("edge: the grace period covers the preStop sleep and the whole drain", () => {
    const d = find(docs, "Deployment", "roomcast-edge");
    const c = container(d, "edge");
    const drain = Number(/--drain-timeout=(\d+)s/.exec(c.args.join(" "))[1]);
    const preStop = c.lifecycle.preStop.sleep.seconds;
    assert.equal(drain, 25);
    assert.equal(preStop, 5);
    assert.ok(d.spec.template.spec.terminationGracePeriodSeconds > drain + preStop);
    assert.equal(d.spec.template.spec.terminationGracePeriodSeconds, 35);
    assert.deepEqual(d.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
  });

  for (const [name, [grpc, admin]] of Object.entries(GRPC)) {
    test(`${name}: gRPC readiness and startup probes, /livez liveness, appProtocol grpc`, () => {
      const d = find(docs, "Deployment", `roomcast-${name}`);
      const c = container(d, name);
      assert.deepEqual(c.readinessProbe.grpc, { port: grpc });
      assert.deepEqual(c.startupProbe.grpc, { port: grpc });
      assert.ok(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds >= 60);
      assert.deepEqual(c.livenessProbe.httpGet, { path: "/livez", port: "admin" });
      assert.equal(c.args[0], `--grpc-address=0.0.0.0:${grpc}`);
      assert.ok(c.args.includes("--admin-host=0.0.0.0"));
      assert.ok(c.args.includes(`--admin-port=${admin}`));
      assert.equal(portOf(c, "grpc"), grpc);
      const svc = find(docs, "Service", `roomcast-${name}`);
      const p = svc.spec.ports.find((x) => x.name === "grpc");
      assert.equal(p.port, grpc);
      assert.equal(p.appProtocol, "grpc");
      assert.equal(svc.spec.ports.find((x) => x.name === "admin").port, admin);
    });
  }

  test("presence: the replica id is the pod name", () => {
    const c = container(find(docs, "Deployment", "roomcast-presence"), "presence");
    assert.ok(c.args.includes("--replica-id=$(POD_NAME)"));
  });

  test("every component gets the three NATS servers, 3 JetStream replicas and the secrets", () => {
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      const env = envOf(container(find(docs, "Deployment", `roomcast-${name}`), name));
      assert.equal(env.ROOMCAST_NATS_URL, NATS_URL, name);
      assert.equal(env.ROOMCAST_NATS_REPLICAS, "3", name);
      if (name === "edge") {
        assert.equal(env.ROOMCAST_ADMIN_TOKEN, undefined, "an edge serves no admin API: no admin token");
      } else {
        assert.deepEqual(env.ROOMCAST_ADMIN_TOKEN, { secretKeyRef: { name: "roomcast-secrets", key: "admin-token" } });
      }
      const jwt = env.ROOMCAST_JWT_SECRET;
      if (name === "edge" || name === "auth") {
        assert.deepEqual(jwt, { secretKeyRef: { name: "roomcast-secrets", key: "jwt-secret" } }, name);
      } else {
        assert.equal(jwt, undefined, `${name} does not need the JWT secret`);
      }
    }
  });

  test("every component gets the same storage budgets, in bytes (docs/operations.md, Storage budgets)", () => {
    const MiB = 1024 * 1024;
    const expected = {
      ROOMCAST_STORAGE_ROOM_STREAM_MAX_BYTES: String(1024 * MiB),
      ROOMCAST_STORAGE_ROOMS_MAX_BYTES: String(256 * MiB),
      ROOMCAST_STORAGE_SESSIONS_MAX_BYTES: String(256 * MiB),
      ROOMCAST_STORAGE_PRESENCE_MAX_BYTES: String(128 * MiB),
      ROOMCAST_STORAGE_EDGES_MAX_BYTES: String(8 * MiB),
      ROOMCAST_STORAGE_PRESENCE_LEADER_MAX_BYTES: String(MiB),
      ROOMCAST_STORAGE_CONFIG_MAX_BYTES: String(8 * MiB),
      ROOMCAST_STORAGE_REVOCATIONS_MAX_BYTES: String(64 * MiB),
    };
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      const env = envOf(container(find(docs, "Deployment", `roomcast-${name}`), name));
      const storage = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("ROOMCAST_STORAGE_")));
      assert.deepEqual(storage, expected, name);
    }
  });

  test("securityContext: non-root uid 10001, read-only root, no capabilities, RuntimeDefault seccomp", () => {
    for (const { w, c } of containers(docs)) {
      const pod = w.spec.template.spec.securityContext;
      assert.equal(pod.runAsNonRoot, true, w.metadata.name);
      assert.equal(pod.seccompProfile.type, "RuntimeDefault", w.metadata.name);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
      assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"], c.name);
      if (w.kind === "Deployment") {
        assert.equal(pod.runAsUser, 10001, w.metadata.name);
        assert.equal(c.securityContext.runAsUser, 10001, c.name);
        assert.ok(c.volumeMounts.some((m) => m.mountPath === "/tmp"), `${c.name}: writable /tmp`);
      }
      assert.equal(w.spec.template.spec.automountServiceAccountToken, false, w.metadata.name);
    }
  });

  test("every container has resource requests and limits", () => {
    for (const { c } of containers(docs)) {
      assert.ok(c.resources.requests.cpu && c.resources.requests.memory, `${c.name} requests`);
      assert.ok(c.resources.limits.memory, `${c.name} memory limit`);
    }
  });

  test("pods spread over zones and nodes (ScheduleAnyway), selecting their own pods", () => {
    for (const w of findAll(docs, "Deployment").concat(findAll(docs, "StatefulSet"))) {
      const tsc = w.spec.template.spec.topologySpreadConstraints;
      assert.deepEqual(tsc.map((t) => t.topologyKey), ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
      for (const t of tsc) {
        assert.equal(t.whenUnsatisfiable, "ScheduleAnyway");
        assert.ok(matches(t.labelSelector.matchLabels, podLabels(w)), w.metadata.name);
      }
    }
  });

  test("PodDisruptionBudgets: minAvailable 1 for the components, maxUnavailable 1 for NATS", () => {
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      const pdb = find(docs, "PodDisruptionBudget", `roomcast-${name}`);
      assert.equal(pdb.spec.minAvailable, 1, name);
    }
    assert.equal(find(docs, "PodDisruptionBudget", "roomcast-nats").spec.maxUnavailable, 1);
  });

  test("Services: the edge's client port for the ingress and a headless admin Service per pod", () => {
    const client = find(docs, "Service", "roomcast-edge");
    assert.equal(client.spec.type, "ClusterIP");
    assert.deepEqual(client.spec.ports.map((p) => [p.name, p.port]), [["http", 8081]]);
    const admin = find(docs, "Service", "roomcast-edge-admin");
    assert.equal(admin.spec.clusterIP, "None");
    assert.deepEqual(admin.spec.ports.map((p) => [p.name, p.port]), [["admin", 9181]]);
  });

  test("Ingress: cookie affinity, long timeouts, no buffering, /socket.io/ to the edges", () => {
    const ing = find(docs, "Ingress", "roomcast-edge");
    const a = ing.metadata.annotations;
    const want = {
      "nginx.ingress.kubernetes.io/affinity": "cookie",
      "nginx.ingress.kubernetes.io/affinity-mode": "persistent",
      "nginx.ingress.kubernetes.io/session-cookie-name": "roomcast_affinity",
      "nginx.ingress.kubernetes.io/session-cookie-path": "/",
      "nginx.ingress.kubernetes.io/session-cookie-samesite": "Lax",
      "nginx.ingress.kubernetes.io/session-cookie-max-age": "172800",
      "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
      "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
      "nginx.ingress.kubernetes.io/proxy-body-size": "2m",
      "nginx.ingress.kubernetes.io/proxy-buffering": "off",
      // A draining edge answers new sessions with 503: retried on another edge.
      "nginx.ingress.kubernetes.io/proxy-next-upstream": "error timeout http_503",
    };
    for (const [k, v] of Object.entries(want)) assert.equal(a[k], v, k);
    // Every annotation is a string for the API server (YAML 1.1 would read a bare off as false).
    for (const [k, v] of Object.entries(a)) assert.equal(typeof v, "string", k);
    // WebSockets: ingress-nginx proxies Upgrade itself; the timeouts must outlast the
    // Engine.IO heartbeat (pingInterval 25 s + pingTimeout 20 s) by far.
    assert.ok(Number(a["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > 45 * 10);
    assert.equal(ing.spec.ingressClassName, "nginx");
    assert.equal(ing.spec.tls, undefined);
    assert.equal(ing.spec.rules.length, 1);
    assert.equal(ing.spec.rules[0].host, undefined);
    const [p] = ing.spec.rules[0].http.paths;
    assert.equal(p.path, "/socket.io/");
    assert.equal(p.pathType, "Prefix");
    assert.deepEqual(p.backend.service, { name: "roomcast-edge", port: { name: "http" } });
  });

  test("NATS: a 3-server StatefulSet on a headless Service with JetStream on PVCs", () => {
    const sts = find(docs, "StatefulSet", "roomcast-nats");
    assert.equal(sts.spec.replicas, 3);
    assert.equal(sts.spec.podManagementPolicy, "Parallel");
    const headless = find(docs, "Service", sts.spec.serviceName);
    assert.equal(headless.metadata.name, "roomcast-nats-headless");
    assert.equal(headless.spec.clusterIP, "None");
    assert.equal(headless.spec.publishNotReadyAddresses, true);
    const [claim] = sts.spec.volumeClaimTemplates;
    assert.equal(claim.metadata.name, "data");
    assert.deepEqual(claim.spec.accessModes, ["ReadWriteOnce"]);
    assert.equal(claim.spec.resources.requests.storage, "10Gi");
    const c = container(sts, "nats");
    assert.equal(c.image, "nats:2.10-alpine");
    assert.ok(c.volumeMounts.some((m) => m.name === "data" && m.mountPath === "/data"));
    assert.deepEqual(c.ports.map((p) => [p.name, p.containerPort]), [["client", 4222], ["cluster", 6222], ["monitor", 8222]]);
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      assert.deepEqual(probe.httpGet, { path: "/healthz?js-enabled-only=true", port: "monitor" });
    }
    assert.equal(c.startupProbe.httpGet.path, "/healthz");
    assert.deepEqual(envOf(c).SERVER_NAME, { fieldRef: { fieldPath: "metadata.name" } });
    assert.match(c.lifecycle.preStop.exec.command.join(" "), /--signal ldm=/);
  });

  test("NATS config: JetStream file storage on the claim, cluster routes to the three pods", () => {
    const conf = natsConfig(docs);
    assert.match(conf, /^server_name: \$SERVER_NAME$/m);
    assert.match(conf, /^listen: 0\.0\.0\.0:4222$/m);
    assert.match(conf, /^http: 0\.0\.0\.0:8222$/m);
    const js = /jetstream \{([^}]*)\}/.exec(conf)[1];
    assert.match(js, /store_dir: \/data\/jetstream/);
    assert.match(js, new RegExp(`max_file_store: ${10 * 1024 ** 3}\\b`));
    const cluster = /cluster \{([\s\S]*)\}/.exec(conf)[1];
    assert.match(cluster, /name: roomcast/);
    assert.match(cluster, /listen: 0\.0\.0\.0:6222/);
    const routes = /routes: \[([^\]]*)\]/.exec(cluster)[1].trim().split(/\s+/);
    assert.deepEqual(routes, NATS_PODS.map((h) => `nats://${h}:6222`));
    const sts = find(docs, "StatefulSet", "roomcast-nats");
    const sum = createHash("sha256").update(find(docs, "ConfigMap", "roomcast-nats-config").data["nats.conf"].trimEnd()).digest("hex");
    assert.equal(sts.spec.template.metadata.annotations["checksum/config"], sum, "config changes roll the servers");
  });

  test("NATS users: one per role of files/nats-roles.json, the block scripts/up and the e2e harness render", () => {
    const conf = natsConfig(docs);
    const start = conf.indexOf("authorization {");
    const block = conf.slice(start, conf.indexOf("\n}\n", start) + 3);
    const roles = loadRoles();
    assert.deepEqual(roles.map((r) => r.name), ["edge", "rooms", "presence", "auth", "backend"]);
    assert.equal(block, renderAuthorization(roles, (name) => `$${passwordVar(name)}`));
  });

  test("NATS config: nats-server accepts it, with each password as the server's environment gives it", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "roomcast-nats-conf-"));
    try {
      const file = path.join(dir, "nats.conf");
      writeFileSync(file, natsConfig(docs));
      const env = { ...process.env, SERVER_NAME: "roomcast-nats-0" };
      // As the StatefulSet passes them: the Secret's value in double quotes, so that a password
      // such as 12k or true stays a string.
      for (const role of loadRoles()) env[passwordVar(role.name)] = role.name === "rooms" ? '"12k"' : '"s3cret"';
      const r = spawnSync(natsServer(), ["-t", "-c", file], { env, encoding: "utf8" });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("NATS credentials: every component connects as its role, the servers get each password from the Secret", () => {
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      const env = envOf(container(find(docs, "Deployment", `roomcast-${name}`), name));
      assert.equal(env.ROOMCAST_NATS_USER, name);
      assert.deepEqual(env.ROOMCAST_NATS_PASSWORD, { secretKeyRef: { name: "roomcast-nats-auth", key: `${name}-password` } });
      assert.equal(env.ROOMCAST_NATS_TLS_CA, undefined, "plaintext by default");
    }
    const nats = container(find(docs, "StatefulSet", "roomcast-nats"), "nats");
    const env = envOf(nats);
    const names = nats.env.map((e) => e.name);
    for (const role of loadRoles()) {
      const v = passwordVar(role.name);
      assert.deepEqual(env[`${v}_RAW`], { secretKeyRef: { name: "roomcast-nats-auth", key: `${role.name}-password` } });
      assert.equal(env[v], `"$(${v}_RAW)"`);
      assert.ok(names.indexOf(`${v}_RAW`) < names.indexOf(v), "$(VAR) expands only from a variable defined before");
    }
  });

  test("the NATS Secret: a generated password per role, and the backend role's URL for app backends", () => {
    const s = find(docs, "Secret", "roomcast-nats-auth");
    const value = (key) => Buffer.from(s.data[key], "base64").toString();
    for (const role of loadRoles()) assert.match(value(`${role.name}-password`), /^[A-Za-z0-9]{48}$/, role.name);
    assert.equal(value("backend-url"), `nats://backend:${value("backend-password")}@roomcast-nats.roomcast.svc.cluster.local:4222`);
    const set = find(render(["--set", "nats.auth.passwords.edge=edge-pw"]).docs, "Secret", "roomcast-nats-auth");
    assert.equal(Buffer.from(set.data["edge-password"], "base64").toString(), "edge-pw");
  });

  test("NetworkPolicies: ingress → edges, release → services and NATS, monitoring → admin ports", () => {
    const np = (name) => find(docs, "NetworkPolicy", name).spec;
    const edge = np("roomcast-edge");
    assert.deepEqual(edge.ingress[0].from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }]);
    assert.deepEqual(edge.ingress[0].ports, [{ port: 8081, protocol: "TCP" }]);
    assert.deepEqual(edge.ingress[1].from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }]);
    assert.deepEqual(edge.ingress[1].ports, [{ port: 9181, protocol: "TCP" }]);
    const release = { "app.kubernetes.io/name": "roomcast", "app.kubernetes.io/instance": "roomcast" };
    for (const [name, [grpc, admin]] of Object.entries(GRPC)) {
      const s = np(`roomcast-${name}`);
      assert.deepEqual(s.ingress[0].from, [{ podSelector: { matchLabels: release } }], name);
      assert.deepEqual(s.ingress[0].ports, [{ port: grpc, protocol: "TCP" }], name);
      assert.deepEqual(s.ingress[1].ports, [{ port: admin, protocol: "TCP" }], name);
    }
    const nats = np("roomcast-nats");
    assert.deepEqual(nats.ingress[0].from, [{ podSelector: { matchLabels: release } }]);
    assert.deepEqual(nats.ingress[0].ports, [{ port: 4222, protocol: "TCP" }]);
    assert.deepEqual(nats.ingress[1].ports, [{ port: 6222, protocol: "TCP" }]);
    // The release selector covers every Roomcast pod, the NATS one only the servers.
    for (const w of findAll(docs, "Deployment")) assert.ok(matches(release, podLabels(w)));
    assert.ok(matches(nats.ingress[1].from[0].podSelector.matchLabels, podLabels(find(docs, "StatefulSet", "roomcast-nats"))));
  });

  test("images: roomcast/<component>:<appVersion>", () => {
    const chart = parseYaml(readFileSync(path.join(CHART, "Chart.yaml"), "utf8"));
    assert.equal(chart.apiVersion, "v2");
    assert.equal(chart.name, "roomcast");
    assert.equal(chart.version, "0.1.0");
    assert.equal(chart.appVersion, "0.1.0");
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      assert.equal(container(find(docs, "Deployment", `roomcast-${name}`), name).image, `roomcast/${name}:0.1.0`);
    }
  });
});

describe("production values (tests/k8s/values-production.yaml)", () => {
  const { docs } = render(["-f", PRODUCTION_VALUES]);

  test("every object is valid against its Kubernetes or prometheus-operator schema", async () => {
    await assertAllValid(docs);
    assertConsistent(docs, NS);
  });

  test("HPA: autoscaling/v2 on CPU and on roomcast_edge_connections per pod; no fixed replicas", () => {
    const hpa = find(docs, "HorizontalPodAutoscaler", "roomcast-edge");
    assert.equal(hpa.apiVersion, "autoscaling/v2");
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "roomcast-edge" });
    assert.equal(hpa.spec.minReplicas, 3);
    assert.equal(hpa.spec.maxReplicas, 30);
    assert.deepEqual(hpa.spec.metrics, [
      { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 65 } } },
      {
        type: "Pods",
        pods: { metric: { name: "roomcast_edge_connections" }, target: { type: "AverageValue", averageValue: "25000" } },
      },
    ]);
    assert.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds >= 300, "scale down slowly");
    assert.equal(find(docs, "Deployment", "roomcast-edge").spec.replicas, undefined, "the HPA owns replicas");
    assert.equal(find(docs, "Deployment", "roomcast-rooms").spec.replicas, 3);
  });

  test("ServiceMonitors scrape /metrics on the admin port of all four components (and NATS)", () => {
    const sms = findAll(docs, "ServiceMonitor");
    assert.deepEqual(sms.map((s) => s.metadata.name).sort(), [
      "roomcast-auth", "roomcast-edge", "roomcast-nats", "roomcast-presence", "roomcast-rooms",
    ]);
    const services = findAll(docs, "Service");
    for (const sm of sms) {
      assert.equal(sm.metadata.labels.release, "prometheus");
      const [ep] = sm.spec.endpoints;
      assert.equal(ep.path, "/metrics");
      // k8s/monitoring/README.md: the gRPC metrics' own `service` label must survive.
      assert.equal(ep.honorLabels, true);
      const selected = services.filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
      assert.equal(selected.length, 1, `${sm.metadata.name} selects ${selected.length} Services`);
      assert.ok(selected[0].spec.ports.some((p) => p.name === ep.port), `${sm.metadata.name}: port ${ep.port}`);
      const job = selected[0].metadata.labels[sm.spec.jobLabel];
      assert.equal(job, sm.metadata.name, "job label: roomcast-<component>");
      if (sm.metadata.name !== "roomcast-nats") assert.equal(ep.port, "admin");
    }
    const edgeAdmin = services.find((s) => s.metadata.name === "roomcast-edge-admin");
    assert.equal(edgeAdmin.spec.ports[0].port, 9181);
  });

  test("PrometheusRule ships files/alerts.yaml", () => {
    const rule = find(docs, "PrometheusRule");
    const alerts = parseYaml(readFileSync(path.join(CHART, "files/alerts.yaml"), "utf8"));
    assert.deepEqual(rule.spec.groups, alerts.groups);
    assert.equal(rule.metadata.labels.release, "prometheus");
  });

  test("Ingress: TLS, the host, a secure affinity cookie, the web app at /", () => {
    const ing = find(docs, "Ingress", "roomcast-edge");
    assert.deepEqual(ing.spec.tls, [{ secretName: "roomcast-tls", hosts: ["rt.example.com"] }]);
    assert.equal(ing.metadata.annotations["nginx.ingress.kubernetes.io/session-cookie-secure"], "true");
    const [rule] = ing.spec.rules;
    assert.equal(rule.host, "rt.example.com");
    assert.deepEqual(rule.http.paths.map((p) => [p.path, p.backend.service.name]), [
      ["/socket.io/", "roomcast-edge"],
      ["/", "roomcast-web"],
    ]);
  });

  test("auth: RS256/ES256 keys from a Secret mounted read-only as --key-dir", () => {
    const d = find(docs, "Deployment", "roomcast-auth");
    const c = container(d, "auth");
    assert.ok(c.args.includes("--key-dir=/etc/roomcast/keys"));
    assert.ok(c.args.includes("--max-ttl=24h"));
    const mount = c.volumeMounts.find((m) => m.name === "keys");
    assert.deepEqual(mount, { name: "keys", mountPath: "/etc/roomcast/keys", readOnly: true });
    const vol = d.spec.template.spec.volumes.find((v) => v.name === "keys");
    assert.equal(vol.secret.secretName, "roomcast-auth-keys");
    assert.equal(mount.subPath, undefined, "no subPath: Secret updates reach the pod (key rotation)");
    assert.equal(find(docs, "Secret", "roomcast-auth-keys"), undefined, "an existing Secret is not rendered");
  });

  test("existing Secrets: none rendered, every component refers to them", () => {
    assert.deepEqual(findAll(docs, "Secret"), []);
    for (const { c } of containers(docs)) {
      const ref = envOf(c).ROOMCAST_ADMIN_TOKEN;
      if (ref) assert.equal(ref.secretKeyRef.name, "roomcast-secrets");
      const nats = envOf(c).ROOMCAST_NATS_PASSWORD;
      if (nats) assert.equal(nats.secretKeyRef.name, "roomcast-nats-auth");
    }
    const nats = container(find(docs, "StatefulSet", "roomcast-nats"), "nats");
    assert.equal(envOf(nats).NATS_PASSWORD_EDGE_RAW.secretKeyRef.name, "roomcast-nats-auth");
  });

  test("NATS TLS: the servers' certificate from the Secret, the components verify it with its CA over tls://", () => {
    assert.match(natsConfig(docs), /\ntls \{\n  cert_file: \/etc\/nats-tls\/tls\.crt\n  key_file: \/etc\/nats-tls\/tls\.key\n  ca_file: \/etc\/nats-tls\/ca\.crt\n/);
    const sts = find(docs, "StatefulSet", "roomcast-nats");
    assert.deepEqual(sts.spec.template.spec.volumes.find((v) => v.name === "tls").secret, { secretName: "roomcast-nats-tls" });
    assert.deepEqual(container(sts, "nats").volumeMounts.find((m) => m.name === "tls"), { name: "tls", mountPath: "/etc/nats-tls", readOnly: true });
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      const d = find(docs, "Deployment", `roomcast-${name}`);
      const c = container(d, name);
      const env = envOf(c);
      assert.equal(env.ROOMCAST_NATS_URL, NATS_URL.replaceAll("nats://", "tls://"), name);
      assert.equal(env.ROOMCAST_NATS_TLS_CA, "/etc/roomcast/nats-tls/ca.crt", name);
      assert.deepEqual(c.volumeMounts.find((m) => m.name === "nats-tls"), { name: "nats-tls", mountPath: "/etc/roomcast/nats-tls", readOnly: true });
      assert.deepEqual(d.spec.template.spec.volumes.find((v) => v.name === "nats-tls").secret, {
        secretName: "roomcast-nats-tls",
        items: [{ key: "ca.crt", path: "ca.crt" }],
      });
    }
    const r = runRender(["--set", "nats.tls.enabled=true"]);
    assert.equal(r.ok, false);
    assert.match(r.stderr, /nats.tls.secretName is required with nats.tls.enabled/);
  });

  test("edge flags from values: auto-create prefixes, CORS, sizes as written", () => {
    const c = container(find(docs, "Deployment", "roomcast-edge"), "edge");
    for (const arg of [
      "--auto-create-prefixes=post:,chat:",
      "--cors-origins=https://app.example.com",
      "--cors-credentials=true",
      "--history-max=2000",
      "--max-publish-bytes=256k",
    ]) {
      assert.ok(c.args.includes(arg), `${arg} in ${c.args}`);
    }
  });

  test("NATS: storage class and size, the exporter sidecar, DoNotSchedule spread", () => {
    const sts = find(docs, "StatefulSet", "roomcast-nats");
    assert.equal(sts.spec.replicas, 3);
    const [claim] = sts.spec.volumeClaimTemplates;
    assert.equal(claim.spec.storageClassName, "fast-ssd");
    assert.equal(claim.spec.resources.requests.storage, "50Gi");
    assert.match(natsConfig(docs), new RegExp(`max_file_store: ${50 * 1024 ** 3}\\b`));
    assert.match(natsConfig(docs), new RegExp(`max_memory_store: ${1024 ** 3}\\b`));
    assert.ok(container(sts, "metrics"), "prometheus-nats-exporter");
    for (const t of sts.spec.template.spec.topologySpreadConstraints) assert.equal(t.whenUnsatisfiable, "DoNotSchedule");
    const np = find(docs, "NetworkPolicy", "roomcast-rooms").spec.ingress[0].from;
    assert.deepEqual(np[1], { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "app-backends" } } });
  });
});

describe("external NATS (nats.external.url)", () => {
  const url = "nats://nats.messaging.svc.cluster.local:4222";
  const { docs } = render(["--set", `nats.external.url=${url}`]);

  test("valid, and no NATS object renders (only the roles' credentials for it)", async () => {
    await assertAllValid(docs);
    assertConsistent(docs, NS);
    const natsObjects = docs
      .map((d) => d.obj)
      .filter((o) => o.metadata.name.includes("nats") || o.metadata.labels?.["app.kubernetes.io/component"] === "nats");
    assert.deepEqual(natsObjects.map((o) => `${o.kind}/${o.metadata.name}`), ["Secret/roomcast-nats-auth"]);
    assert.deepEqual(findAll(docs, "StatefulSet"), []);
    assert.deepEqual(findAll(docs, "ConfigMap"), []);
  });

  test("every component uses that URL, as its role", () => {
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      const env = envOf(container(find(docs, "Deployment", `roomcast-${name}`), name));
      assert.equal(env.ROOMCAST_NATS_URL, url, name);
      assert.equal(env.ROOMCAST_NATS_REPLICAS, "3", name);
      assert.equal(env.ROOMCAST_NATS_USER, name);
      assert.deepEqual(env.ROOMCAST_NATS_PASSWORD, { secretKeyRef: { name: "roomcast-nats-auth", key: `${name}-password` } });
    }
    const secret = find(docs, "Secret", "roomcast-nats-auth");
    const password = Buffer.from(secret.data["backend-password"], "base64").toString();
    assert.equal(
      Buffer.from(secret.data["backend-url"], "base64").toString(),
      `nats://backend:${password}@nats.messaging.svc.cluster.local:4222`,
    );
  });

  test("the URL can come from a Secret, and the replicas from values", () => {
    const r = render([
      "--set", "nats.external.urlSecret.name=nats-url,nats.external.urlSecret.key=url",
      "--set", "nats.external.replicas=1",
    ]).docs;
    assert.deepEqual(findAll(r, "StatefulSet"), []);
    const env = envOf(container(find(r, "Deployment", "roomcast-edge"), "edge"));
    assert.deepEqual(env.ROOMCAST_NATS_URL, { secretKeyRef: { name: "nats-url", key: "url" } });
    assert.equal(env.ROOMCAST_NATS_REPLICAS, "1");
    // That URL carries the one identity every component uses: no role credentials beside it.
    assert.equal(env.ROOMCAST_NATS_USER, undefined);
    assert.equal(env.ROOMCAST_NATS_PASSWORD, undefined);
    assert.equal(find(r, "Secret", "roomcast-nats-auth"), undefined);
  });
});

describe("gRPC TLS (grpc.tls)", () => {
  const { docs } = render(["--set", "grpc.tls.enabled=true,grpc.tls.secretName=roomcast-grpc-tls"]);
  const mutual = render([
    "--set", "grpc.tls.enabled=true,grpc.tls.secretName=roomcast-grpc-tls,grpc.tls.clientAuth=true",
    "--set", "grpc.tls.reloadInterval=5m",
  ]).docs;

  test("valid; the edge is untouched", async () => {
    await assertAllValid(docs);
    await assertAllValid(mutual);
    const edge = container(find(docs, "Deployment", "roomcast-edge"), "edge");
    assert.ok(!edge.args.some((a) => a.startsWith("--grpc-tls")));
    assert.ok(!(edge.volumeMounts ?? []).some((m) => m.name === "grpc-tls"));
  });

  for (const name of Object.keys(GRPC)) {
    test(`${name}: certificate flags, the Secret mounted as a directory, /readyz probes, roomcastctl's variables`, () => {
      const d = find(docs, "Deployment", `roomcast-${name}`);
      const c = container(d, name);
      const dir = "/etc/roomcast/grpc-tls";
      for (const flag of [`--grpc-tls-cert=${dir}/tls.crt`, `--grpc-tls-key=${dir}/tls.key`, "--grpc-tls-reload-interval=60s"]) {
        assert.ok(c.args.includes(flag), `${name} lacks ${flag}: ${c.args}`);
      }
      assert.ok(!c.args.some((a) => a.startsWith("--grpc-tls-client-ca")), "no client CA unless clientAuth");
      const mount = c.volumeMounts.find((m) => m.name === "grpc-tls");
      assert.deepEqual(mount, { name: "grpc-tls", mountPath: dir, readOnly: true }, "no subPath: renewals reach the pod");
      const vol = d.spec.template.spec.volumes.find((v) => v.name === "grpc-tls");
      assert.equal(vol.secret.secretName, "roomcast-grpc-tls");
      // The kubelet's gRPC probe speaks no TLS.
      for (const probe of [c.readinessProbe, c.startupProbe]) {
        assert.equal(probe.grpc, undefined);
        assert.deepEqual(probe.httpGet, { path: "/readyz", port: "admin" });
      }
      const env = envOf(c);
      assert.equal(env.ROOMCAST_TLS_CA, `${dir}/ca.crt`);
      assert.equal(env.ROOMCAST_TLS_SERVER_NAME, `roomcast-${name}`);
      assert.equal(env.ROOMCAST_TLS_CERT, undefined);

      const m = container(find(mutual, "Deployment", `roomcast-${name}`), name);
      assert.ok(m.args.includes(`--grpc-tls-client-ca=${dir}/ca.crt`));
      assert.ok(m.args.includes("--grpc-tls-reload-interval=5m"));
      const menv = envOf(m);
      assert.equal(menv.ROOMCAST_TLS_CERT, `${dir}/tls.crt`, "the pod's roomcastctl presents the pod's pair");
      assert.equal(menv.ROOMCAST_TLS_KEY, `${dir}/tls.key`);
    });
  }

  test("off by default: native gRPC probes and no TLS flags", () => {
    const plain = render().docs;
    for (const name of Object.keys(GRPC)) {
      const c = container(find(plain, "Deployment", `roomcast-${name}`), name);
      assert.ok(!c.args.some((a) => a.startsWith("--grpc-tls")));
      assert.equal(envOf(c).ROOMCAST_TLS_CA, undefined);
    }
  });

  test("refuses TLS without a Secret (the schema checks the rest: tests/values.test.mjs)", () => {
    const r = runRender(["--set", "grpc.tls.enabled=true"]);
    assert.equal(r.ok, false);
    assert.match(r.stderr, /grpc.tls.secretName is required with grpc.tls.enabled/);
  });
});

describe("chart rules", () => {
  test("storage budgets: sizes as bytes for every component, decimal units as Kubernetes reads them", () => {
    const docs = render(["--set", "storage.roomStream=2Gi,storage.rooms=300M,storage.presenceLeader=1048576"]).docs;
    for (const name of ["edge", "rooms", "presence", "auth"]) {
      const env = envOf(container(find(docs, "Deployment", `roomcast-${name}`), name));
      assert.equal(env.ROOMCAST_STORAGE_ROOM_STREAM_MAX_BYTES, String(2 * 1024 ** 3), name);
      assert.equal(env.ROOMCAST_STORAGE_ROOMS_MAX_BYTES, "300000000", name);
      assert.equal(env.ROOMCAST_STORAGE_PRESENCE_LEADER_MAX_BYTES, "1048576", name);
    }
  });

  test("storage budgets: refuses one below 1Mi, and a sum beyond the in-chart NATS file store", () => {
    const small = runRender(["--set", "storage.edges=1000Ki"]);
    assert.equal(small.ok, false);
    assert.match(small.stderr, /storage.edges \(1000Ki\) is below 1Mi/);
    // Defaults: 1745Mi of budgets. A 1Gi store cannot hold them; 2Gi can.
    const tight = runRender(["--set", "nats.jetstream.fileStore.size=1Gi"]);
    assert.equal(tight.ok, false);
    assert.match(tight.stderr, /storage budgets \(storage\.\*: 1829765120 bytes in all\) do not fit .*nats\.jetstream\.fileStore\.size 1Gi: 1073741824 bytes/);
    assert.ok(runRender(["--set", "nats.jetstream.fileStore.size=2Gi"]).ok);
    const bigStream = runRender(["--set", "storage.roomStream=10Gi"]);
    assert.equal(bigStream.ok, false, "10Gi + 721Mi exceeds the default 10Gi store");
    assert.ok(runRender(["--set", "storage.roomStream=10Gi,nats.jetstream.fileStore.size=11Gi"]).ok);
    // An external NATS: the chart does not know its store; the servers check their own.
    assert.ok(runRender(["--set", "storage.roomStream=50Gi,nats.external.url=nats://nats.example:4222"]).ok);
  });

  test("refuses a grace period that does not cover preStop + drain", () => {
    const r = runRender(["--set", "edge.terminationGracePeriodSeconds=30"]);
    assert.equal(r.ok, false);
    assert.match(r.stderr, /edge.terminationGracePeriodSeconds \(30\) must exceed .* \(30\)/);
    assert.ok(runRender(["--set", "edge.terminationGracePeriodSeconds=31"]).ok);
    const longer = render(["--set", "edge.drain.timeoutSeconds=50,edge.terminationGracePeriodSeconds=60"]).docs;
    assert.ok(container(find(longer, "Deployment", "roomcast-edge"), "edge").args.includes("--drain-timeout=50s"));
  });

  test("auth keys inline: a Secret of <kid>.pem files; a bad kid or no source is refused", async () => {
    const { docs } = render([
      "--set", "auth.keys.enabled=true",
      "--set-string", "auth.keys.files.2026-01=-----BEGIN PRIVATE KEY-----",
    ]);
    await assertAllValid(docs);
    const s = find(docs, "Secret", "roomcast-auth-keys");
    assert.deepEqual(Object.keys(s.data), ["2026-01.pem"]);
    assert.equal(Buffer.from(s.data["2026-01.pem"], "base64").toString(), "-----BEGIN PRIVATE KEY-----");
    const vol = find(docs, "Deployment", "roomcast-auth").spec.template.spec.volumes.find((v) => v.name === "keys");
    assert.equal(vol.secret.secretName, "roomcast-auth-keys");
    assert.equal(runRender(["--set", "auth.keys.enabled=true"]).ok, false);
    const bad = runRender(["--set", "auth.keys.enabled=true", "--set-string", "auth.keys.files.bad\\ kid=x"]);
    assert.equal(bad.ok, false);
    assert.match(bad.stderr, /is not a kid/);
  });

  test("edges get the HS256 secret only when HS256 tokens are in use", () => {
    const keys = ["--set", "auth.keys.enabled=true", "--set-string", "auth.keys.files.2026-01=-----BEGIN PRIVATE KEY-----"];
    const edgeEnv = (args) => envOf(container(find(render(args).docs, "Deployment", "roomcast-edge"), "edge"));
    assert.ok(edgeEnv([]).ROOMCAST_JWT_SECRET, "auth signs HS256: the edges verify with the secret");
    const withKeys = edgeEnv(keys);
    assert.equal(withKeys.ROOMCAST_JWT_SECRET, undefined, "auth signs with keys: the edges follow the JWKS only");
    assert.equal(withKeys.ROOMCAST_ADMIN_TOKEN, undefined);
    assert.deepEqual(edgeEnv([...keys, "--set", "edge.acceptHs256Tokens=true"]).ROOMCAST_JWT_SECRET, {
      secretKeyRef: { name: "roomcast-secrets", key: "jwt-secret" },
    });
  });

  test("auto-create prefixes: [*] allows every id", () => {
    const { docs } = render(["--set", "edge.autoCreatePrefixes={*}"]);
    assert.ok(container(find(docs, "Deployment", "roomcast-edge"), "edge").args.includes("--auto-create-prefixes=*"));
  });

  test("older clusters: an exec sleep before 1.30, no matchLabelKeys before 1.27", async () => {
    const { docs } = render(["--kube-version", "v1.26.5"]);
    await assertAllValid(docs);
    const d = find(docs, "Deployment", "roomcast-edge");
    assert.deepEqual(container(d, "edge").lifecycle.preStop, { exec: { command: ["sleep", "5"] } });
    assert.equal(d.spec.template.spec.topologySpreadConstraints[0].matchLabelKeys, undefined);
    const current = find(render().docs, "Deployment", "roomcast-edge");
    assert.deepEqual(current.spec.template.spec.topologySpreadConstraints[0].matchLabelKeys, ["pod-template-hash"]);
  });

  test("another release name and namespace: names follow, NATS addresses too (without the namespace)", async () => {
    const { docs } = render([], { release: "rt", namespace: "realtime" });
    await assertAllValid(docs);
    assertConsistent(docs, "realtime");
    assert.ok(find(docs, "Deployment", "rt-roomcast-edge"));
    const env = envOf(container(find(docs, "Deployment", "rt-roomcast-edge"), "edge"));
    assert.match(env.ROOMCAST_NATS_URL, /^nats:\/\/rt-roomcast-nats-0\.rt-roomcast-nats-headless:4222,/);
    const routes = /routes: \[([^\]]*)\]/.exec(find(docs, "ConfigMap", "rt-roomcast-nats-config").data["nats.conf"])[1];
    assert.match(routes, /nats:\/\/rt-roomcast-nats-2\.rt-roomcast-nats-headless:6222/);
  });

  test("a single in-chart NATS server: no cluster block, 1 JetStream replica", async () => {
    const { docs } = render(["--set", "nats.replicas=1"]);
    await assertAllValid(docs);
    assert.doesNotMatch(natsConfig(docs), /cluster \{/);
    const env = envOf(container(find(docs, "Deployment", "roomcast-rooms"), "rooms"));
    assert.equal(env.ROOMCAST_NATS_REPLICAS, "1");
    assert.equal(env.ROOMCAST_NATS_URL.split(",").length, 1);
  });

  test("optional objects can be switched off", async () => {
    const { docs } = render([
      "--set", "ingress.enabled=false,networkPolicy.enabled=false,serviceAccount.create=false",
      "--set", "edge.pdb.enabled=false,nats.pdb.enabled=false,topologySpread.enabled=false",
    ]);
    await assertAllValid(docs);
    for (const k of ["Ingress", "NetworkPolicy", "ServiceAccount"]) assert.deepEqual(findAll(docs, k), [], k);
    assert.equal(find(docs, "PodDisruptionBudget", "roomcast-edge"), undefined);
    assert.equal(find(docs, "PodDisruptionBudget", "roomcast-nats"), undefined);
    assert.equal(find(docs, "Deployment", "roomcast-edge").spec.template.spec.topologySpreadConstraints, undefined);
    assert.equal(find(docs, "Deployment", "roomcast-edge").spec.template.spec.serviceAccountName, "default");
  });

  test("no template reads a value that does not exist (missingkey=error, as helm lint --strict)", () => {
    for (const args of [[], ["-f", PRODUCTION_VALUES], ["--set", "nats.external.url=nats://nats:4222"]]) {
      const r = runRender(["--strict", ...args]);
      assert.ok(r.ok, `${args.join(" ")}: ${r.stderr}`);
    }
  });

  test("PDB with maxUnavailable instead of minAvailable", () => {
    const { docs } = render(["--set-string", "edge.pdb.maxUnavailable=25%"]);
    const pdb = find(docs, "PodDisruptionBudget", "roomcast-edge");
    assert.deepEqual([pdb.spec.maxUnavailable, pdb.spec.minAvailable], ["25%", undefined]);
  });

  test("NOTES.txt tells where clients connect and how to reach the admin APIs", () => {
    const defaults = runRender(["--notes"]);
    assert.ok(defaults.ok, defaults.stderr);
    assert.match(defaults.stdout, /exec deploy\/roomcast-rooms -- roomcastctl rooms list/);
    assert.match(defaults.stdout, /No room is created on first join/);
    const prod = runRender(["-f", PRODUCTION_VALUES, "--notes"]);
    assert.ok(prod.ok, prod.stderr);
    assert.match(prod.stdout, /https:\/\/rt\.example\.com\/socket\.io\//);
    assert.doesNotMatch(prod.stdout, /No room is created/);
  });
});
