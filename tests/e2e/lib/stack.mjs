// Starts a real Roomcast stack for end-to-end tests: nats-server with JetStream, N edges and
// NGINX (scripts/lib/nginx.conf.template: cookie affinity, WebSocket, the demo app), each a child
// process on free ports, in a temporary state directory. Like servers.mjs: every wait has a
// deadline, every child is remembered until it has exited and is killed (with its process group:
// NGINX workers) from a process "exit" hook, so a failing or interrupted test never leaks one.
//
//   const stack = await startStack({ edges: ["edge-1", "edge-2"], webRoot: ".../web/dist" });
//   stack.nginxUrl, stack.natsUrl, stack.edges[0].url / .adminUrl / .kill("SIGKILL") / .restart()
//   await stack.stopNats(); await stack.startNats();   // same port and data directory
//   startStack({ natsCluster: 3 }): three clustered nats-servers (stack.natsNodes[i].kill(),
//   await stack.natsLeaders("ROOMCAST_ROOMS")), every service with all their URLs and
//   --nats-replicas 3
//   await stack.stop();    // throws if a service crashed meanwhile, or if a log holds a secret
//
// NATS is closed as everywhere (docs/operations.md, "NATS roles"): the server has one user per
// role (scripts/lib/nats-auth.mjs renders them from the chart's nats-roles.json) with passwords
// generated per stack, and every service runs with its role's credentials. Tests that talk to
// NATS themselves use stack.natsCredentials(role): "backend" for what an application backend
// does, or "e2e-admin", a test-only user without restrictions that exists only in this
// harness's server configuration, to inspect or arrange JetStream state. Edges auto-create rooms
// through the rooms service, so a stack of edges always runs it too.
//
// Upstreams: "edge" (default) runs ${ROOMCAST_BUILD_DIR:-<repo>/build}/services/edge/roomcast_edge;
// "conformance" runs the conformance server (or the Node reference, ROOMCAST_E2E_TARGET) in each
// edge's place, to test the harness and the NGINX config without the edge.
// ROOMCAST_E2E_SERVER_LOG=1 copies every service's output to stderr; ROOMCAST_E2E_KEEP_STATE=1
// keeps the state directory (logs/<service>.log, nats/, nginx/) after stop().

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { conformanceBinaryPath, isReference, referenceServerPath } from "./servers.mjs";
import { loadRoles, newPassword, quote, renderAuthorization } from "../../../scripts/lib/nats-auth.mjs";
import { clusterNotReady, leaders } from "../../../scripts/lib/nats_cluster.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoDir = path.resolve(here, "..", "..", "..");
export const nginxTemplatePath = path.join(repoDir, "scripts", "lib", "nginx.conf.template");

// Deadline for one service to become ready (NATS with JetStream, an edge's /readyz, NGINX).
const kReadyDeadlineMs = 20_000;
// SIGTERM grace period before SIGKILL; above the edges' drain so a clean stop is not cut short.
const kStopGraceMs = 15_000;
// Deadline for a signalled process to exit (kill()).
const kExitDeadlineMs = 10_000;
const kPollMs = 100;
const kLogTailLines = 60;

const live = new Set(); // Service instances with a running process
const liveDirs = new Set(); // state directories of stacks not stopped yet

function killAllNow() {
    for (const service of live) {
        service.killGroupNow();
    }
    if (process.env.ROOMCAST_E2E_KEEP_STATE !== "1") {
        for (const dir of liveDirs) {
            rmSync(dir, { recursive: true, force: true });
        }
    }
}
process.on("exit", killAllNow);
// servers.mjs turns SIGINT/SIGTERM/SIGHUP into process.exit(), which runs the hook above.

function buildDir() {
    return process.env.ROOMCAST_BUILD_DIR
        ? path.resolve(process.env.ROOMCAST_BUILD_DIR)
        : path.join(repoDir, "build");
}

export function edgeBinaryPath() {
    return path.join(buildDir(), "services", "edge", "roomcast_edge");
}

/** Absolute path of a command from PATH or the sbin directories (not on a Debian user's PATH). */
function requireCommand(name, hint) {
    const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
    for (const dir of dirs.filter(Boolean)) {
        const file = path.join(dir, name);
        try {
            accessSync(file, constants.X_OK);
            return file;
        } catch {
            // not here
        }
    }
    throw new Error(`${name} not found on PATH or in /usr/sbin: ${hint}`);
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`'s value, or undefined after `ms`; the timer never outlives the race. */
async function within(promise, ms) {
    let timer;
    const deadline = new Promise((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
    });
    try {
        return await Promise.race([promise, deadline]);
    } finally {
        clearTimeout(timer);
    }
}

/** `n` distinct free TCP ports on 127.0.0.1 (held together while picking, then released). */
export async function freePorts(n) {
    const servers = [];
    try {
        for (let i = 0; i < n; i += 1) {
            const server = net.createServer();
            await new Promise((resolve, reject) => {
                server.once("error", reject);
                server.listen(0, "127.0.0.1", resolve);
            });
            servers.push(server);
        }
        return servers.map((s) => s.address().port);
    } finally {
        await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    }
}

/** HTTP status of GET url, or 0 when nothing answers within `timeout` ms. */
export function httpStatus(url, { timeout = 2_000 } = {}) {
    return new Promise((resolve) => {
        const req = http.get(url, { timeout, agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode);
        });
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve(0));
    });
}

function tcpOpen(port) {
    return new Promise((resolve) => {
        const socket = net.createConnection({ host: "127.0.0.1", port });
        socket.setTimeout(1_000);
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("timeout", () => {
            socket.destroy();
            resolve(false);
        });
        socket.once("error", () => resolve(false));
    });
}

// --- NGINX config: the same rendering as scripts/lib/common.sh (nginx_edge_snippets) ---------

/** Replaces every ${NAME} of `text` with vars[NAME]; throws if one has no value. */
export function renderTemplate(text, vars) {
    return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name) => {
        if (!(name in vars)) {
            throw new Error(`nginx template: no value for \${${name}}`);
        }
        return String(vars[name]);
    });
}

/** Per-edge lines of the template from [{id, addr: "127.0.0.1:port"}]. */
export function nginxEdgeSnippets(edges) {
    const n = edges.length;
    const share = Math.floor(10_000 / n);
    const upstreams = [];
    const byCookie = [];
    const split = [];
    const byAddr = [];
    edges.forEach(({ id, addr }, i) => {
        if (!/^[A-Za-z0-9_-]+$/.test(id)) {
            throw new Error(`edge id must match [A-Za-z0-9_-]+: ${id}`);
        }
        const up = `roomcast_${id}`;
        upstreams.push(
            `    upstream ${up} {`,
            `        server ${addr} max_fails=1 fail_timeout=3s;`,
            ...edges.filter((_, j) => j !== i).map((other) => `        server ${other.addr} backup;`),
            "        keepalive 16;",
            "        keepalive_timeout 20s;",
            "    }",
        );
        byCookie.push(`        ${id} ${up};`);
        split.push(
            i === n - 1
                ? `        * ${up};`
                : `        ${Math.floor(share / 100)}.${String(share % 100).padStart(2, "0")}% ${up};`,
        );
        byAddr.push(`        "~(^|\\s)${addr.replace(/[.[\]]/g, "\\$&")}$" ${id};`);
    });
    return {
        EDGE_UPSTREAMS: upstreams.join("\n"),
        EDGE_BY_COOKIE: byCookie.join("\n"),
        EDGE_SPLIT: split.join("\n"),
        EDGE_BY_ADDR: byAddr.join("\n"),
    };
}

/** The NGINX config for `edges` ([{id, addr}]), as scripts/up renders it. */
export function renderNginxConfig({ edges, listen, webRoot, runDir, errorLog, accessLog }) {
    const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
    return renderTemplate(readFileSync(nginxTemplatePath, "utf8"), {
        NGINX_USER_DIRECTIVE: isRoot ? "user root;" : "",
        NGINX_RUN_DIR: runDir,
        NGINX_ERROR_LOG: errorLog,
        NGINX_ACCESS_LOG: accessLog,
        HTTP_LISTEN: listen,
        WEB_ROOT: webRoot,
        ...nginxEdgeSnippets(edges),
    });
}

// --- child processes --------------------------------------------------------------------------

/**
 * One service process (restartable): output to <logs>/<name>.log and a tail kept in memory;
 * its own process group, so SIGKILL reaches NGINX's workers too.
 */
class Service {
    constructor(name, { file, args, env, logDir }) {
        this.name = name;
        this.file = file;
        this.args = args;
        this.env = env;
        this.logPath = path.join(logDir, `${name}.log`);
        this.tail = [];
        this.child = undefined;
        this.exitInfo = undefined;
        this.expectExit = false;
    }

    get pid() {
        return this.child?.pid;
    }

    get running() {
        return this.child !== undefined && this.exitInfo === undefined;
    }

    describe() {
        return `${this.name} (pid ${this.pid}: ${path.basename(this.file)} ${this.args.join(" ")})`;
    }

    logTail() {
        return this.tail.length ? this.tail.join("\n") : "(no output)";
    }

    start() {
        this.exitInfo = undefined;
        this.expectExit = false;
        this.spawnError = undefined;
        const log = createWriteStream(this.logPath, { flags: "a" });
        log.write(`--- ${new Date().toISOString()} start: ${this.file} ${this.args.join(" ")}\n`);
        const child = spawn(this.file, this.args, {
            env: this.env,
            stdio: ["ignore", "pipe", "pipe"],
            detached: true, // own process group
        });
        this.child = child;
        live.add(this);
        this.exited = new Promise((resolve) => {
            child.once("exit", (code, signal) => {
                this.exitInfo = { code, signal };
                live.delete(this);
                resolve(this.exitInfo);
            });
        });
        child.once("error", (err) => {
            this.spawnError = err;
            live.delete(this);
        });
        const echo = process.env.ROOMCAST_E2E_SERVER_LOG === "1";
        // Both pipes are drained for the whole life of the process: a full pipe blocks its logger.
        for (const stream of [child.stdout, child.stderr]) {
            let partial = "";
            stream.setEncoding("utf8");
            stream.on("data", (chunk) => {
                log.write(chunk);
                if (echo) {
                    process.stderr.write(chunk.replace(/^(?=.)/gm, `[${this.name}] `));
                }
                partial += chunk;
                let nl;
                while ((nl = partial.indexOf("\n")) >= 0) {
                    this.tail.push(partial.slice(0, nl));
                    partial = partial.slice(nl + 1);
                    if (this.tail.length > kLogTailLines) {
                        this.tail.shift();
                    }
                }
            });
        }
        child.once("close", () => log.end());
    }

    killGroupNow() {
        if (!this.running) {
            return;
        }
        try {
            process.kill(-this.pid, "SIGKILL");
        } catch {
            try {
                this.child.kill("SIGKILL");
            } catch {
                // already gone
            }
        }
    }

    /** Sends `signal`; for a terminating one, waits (bounded) for the exit and returns it. */
    async kill(signal = "SIGKILL") {
        if (!this.running) {
            throw new Error(`${this.describe()} is not running`);
        }
        if (signal === "SIGSTOP" || signal === "SIGCONT") {
            this.child.kill(signal);
            return undefined;
        }
        this.expectExit = true;
        this.child.kill(signal);
        const info = await within(this.exited, kExitDeadlineMs);
        if (!info) {
            throw new Error(`${this.describe()} did not exit within ${kExitDeadlineMs} ms of ${signal}`);
        }
        return info;
    }

    /** SIGTERM, grace, then SIGKILL to the group. Returns the exit info ({killed: true} if forced). */
    async stop({ grace = kStopGraceMs } = {}) {
        if (!this.running) {
            return this.exitInfo;
        }
        this.expectExit = true;
        this.child.kill("SIGTERM");
        const info = await within(this.exited, grace);
        if (info) {
            return info;
        }
        this.killGroupNow();
        return { ...(await this.exited), killed: true };
    }

    /** Exit info if the process died without being asked to, else undefined. */
    crashed() {
        return this.exitInfo && !this.expectExit ? this.exitInfo : undefined;
    }

    /** Polls `check` until true; throws with the log tail on exit, spawn error or deadline. */
    async waitReady(what, check, { deadline = kReadyDeadlineMs } = {}) {
        const until = Date.now() + deadline;
        for (;;) {
            if (this.spawnError) {
                throw new Error(`${this.describe()} failed to spawn: ${this.spawnError.message}`);
            }
            if (this.exitInfo) {
                throw new Error(
                    `${this.describe()} exited (code ${this.exitInfo.code}, signal ${this.exitInfo.signal}) ` +
                        `before ${what}\n--- ${this.name} output ---\n${this.logTail()}`,
                );
            }
            if (await check()) {
                return;
            }
            if (Date.now() >= until) {
                throw new Error(
                    `${this.describe()}: no ${what} within ${deadline} ms` +
                        `\n--- ${this.name} output ---\n${this.logTail()}`,
                );
            }
            await sleep(kPollMs);
        }
    }
}

/** The test-only NATS user without restrictions (see the top of this file). */
export const kNatsAdminUser = "e2e-admin";

/**
 * Every place in the files under `dir` (recursively) where one of `secrets` ({name: value})
 * occurs, as "file:line: name" (never the value itself). Logs must not hold secrets (STYLE.md).
 */
export function findSecretsInLogs(dir, secrets) {
    const found = [];
    const walk = (d) => {
        for (const entry of readdirSync(d, { withFileTypes: true })) {
            const file = path.join(d, entry.name);
            if (entry.isDirectory()) {
                walk(file);
                continue;
            }
            if (!entry.isFile()) {
                continue;
            }
            const lines = readFileSync(file, "utf8").split("\n");
            lines.forEach((line, i) => {
                for (const [name, value] of Object.entries(secrets)) {
                    if (value && line.includes(value)) {
                        found.push(`${file}:${i + 1}: ${name}`);
                    }
                }
            });
        }
    };
    walk(dir);
    return found;
}

/** The environment for a child: ours without ROOMCAST_* (a developer's settings must not leak). */
function childEnv(extra = {}) {
    const env = {};
    for (const [key, value] of Object.entries(process.env)) {
        if (!key.startsWith("ROOMCAST_")) {
            env[key] = value;
        }
    }
    return { ...env, ...extra };
}

// --- the stack ---------------------------------------------------------------------------------

/**
 * Starts NATS, the edges and NGINX; resolves once every one is ready.
 * @param {object} [options]
 * @param {number|string[]} [options.edges=2] edge ids, or how many ("edge-1", "edge-2", …)
 * @param {"edge"|"conformance"} [options.upstream="edge"] what runs in each edge's place
 * @param {string[]} [options.edgeArgs] extra flags for every edge (e.g. ["--recovery-window", "10s"])
 * @param {object} [options.edgeEnv] extra environment for every edge
 * @param {boolean} [options.devTokens=true] start edges with --dev-tokens
 * @param {string} [options.jwtSecret] default: random
 * @param {string} [options.adminToken] default: random
 * @param {string} [options.webRoot] served by NGINX at /; default: a placeholder page
 * @param {boolean} [options.nginx=true]
 * @param {string[]} [options.services=[]] control-plane services to start before the edges:
 *   any of "rooms", "presence", "auth" (gRPC on free ports; `stack.services.<name>` has
 *   {grpcAddress, adminUrl, pid, kill(signal), stop(), restart()}); "rooms" is always started
 *   with real edges (it auto-creates their rooms)
 * @param {object} [options.serviceArgs] extra flags per service, e.g. { auth: ["--key-dir", dir] }
 * @param {number} [options.natsCluster=1] nats-server processes; more than 1 clusters them
 *   (server names nats-1 … nats-N, JetStream meta group of all), and every service gets every
 *   node's URL and --nats-replicas N
 */
export async function startStack({
    services: serviceNames = [],
    serviceArgs = {},
    edges = 2,
    upstream = "edge",
    edgeArgs = [],
    edgeEnv = {},
    devTokens = true,
    jwtSecret = randomBytes(32).toString("hex"),
    adminToken = randomBytes(24).toString("hex"),
    webRoot,
    nginx = true,
    natsCluster = 1,
} = {}) {
    if (!Number.isInteger(natsCluster) || natsCluster < 1 || natsCluster > 5) {
        throw new Error(`startStack: natsCluster must be 1 to 5 (JetStream replicas), got ${natsCluster}`);
    }
    if (upstream !== "edge" && upstream !== "conformance") {
        throw new Error(`startStack: upstream must be "edge" or "conformance", got "${upstream}"`);
    }
    const edgeIds = typeof edges === "number" ? Array.from({ length: edges }, (_, i) => `edge-${i + 1}`) : edges;
    if (upstream === "edge" && edgeIds.length > 0 && !serviceNames.includes("rooms")) {
        serviceNames = ["rooms", ...serviceNames];
    }
    const natsBin = requireCommand("nats-server", "install it (apt-get install nats-server; scripts/test does)");
    const nginxBin = nginx ? requireCommand("nginx", "install it (apt-get install nginx-light; scripts/test does)") : "";
    let edgeCommand;
    if (upstream === "edge") {
        const bin = edgeBinaryPath();
        if (!existsSync(bin)) {
            throw new Error(
                `Roomcast edge binary not found at ${bin}: build it (scripts/test or ` +
                    `cmake --build build --target roomcast_edge), or point ROOMCAST_BUILD_DIR at the build directory`,
            );
        }
        edgeCommand = () => ({ file: bin, args: [] });
    } else if (isReference) {
        edgeCommand = () => ({ file: process.execPath, args: [referenceServerPath] });
    } else {
        const bin = conformanceBinaryPath();
        if (!existsSync(bin)) {
            throw new Error(`conformance server not found at ${bin}: build it (target roomcast_conformance_server)`);
        }
        edgeCommand = () => ({ file: bin, args: [] });
    }

    const dir = mkdtempSync(path.join(os.tmpdir(), "roomcast-stack-"));
    liveDirs.add(dir);
    const logDir = path.join(dir, "logs");
    const natsDir = path.join(dir, "nats");
    const nginxDir = path.join(dir, "nginx");
    for (const d of [logDir, natsDir, nginxDir]) {
        mkdirSync(d, { recursive: true });
    }
    // NGINX, two per edge, per NATS node (client, monitoring and, in a cluster, route port) and
    // two per control-plane service (gRPC, admin), all in one allocation: ports taken in separate
    // calls may coincide (a port released by one call is free for the next until its user binds
    // it), and a service that took an edge's port made the edge fail to bind.
    const [httpPort, ...ports] = await freePorts(1 + 2 * edgeIds.length + 3 * natsCluster + 2 * serviceNames.length);
    const edgePorts = ports.slice(0, 2 * edgeIds.length);
    const natsPorts = ports.slice(2 * edgeIds.length, 2 * edgeIds.length + 3 * natsCluster);
    const servicePorts = ports.slice(2 * edgeIds.length + 3 * natsCluster);
    const natsMonitorPort = natsPorts[1];

    // One user per role, passwords of this stack only, and the test-only admin user.
    const roles = loadRoles();
    const natsUsers = Object.fromEntries(roles.map((r) => [r.name, { user: r.name, pass: newPassword() }]));
    natsUsers[kNatsAdminUser] = { user: kNatsAdminUser, pass: newPassword() };
    const natsConf = path.join(dir, "nats.conf");
    writeFileSync(
        natsConf,
        renderAuthorization(roles, (name) => quote(natsUsers[name].pass), [{
            user: kNatsAdminUser,
            password: quote(natsUsers[kNatsAdminUser].pass),
            comment: "test-only (tests/e2e/lib/stack.mjs): unrestricted, to inspect and arrange JetStream state",
        }]),
        { mode: 0o600 },
    );
    /** The environment that gives a service its role's credentials (never the command line). */
    const natsEnv = (role) => ({ ROOMCAST_NATS_USER: natsUsers[role].user, ROOMCAST_NATS_PASSWORD: natsUsers[role].pass });

    const services = []; // everything started, for stop()
    const natsServices = [];
    let stopped = false;
    const stopAll = async () => {
        // NGINX first, then the edges (together), NATS last: the reverse of the start order.
        const control = new Set(["rooms", "presence", "auth"]);
        const tiers = [
            services.filter((s) => s.name === "nginx"),
            services.filter((s) => s.name !== "nginx" && !natsServices.includes(s) && !control.has(s.name)),
            services.filter((s) => control.has(s.name)),
            natsServices,
        ];
        for (const tier of tiers) {
            await Promise.all(tier.map((s) => s.stop()));
        }
    };

    try {
        // NATS with JetStream, monitoring for the readiness probe; a cluster names its nodes
        // (JetStream needs a server name per node) and routes each to all (itself included:
        // nats-server skips its own address).
        const routes = Array.from({ length: natsCluster }, (_, i) => `nats://127.0.0.1:${natsPorts[3 * i + 2]}`);
        const natsNodes = Array.from({ length: natsCluster }, (_, i) => {
            const name = natsCluster === 1 ? "nats" : `nats-${i + 1}`;
            const port = natsPorts[3 * i];
            const monitorPort = natsPorts[3 * i + 1];
            const dataDir = natsCluster === 1 ? natsDir : path.join(natsDir, name);
            const cluster = natsCluster === 1 ? [] : ["--cluster_name", "roomcast-e2e", "--cluster", routes[i], "--routes", routes.join(",")];
            const service = new Service(name, {
                file: natsBin,
                args: ["-c", natsConf, "-n", natsCluster === 1 ? "roomcast-e2e" : name, "-a", "127.0.0.1", "-p", String(port),
                    "-m", String(monitorPort), "-js", "-sd", dataDir, ...cluster],
                env: childEnv(),
                logDir,
            });
            services.push(service);
            natsServices.push(service);
            return { name, service, port, monitorPort };
        });
        const natsReady = async () => {
            await Promise.all(natsNodes.map(({ service, monitorPort }) =>
                service.waitReady("JetStream health", async () =>
                    (await httpStatus(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`)) === 200,
                ),
            ));
            if (natsCluster > 1) {
                // Every node sees the same meta leader: before that, creating a stream fails.
                await natsNodes[0].service.waitReady("a JetStream meta leader seen by every node", async () =>
                    (await clusterNotReady(natsNodes.map((n) => n.monitorPort))) === "",
                );
            }
        };
        for (const { service } of natsNodes) {
            service.start();
        }
        await natsReady();
        const natsUrls = natsNodes.map((n) => `nats://127.0.0.1:${n.port}`);
        const natsUrl = natsUrls.join(",");
        const replicas = natsCluster === 1 ? [] : ["--nats-replicas", String(natsCluster)];

        // Control-plane services (rooms, presence, auth), before the edges that use them.
        const serviceHandles = {};
        for (const [i, name] of serviceNames.entries()) {
            const bin = path.join(buildDir(), "services", name, `roomcast_${name}`);
            if (!existsSync(bin)) {
                throw new Error(`${name} service binary not found at ${bin}: build it (scripts/test)`);
            }
            const [grpcPort, adminPort] = servicePorts.slice(2 * i, 2 * i + 2);
            const service = new Service(name, {
                file: bin,
                args: ["--grpc-address", `127.0.0.1:${grpcPort}`, "--admin-host", "127.0.0.1",
                    "--admin-port", String(adminPort), "--nats-url", natsUrl, ...replicas, ...(serviceArgs[name] ?? [])],
                env: childEnv({
                    ROOMCAST_ADMIN_TOKEN: adminToken,
                    ...natsEnv(name),
                    ...(name === "auth" ? { ROOMCAST_JWT_SECRET: jwtSecret } : {}),
                }),
                logDir,
            });
            services.push(service);
            const waitReady = () =>
                service.waitReady("200 from /readyz", async () =>
                    (await httpStatus(`http://127.0.0.1:${adminPort}/readyz`)) === 200,
                );
            service.start();
            await waitReady();
            serviceHandles[name] = {
                name,
                grpcAddress: `127.0.0.1:${grpcPort}`,
                adminUrl: `http://127.0.0.1:${adminPort}`,
                get pid() {
                    return service.pid;
                },
                logTail: () => service.logTail(),
                kill: (signal) => service.kill(signal),
                stop: () => service.stop(),
                async restart() {
                    await service.stop();
                    service.start();
                    await waitReady();
                },
                async start() {
                    service.start();
                    await waitReady();
                },
            };
        }

        // Edges (or their stand-ins).
        const edgeStarts = [];
        const edgeHandles = edgeIds.map((id, i) => {
            const port = edgePorts[2 * i];
            const adminPort = edgePorts[2 * i + 1];
            const base = edgeCommand();
            let args;
            let env;
            let ready;
            if (upstream === "edge") {
                args = ["--host", "127.0.0.1", "--port", String(port), "--admin-host", "127.0.0.1",
                    "--admin-port", String(adminPort), "--nats-url", natsUrl, ...replicas, "--edge-id", id, "--auto-create-prefixes", "*",
                    // Tests publish in bursts far above a person's rate: the per-socket event
                    // limit and the per-user quotas are tested on their own (hostile-input tests
                    // pass their own flags, and the last flag wins).
                    "--events-per-second", "1000000", "--event-burst", "1000000",
                    "--user-publish-rate", "0", "--user-publish-bytes-rate", "0", "--user-auto-create-per-minute", "0",
                    ...(devTokens ? ["--dev-tokens"] : []), ...edgeArgs];
                // Secrets through the environment, as scripts/up passes them.
                env = childEnv({ ROOMCAST_JWT_SECRET: jwtSecret, ROOMCAST_ADMIN_TOKEN: adminToken, ...natsEnv("edge"), ...edgeEnv });
                ready = async () => (await httpStatus(`http://127.0.0.1:${adminPort}/readyz`)) === 200;
            } else {
                args = ["--host", "127.0.0.1", "--port", String(port), "--ping-interval", "25s",
                    "--ping-timeout", "20s", ...edgeArgs];
                env = childEnv(edgeEnv);
                ready = () => tcpOpen(port);
            }
            const service = new Service(id, { file: base.file, args: [...base.args, ...args], env, logDir });
            services.push(service);
            const waitReady = () =>
                service.waitReady(upstream === "edge" ? "200 from /readyz" : `a listener on port ${port}`, ready);
            const handle = {
                id,
                port,
                url: `http://127.0.0.1:${port}`,
                adminUrl: upstream === "edge" ? `http://127.0.0.1:${adminPort}` : undefined,
                get pid() {
                    return service.pid;
                },
                get running() {
                    return service.running;
                },
                logTail: () => service.logTail(),
                logPath: service.logPath,
                /** Sends `signal` (default SIGKILL); waits for the exit unless SIGSTOP/SIGCONT. */
                kill: (signal) => service.kill(signal),
                /** SIGTERM and wait (SIGKILL after the grace period); resolves with the exit info. */
                stop: () => service.stop(),
                /** Starts it again (stopping it first if it runs), same ports and id; waits until ready. */
                async restart() {
                    await service.stop();
                    service.start();
                    await waitReady();
                },
            };
            edgeStarts.push({ service, waitReady });
            return handle;
        });
        // On a fresh cluster, edges that start together race to create the room stream, and
        // nats-server 2.9 may leave the loser's create unanswered (it times out and the edge
        // exits: an orchestrator restarts it). The first edge creates it; the others follow.
        const [first, ...rest] = natsCluster > 1 ? edgeStarts : [];
        if (first) {
            first.service.start();
            await first.waitReady();
        }
        for (const { service } of natsCluster > 1 ? rest : edgeStarts) {
            service.start();
        }
        await Promise.all(edgeStarts.map(({ waitReady }) => waitReady()));

        // NGINX in front of them.
        let nginxUrl;
        if (nginx) {
            let root = webRoot;
            if (!root) {
                root = path.join(dir, "web");
                mkdirSync(root);
                writeFileSync(path.join(root, "index.html"), "<!doctype html><title>roomcast e2e</title>\n");
            }
            const conf = path.join(nginxDir, "nginx.conf");
            writeFileSync(
                conf,
                renderNginxConfig({
                    edges: edgeHandles.map((e) => ({ id: e.id, addr: `127.0.0.1:${e.port}` })),
                    listen: `127.0.0.1:${httpPort}`,
                    webRoot: path.resolve(root),
                    runDir: nginxDir,
                    errorLog: "stderr", // into the service log and its tail
                    accessLog: path.join(logDir, "nginx-access.log"),
                }),
            );
            const proxy = new Service("nginx", {
                file: nginxBin,
                args: ["-p", nginxDir, "-e", "stderr", "-c", conf],
                env: childEnv(),
                logDir,
            });
            services.push(proxy);
            proxy.start();
            nginxUrl = `http://127.0.0.1:${httpPort}`;
            await proxy.waitReady("200 from /roomcast/nginx/healthz", async () =>
                (await httpStatus(`${nginxUrl}/roomcast/nginx/healthz`)) === 200,
            );
        }

        return {
            dir,
            natsUrl,
            natsMonitorUrl: `http://127.0.0.1:${natsMonitorPort}`,
            natsDataDir: natsDir,
            /** The NATS nodes (one unless natsCluster): name (the server name in a cluster), url, monitorUrl, pid, kill(signal). */
            natsNodes: natsNodes.map(({ name, service, port, monitorPort }) => ({
                name,
                url: `nats://127.0.0.1:${port}`,
                monitorPort,
                monitorUrl: `http://127.0.0.1:${monitorPort}`,
                get pid() {
                    return service.pid;
                },
                get running() {
                    return service.running;
                },
                logTail: () => service.logTail(),
                /** Sends `signal` (default SIGKILL) and waits for the exit (bounded). */
                kill: (signal) => service.kill(signal),
            })),
            /** {stream, meta}: the server names leading `stream` and the meta group, asked at the running nodes. */
            natsLeaders(stream) {
                return leaders(natsNodes.filter((n) => n.service.running).map((n) => n.monitorPort), stream);
            },
            nginxUrl,
            edges: edgeHandles,
            services: serviceHandles,
            jwtSecret,
            adminToken,
            /** {user, pass} of a NATS role ("edge", "rooms", "backend", …) or kNatsAdminUser. */
            natsCredentials(role) {
                const creds = natsUsers[role];
                if (!creds) {
                    throw new Error(`no NATS user "${role}" in this stack (${Object.keys(natsUsers).join(", ")})`);
                }
                return { ...creds };
            },
            /** nats.js connect() options for a role: {servers, user, pass}. */
            natsOptions(role) {
                return { servers: natsCluster === 1 ? natsUrl : natsUrls, ...this.natsCredentials(role) };
            },
            /** Output tail of a service ("nats", "nginx" or an edge id). */
            logTail(name) {
                return services.find((s) => s.name === name)?.logTail() ?? "(no such service)";
            },
            /** SIGTERM every NATS node and wait for the exits. */
            async stopNats() {
                const infos = await Promise.all(natsNodes.map((n) => n.service.stop()));
                return infos[0];
            },
            /** Starts NATS again on the same ports with the same data directories; waits for JetStream. */
            async startNats() {
                if (natsNodes.some((n) => n.service.running)) {
                    throw new Error("startNats: NATS is running; stopNats() first");
                }
                for (const { service } of natsNodes) {
                    service.start();
                }
                await natsReady();
            },
            /**
             * Stops everything (NGINX, edges, NATS; bounded) and removes the state directory. Throws
             * afterwards if a service had died on its own, so a crash is reported even when the
             * test passed.
             */
            async stop() {
                if (stopped) {
                    return;
                }
                stopped = true;
                const crashes = services
                    .filter((s) => s.crashed())
                    .map((s) => {
                        const { code, signal } = s.crashed();
                        return `${s.describe()} exited during the test (code ${code}, signal ${signal})` +
                            `\n--- ${s.name} output ---\n${s.logTail()}`;
                    });
                await stopAll();
                liveDirs.delete(dir);
                // No log line of the whole run may hold a secret of this stack.
                const secrets = { "admin token": adminToken, "JWT secret": jwtSecret };
                for (const [name, { pass }] of Object.entries(natsUsers)) {
                    secrets[`NATS password of ${name}`] = pass;
                }
                const leaks = findSecretsInLogs(logDir, secrets);
                if (leaks.length) {
                    crashes.push(`secrets in the logs of the stack:\n  ${leaks.join("\n  ")}`);
                }
                if (process.env.ROOMCAST_E2E_KEEP_STATE === "1" || crashes.length) {
                    process.stderr.write(`roomcast stack state kept in ${dir}\n`);
                } else {
                    rmSync(dir, { recursive: true, force: true });
                }
                if (crashes.length) {
                    throw new Error(crashes.join("\n"));
                }
            },
        };
    } catch (err) {
        await stopAll().catch(() => {});
        liveDirs.delete(dir);
        // The reason too: a runner's excerpt may show this line and not the hook's error.
        process.stderr.write(`roomcast stack did not start; state kept in ${dir}: ${err?.stack ?? err}\n`);
        throw err;
    }
}
