// One measured run of scripts/bench: starts the load generator process(es), follows the server
// processes' cost in /proc while they run, and appends one JSON record to --record.
//
//   node scripts/lib/bench_measure.mjs --record FILE --system roomcast --scenario fanout \
//       --label 50k --param rate=5 ... \
//       --server edge-1:edge:PID --server nats:nats:PID[:MONITOR_PORT] ... \
//       --mode window|whole --warmup 5 --duration 30 --ready-connections N --timeout 300 \
//       [--late-start connected|window-end] [--late-end exit|close] \
//       [--kill-nats-leader STREAM --kill-at window-mid|late-mid] [--profile DIR] \
//       -- LOADGEN ARGS... [::: [@late] LOADGEN ARGS...]...
//
// Server cost comes only from /proc: CPU = utime + stime of /proc/<pid>/stat (clock ticks, read
// as seconds with the kernel's USER_HZ of 100), memory = VmRSS of /proc/<pid>/status.
//
// The measured window:
//   --mode window  the load generator's own measured window: it connects everything, then waits
//                  --warmup, then measures for --duration. Its end of connecting is seen from the
//                  server side (open file descriptors of the servers whose role is "edge" or
//                  "node" reach --ready-connections, or stop growing for 3 s), and the window is
//                  [ready + warmup, ready + warmup + duration], cut short if the generator exits.
//   --mode whole   from the start of the first generator until the last one starts closing its
//                  connections (its "close" progress line; else its exit): connect-storm, the
//                  cost of every connect and join.
// Groups after ":::" run as further generator processes; a group starting with "@late" starts
// only once the others are connected (--late-start connected), or once the measured window is
// over (--late-start window-end: the 100k run's broadcast after its idle window; the servers'
// CPU from then until 5 s after the late generators exit is recorded apart, as cpu_s_late).
// --late-end close ends that stretch when the last late generator starts closing its
// connections instead (the scaling run's connect storm into servers that already hold the
// early generators' connections: the cost of its connects and joins, not of its disconnects);
// an early generator that starts closing within the stretch is an error (its disconnects would
// be counted).
//
// Every wait is bounded by --timeout: then the generators get SIGTERM, 5 s later SIGKILL, and
// the record says so.
//
// A node kill (--kill-nats-leader STREAM, a NATS cluster): at --kill-at (window-mid: half way
// through the measured window; late-mid: kKillAfterLateS after the late generators started,
// the 100k run's broadcast), the nats-server that leads STREAM (asked at the "nats" servers'
// monitoring ports) gets SIGKILL. The record's "kill" says which node, when, and whether it
// also led the JetStream meta group; the killed node's CPU counts up to the kill. The run then
// must have lost nothing: any lost, duplicated or reordered event, missing end marker, failed
// connection or disconnect (or no kill at all) is an error, and the exit status is 3.
//
// A profile (--profile DIR): what a figure is made of, for the goals a run
// does not meet (issue 15 asks for the measured reason, not a guess). Over the measured window,
// `perf stat` counts each server's system calls by kind and its context switches (tracepoints:
// exact counts at little cost), and `perf record` samples the first delivering server (edge,
// node process or floor) at kProfileHz without call graphs; the record's "profile" keeps the
// counts, the share of the samples per object (the kernel, libc, the server's own binary) and
// the top symbols. perf's files stay in DIR. Sampling costs the sampled server a little CPU:
// read a profiled run's figures as a profile, not as the run's cost.
import { spawn, spawnSync } from "node:child_process";
import { leaders } from "./nats_cluster.mjs";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";

const kTick = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux
const kSampleMs = 250;
const kPlateauMs = 3_000;
// The late generators' stretch ends this long after the last of them exits: deliveries of its
// last messages may still be on their way to the other generators' clients.
const kLateTailS = 5;
// --kill-at late-mid: the 100k run's publisher sends for 10 s once connected.
const kKillAfterLateS = 4;

const kProfileHz = 499;
const kProfileSyscalls = ["sendmsg", "sendto", "sendmmsg", "write", "writev", "recvmsg", "recvfrom", "read",
    "readv", "epoll_wait", "epoll_pwait", "io_uring_enter", "futex"];
const kProfileTopSymbols = 15;

function die(message) {
    process.stderr.write(`bench_measure: ${message}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {
        record: "",
        system: "",
        scenario: "",
        label: "",
        params: {},
        servers: [],
        mode: "window",
        warmup: 0,
        duration: 0,
        readyConnections: 0,
        timeout: 600,
        lateStart: "connected",
        lateEnd: "exit",
        killStream: "",
        killAt: "window-mid",
        profile: "",
        groups: [],
    };
    let i = 0;
    for (; i < argv.length; i += 1) {
        const flag = argv[i];
        if (flag === "--") {
            i += 1;
            break;
        }
        const value = () => {
            if (i + 1 >= argv.length) {
                die(`${flag} needs a value`);
            }
            i += 1;
            return argv[i];
        };
        switch (flag) {
            case "--record": opts.record = value(); break;
            case "--system": opts.system = value(); break;
            case "--scenario": opts.scenario = value(); break;
            case "--label": opts.label = value(); break;
            case "--param": {
                const kv = value();
                const eq = kv.indexOf("=");
                if (eq < 1) {
                    die(`--param wants key=value, got ${kv}`);
                }
                const v = kv.slice(eq + 1);
                opts.params[kv.slice(0, eq)] = v !== "" && Number.isFinite(Number(v)) ? Number(v) : v;
                break;
            }
            case "--server": {
                const [name, role, pid, monitor] = value().split(":");
                if (!name || !role || !/^\d+$/.test(pid ?? "") || (monitor !== undefined && !/^\d+$/.test(monitor))) {
                    die("--server wants name:role:pid[:monitor port]");
                }
                opts.servers.push({ name, role, pid: Number(pid), monitor: monitor === undefined ? undefined : Number(monitor) });
                break;
            }
            case "--mode": opts.mode = value(); break;
            case "--warmup": opts.warmup = Number(value()); break;
            case "--duration": opts.duration = Number(value()); break;
            case "--ready-connections": opts.readyConnections = Number(value()); break;
            case "--timeout": opts.timeout = Number(value()); break;
            case "--late-start": opts.lateStart = value(); break;
            case "--late-end": opts.lateEnd = value(); break;
            case "--kill-nats-leader": opts.killStream = value(); break;
            case "--kill-at": opts.killAt = value(); break;
            case "--profile": opts.profile = value(); break;
            default: die(`unknown argument: ${flag}`);
        }
    }
    let group = [];
    for (; i < argv.length; i += 1) {
        if (argv[i] === ":::") {
            opts.groups.push(group);
            group = [];
        } else {
            group.push(argv[i]);
        }
    }
    opts.groups.push(group);
    opts.groups = opts.groups
        .filter((g) => g.length > 0)
        .map((g) => (g[0] === "@late" ? { late: true, argv: g.slice(1) } : { late: false, argv: g }));
    if (!opts.record || !opts.system || !opts.scenario || opts.groups.length === 0) {
        die("needs --record, --system, --scenario and a load generator command after --");
    }
    if (opts.lateStart !== "connected" && opts.lateStart !== "window-end") {
        die("--late-start is connected or window-end");
    }
    if (opts.lateEnd !== "exit" && opts.lateEnd !== "close") {
        die("--late-end is exit or close");
    }
    if (opts.lateEnd === "close" && opts.lateStart !== "window-end") {
        die("--late-end close needs --late-start window-end");
    }
    if (opts.mode !== "window" && opts.mode !== "whole") {
        die("--mode is window or whole");
    }
    if (opts.killAt !== "window-mid" && opts.killAt !== "late-mid") {
        die("--kill-at is window-mid or late-mid");
    }
    if (opts.killStream && opts.servers.filter((s) => s.role === "nats" && s.monitor).length < 3) {
        die("--kill-nats-leader needs at least 3 nats servers with their monitoring port");
    }
    return opts;
}

// --- /proc -------------------------------------------------------------------------------------

/** {cpu: seconds, rss: bytes, fds} of a live process, or undefined. */
function readProc(pid, { fds = false } = {}) {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        // Fields after the command name, which is in parentheses and may contain anything.
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (rest[0] === "Z" || rest[0] === "X") {
            return undefined;
        }
        const utime = Number(rest[11]);
        const stime = Number(rest[12]);
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
        const out = { cpu: (utime + stime) / kTick, rss: m ? Number(m[1]) * 1024 : 0 };
        if (fds) {
            out.fds = readdirSync(`/proc/${pid}/fd`).length;
        }
        return out;
    } catch {
        return undefined;
    }
}

// `gens`: the load generators, sampled too (a running one's CPU; undefined before its start and
// after its exit): they share the cores with the servers, and their share is part of what
// a latency figure means.
function snapshot(servers, { fds = false, gens = [] } = {}) {
    const t = performance.now() / 1000;
    return {
        t,
        procs: servers.map((s) => readProc(s.pid, { fds: fds && countsConnections(s) })),
        gens: gens.map((g) => (g.running ? readProc(g.child.pid) : undefined)),
    };
}

/** Roles whose open descriptors are client connections (one per WebSocket session). */
function countsConnections(server) {
    return server.role === "edge" || server.role === "node" || server.role === "floor";
}

function connectionFds(snap, servers) {
    let n = 0;
    servers.forEach((s, i) => {
        if (countsConnections(s) && snap.procs[i]?.fds !== undefined) {
            n += snap.procs[i].fds;
        }
    });
    return n;
}

// --- profile (--profile) -----------------------------------------------------------------------

/** Runs `perf` over the measured window (see the top of this file). */
class Profiler {
    constructor(servers, dir, tag) {
        this.servers = servers;
        this.dir = dir;
        this.tag = tag.replace(/[^A-Za-z0-9._-]+/g, "_");
        this.children = [];
    }

    start() {
        mkdirSync(this.dir, { recursive: true });
        const events = ["raw_syscalls:sys_enter", ...kProfileSyscalls.map((c) => `syscalls:sys_enter_${c}`),
            "context-switches"];
        this.stats = this.servers.filter((s) => readProc(s.pid)).map((s) => {
            const file = path.join(this.dir, `${this.tag}-${s.name}.stat`);
            return { server: s, file, child: this.spawn(["stat", "-x", ",", "-e", events.join(","), "-p", String(s.pid), "-o", file]) };
        });
        const sampled = this.servers.find((s) => countsConnections(s) && readProc(s.pid));
        if (sampled) {
            const file = path.join(this.dir, `${this.tag}-${sampled.name}.data`);
            this.sample = { server: sampled, file, child: this.spawn(["record", "-F", String(kProfileHz), "-p", String(sampled.pid), "-o", file, "-q"]) };
        }
    }

    spawn(args) {
        const child = spawn("perf", args, { stdio: ["ignore", "ignore", "pipe"] });
        const entry = { child, stderr: "", exited: new Promise((resolve) => {
            child.once("exit", (code, signal) => resolve({ code, signal }));
            child.once("error", (err) => resolve({ error: String(err) }));
        }) };
        child.stderr.setEncoding("utf8");
        child.stderr.on("data", (d) => {
            entry.stderr = (entry.stderr + d).slice(-2_000);
        });
        this.children.push(entry);
        return entry;
    }

    /** Ends the sampling (SIGINT: perf writes its files), bounded; then SIGKILL. */
    async stop() {
        for (const { child } of this.children) {
            if (child.exitCode === null && child.signalCode === null) {
                child.kill("SIGINT");
            }
        }
        const all = Promise.all(this.children.map((c) => c.exited));
        if (!(await Promise.race([all, sleep(15_000).then(() => undefined)]))) {
            for (const { child } of this.children) {
                child.kill("SIGKILL");
            }
            await Promise.race([all, sleep(5_000)]);
        }
    }

    /** The record's "profile": counts per server, the sampled server's objects and symbols. */
    summary() {
        const out = { tool: "perf", hz: kProfileHz, dir: this.dir, servers: [], sampled: null, errors: [] };
        for (const { server, file, child } of this.stats ?? []) {
            const counts = {};
            if (existsSync(file)) {
                for (const line of readFileSync(file, "utf8").split("\n")) {
                    const f = line.split(",");
                    if (line.startsWith("#") || f.length < 3 || !/^\d+$/.test(f[0])) {
                        continue;
                    }
                    const name = f[2] === "raw_syscalls:sys_enter" ? "syscalls" : f[2].replace(/^syscalls:sys_enter_/, "");
                    counts[name] = Number(f[0]);
                }
            }
            if (Object.keys(counts).length === 0) {
                out.errors.push(`perf stat of ${server.name} counted nothing: ${child.stderr.trim().split("\n").pop() ?? ""}`);
            }
            out.servers.push({ name: server.name, role: server.role, counts });
        }
        if (this.sample) {
            const report = (sort) => {
                const r = spawnSync("perf", ["report", "-i", this.sample.file, "--stdio", "-q", "--sort", sort],
                    { encoding: "utf8", timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
                if (r.status !== 0) {
                    out.errors.push(`perf report --sort ${sort}: ${(r.stderr || r.error || "").toString().trim().split("\n").pop()}`);
                    return [];
                }
                return r.stdout.split("\n").map((l) => l.trim()).filter((l) => /^\d+(\.\d+)?%/.test(l));
            };
            const objects = report("dso").map((l) => {
                const m = /^([\d.]+)%\s+(.*)$/.exec(l);
                return { object: m[2].trim(), pct: Number(m[1]) };
            });
            const symbols = report("dso,sym").slice(0, kProfileTopSymbols).map((l) => {
                const m = /^([\d.]+)%\s+(\S+)\s+\[[^\]]*\]\s+(.*)$/.exec(l);
                return m ? { object: m[2], symbol: m[3].trim(), pct: Number(m[1]) } : { object: "?", symbol: l, pct: null };
            });
            out.sampled = { name: this.sample.server.name, role: this.sample.server.role, objects, symbols };
        }
        return out;
    }
}

// --- load generators ---------------------------------------------------------------------------

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

class Generator {
    constructor(index, argv, late) {
        this.index = index;
        this.argv = argv;
        this.late = late;
        this.stdout = "";
        this.stderrTail = [];
        this.exit = undefined;
        this.startedAt = undefined;
        this.phase = undefined; // the last "phase" of its progress lines (JSON on stderr)
        this.onPhase = () => {};
    }

    onLine(line) {
        if (!line.startsWith("{")) {
            return;
        }
        let msg;
        try {
            msg = JSON.parse(line);
        } catch {
            return;
        }
        if (typeof msg.phase === "string" && msg.phase !== this.phase) {
            this.phase = msg.phase;
            this.onPhase(msg.phase);
        }
    }

    start() {
        this.startedAt = performance.now() / 1000;
        this.child = spawn(this.argv[0], this.argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
        this.child.stdout.setEncoding("utf8");
        this.child.stdout.on("data", (chunk) => {
            this.stdout += chunk;
            if (this.stdout.length > 4_000_000) {
                this.stdout = this.stdout.slice(-2_000_000);
            }
        });
        this.child.stderr.setEncoding("utf8");
        let partial = "";
        this.child.stderr.on("data", (chunk) => {
            partial += chunk;
            let nl;
            while ((nl = partial.indexOf("\n")) >= 0) {
                const line = partial.slice(0, nl);
                partial = partial.slice(nl + 1);
                this.onLine(line);
                this.stderrTail.push(line);
                if (this.stderrTail.length > 40) {
                    this.stderrTail.shift();
                }
                if (process.env.ROOMCAST_BENCH_VERBOSE === "1") {
                    process.stderr.write(`  [loadgen ${this.index}] ${line}\n`);
                }
            }
        });
        this.exited = new Promise((resolve) => {
            this.child.once("exit", (code, signal) => {
                this.exit = { code, signal, at: performance.now() / 1000 };
                resolve(this.exit);
            });
            this.child.once("error", (err) => {
                this.exit = { code: null, signal: null, error: String(err), at: performance.now() / 1000 };
                resolve(this.exit);
            });
        });
    }

    get running() {
        return this.child !== undefined && this.exit === undefined;
    }

    /** The last line of stdout that is a JSON object: the --json report. */
    report() {
        const lines = this.stdout.trim().split("\n").reverse();
        for (const line of lines) {
            const s = line.trim();
            if (s.startsWith("{")) {
                try {
                    return JSON.parse(s);
                } catch {
                    // not the report
                }
            }
        }
        return undefined;
    }

    async stop() {
        if (!this.running) {
            return;
        }
        this.child.kill("SIGTERM");
        const done = await Promise.race([this.exited, sleep(5_000).then(() => undefined)]);
        if (!done && this.running) {
            this.child.kill("SIGKILL");
            await Promise.race([this.exited, sleep(5_000)]);
        }
    }
}

// --- main --------------------------------------------------------------------------------------

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const { servers } = opts;
    const gens = opts.groups.map((g, i) => new Generator(i, g.argv, g.late));
    let profiler;
    const stopAll = () => {
        for (const g of gens) {
            if (g.running) {
                g.child.kill("SIGKILL");
            }
        }
        for (const { child } of profiler?.children ?? []) {
            if (child.exitCode === null && child.signalCode === null) {
                child.kill("SIGKILL"); // perf, on an early exit
            }
        }
    };
    process.on("exit", stopAll);
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
        process.on(sig, () => process.exit(130));
    }

    const deadline = performance.now() / 1000 + opts.timeout;
    const errors = [];
    profiler = opts.profile
        ? new Profiler(servers, opts.profile, `${opts.system}-${opts.scenario}-${opts.label}-${opts.params.delivery ?? "stored"}`)
        : undefined;
    const samples = [];
    let lastKept = -Infinity;
    const take = (snap) => {
        // Keep at most one sample a second in the record (all are used for peaks).
        if (snap.t - lastKept >= 1) {
            samples.push(snap);
            lastKept = snap.t;
        }
        return snap;
    };
    let peakRss = servers.map(() => 0);
    const trackPeak = (snap) => {
        peakRss = peakRss.map((p, i) => Math.max(p, snap.procs[i]?.rss ?? 0));
        const total = snap.procs.reduce((a, p) => a + (p?.rss ?? 0), 0);
        return total;
    };

    const before = take(snapshot(servers, { fds: true, gens }));
    trackPeak(before);
    const missing = servers.filter((_, i) => before.procs[i] === undefined);
    if (missing.length) {
        die(`server process(es) not running: ${missing.map((s) => `${s.name} (${s.pid})`).join(", ")}`);
    }
    const baseFds = connectionFds(before, servers);

    const early = gens.filter((g) => !g.late);
    const late = gens.filter((g) => g.late);
    // The generators' progress lines (JSON on stderr, one a second and one at once when they
    // start closing) bound the window too: a generator that has left its measurement (acks,
    // end markers, close) ends the window there and then; in --mode whole, the moment the
    // last one starts closing its connections is the end (their disconnects are not counted).
    let ws;
    let we;
    let windowStart;
    let windowEnd;
    const kAfterMeasure = new Set(["acks", "end-markers", "close", "churn-drain"]);
    for (const g of gens) {
        g.onPhase = (phase) => {
            if (opts.mode === "window" && kAfterMeasure.has(phase) && ws !== undefined && we === undefined) {
                we = take(snapshot(servers, { gens }));
                windowEnd = we.t;
            }
            if (phase === "close") {
                g.closeSnap = snapshot(servers, { gens });
            }
        };
    }
    if (opts.mode === "whole") {
        profiler?.start(); // the window is the whole run (a connect storm)
    }
    for (const g of early) {
        g.start();
    }
    const t0 = performance.now() / 1000;

    // Ready: the servers hold the connections (or their count stopped growing for a while).
    const readyTarget = opts.readyConnections;
    // --late-start connected: the late generators' connections are part of the target, and
    // they start once the others hold their share; window-end: they start when the measured
    // window is over (the 100k run's broadcast after its idle window), outside the target.
    const lateAfterWindow = opts.lateStart === "window-end";
    const earlyTarget = late.length && !lateAfterWindow ? Math.floor(readyTarget * early.length / gens.length) : readyTarget;
    let lateSnap;
    let lateEndSnap;
    let ready;
    let lateStarted;
    let lastCount = 0;
    let lastGrowth = t0;
    // The node kill: tried once due (retried on the next samples while its stream has no leader,
    // for up to kKillTryS), then never again.
    const kKillTryS = 5;
    let kill;
    let killSnap;
    let killTriedSince;
    const killDue = (now) => opts.killStream && kill === undefined && (opts.killAt === "window-mid"
        ? windowStart !== undefined && we === undefined && now >= windowStart + opts.duration / 2
        : lateStarted !== undefined && now >= lateStarted + kKillAfterLateS);
    const killLeader = async (now) => {
        killTriedSince ??= now;
        const nats = servers.filter((s) => s.role === "nats" && s.monitor && readProc(s.pid));
        const l = await leaders(nats.map((s) => s.monitor), opts.killStream);
        const victim = nats.find((s) => s.name === l.stream);
        if (!victim && now - killTriedSince < kKillTryS) {
            return;
        }
        const at = performance.now() / 1000;
        kill = {
            target: "stream-leader",
            stream: opts.killStream,
            node: victim?.name ?? null,
            pid: victim?.pid ?? null,
            meta_leader: l.meta ?? null,
            also_meta_leader: victim !== undefined && l.meta === victim.name,
            at_s: round(at - t0, 2),
            after_window_start_s: windowStart !== undefined ? round(at - windowStart, 2) : null,
            after_late_start_s: lateStarted !== undefined ? round(at - lateStarted, 2) : null,
        };
        if (!victim) {
            kill.error = `no leader of ${opts.killStream} found at the nats servers' monitoring ports within ${kKillTryS} s`;
            return;
        }
        killSnap = snapshot(servers);
        victim.killed = true;
        process.kill(victim.pid, "SIGKILL");
        process.stderr.write(`    killed ${victim.name} (pid ${victim.pid}), the leader of ${opts.killStream}` +
            `${kill.also_meta_leader ? " and of the meta group" : ""}, at ${kill.at_s} s\n`);
    };
    const allExited = () => gens.every((g) => g.exit !== undefined || (g.late && lateStarted === undefined));
    for (;;) {
        await sleep(kSampleMs);
        const now = performance.now() / 1000;
        const needFds = ready === undefined || (late.length && !lateAfterWindow && lateStarted === undefined);
        const snap = take(snapshot(servers, { fds: needFds, gens }));
        trackPeak(snap);
        if (needFds) {
            const count = connectionFds(snap, servers) - baseFds;
            if (count > lastCount) {
                lastCount = count;
                lastGrowth = now;
            }
            const target = late.length && lateStarted === undefined ? earlyTarget : readyTarget;
            const plateau = lastCount > 0 && now - lastGrowth >= kPlateauMs;
            if (late.length && !lateAfterWindow && lateStarted === undefined && (count >= target || plateau)) {
                for (const g of late) {
                    g.start();
                }
                lateStarted = now;
                lastGrowth = now;
            } else if (ready === undefined && (late.length === 0 || lateAfterWindow || lateStarted !== undefined) &&
                (count >= target * 0.999 || plateau)) {
                ready = now;
                if (count < target * 0.999) {
                    errors.push(`servers hold ${count} of ${target} connections (no growth for ${kPlateauMs / 1000} s)`);
                }
            }
        }
        if (ready === undefined && (late.length === 0 || lateAfterWindow || lateStarted !== undefined) &&
            gens.filter((g) => !g.late || !lateAfterWindow).every((g) => g.phase !== undefined && g.phase !== "connect")) {
            // Every generator says it is past connecting (its first progress line after it).
            ready = now;
        }
        if (opts.mode === "window" && ready !== undefined && ws === undefined && now >= ready + opts.warmup) {
            ws = snap;
            windowStart = now;
            profiler?.start();
        }
        if (opts.mode === "window" && ws !== undefined && we === undefined &&
            now >= windowStart + opts.duration) {
            we = snap;
            windowEnd = now;
        }
        const windowOver = opts.mode === "window" ? we !== undefined
            : gens.every((g) => g.closeSnap !== undefined || g.exit !== undefined);
        if (profiler?.stats && !profiler.stopping && windowOver) {
            // The window is over: perf stops counting (in the background: the loop goes on).
            profiler.stopping = profiler.stop();
        }
        if (killDue(now)) {
            await killLeader(now);
        }
        if (lateSnap !== undefined && lateEndSnap === undefined && late.every((g) => g.exit !== undefined) &&
            now >= Math.max(...late.map((g) => g.exit.at)) + kLateTailS) {
            lateEndSnap = snap;
        }
        if (lateAfterWindow && late.length && lateStarted === undefined && we !== undefined) {
            lateSnap = snap;
            for (const g of late) {
                g.start();
            }
            lateStarted = now;
        }
        if (gens.some((g) => g.exit !== undefined && g.exit.code !== 0) && !gens.every((g) => g.exit)) {
            // One generator failed: no point waiting for the others.
            errors.push("a load generator exited with an error; stopping the others");
            await Promise.all(gens.map((g) => g.stop()));
        }
        if (allExited() && gens.some((g) => g.exit !== undefined)) {
            if (late.length && lateStarted === undefined) {
                errors.push("the late load generator(s) never started: the others exited first");
            }
            break;
        }
        if (now >= deadline) {
            errors.push(`timeout after ${opts.timeout} s: stopping the load generator(s)`);
            await Promise.all(gens.map((g) => g.stop()));
            break;
        }
    }
    const exitAt = Math.max(...gens.filter((g) => g.exit).map((g) => g.exit.at));
    const end = take(snapshot(servers, { gens }));
    trackPeak(end);
    if (opts.mode === "whole") {
        ws = before;
        windowStart = t0;
        const closing = gens.map((g) => g.closeSnap);
        we = closing.every(Boolean) ? closing.reduce((a, b) => (b.t > a.t ? b : a)) : end;
        windowEnd = we.t;
    } else if (ws === undefined) {
        errors.push("the measured window never started (the servers never held the connections)");
    } else if (we === undefined) {
        // The generator finished before our clock said the window ended: end it now.
        we = end;
        windowEnd = end.t;
    }
    // A second after the generators exit, their connections are closed: the idle RSS left behind.
    await sleep(1_000);
    let profile = null;
    if (profiler?.stats) {
        await (profiler.stopping ?? profiler.stop());
        // Its own errors stay in it: a profile that failed does not make the run's checks fail.
        profile = profiler.summary();
    }
    const after = snapshot(servers, { gens });
    samples.push(after);

    const reports = gens.map((g) => g.report());
    gens.forEach((g, i) => {
        if (!reports[i]) {
            errors.push(`load generator ${i} printed no JSON report (exit ${JSON.stringify(g.exit)}); stderr tail: ` +
                g.stderrTail.slice(-5).join(" | "));
        }
    });

    // The late generators' stretch, measured apart: from their start to 5 s after their exit
    // (the 100k run's broadcast), or to the last one's start of closing (--late-end close).
    let lateEnd = lateSnap ? lateEndSnap ?? end : undefined;
    if (lateSnap && opts.lateEnd === "close") {
        const closing = late.map((g) => g.closeSnap);
        if (closing.every(Boolean)) {
            lateEnd = closing.reduce((a, b) => (b.t > a.t ? b : a));
        } else {
            errors.push("a late load generator never started closing: its stretch runs to the end");
        }
        const closedEarly = gens.filter((g) => !g.late && g.closeSnap && g.closeSnap.t < lateEnd.t);
        if (closedEarly.length) {
            errors.push(`${closedEarly.length} early load generator(s) started closing within the late stretch: ` +
                "their disconnects are counted in it (give them a longer --duration)");
        }
    }
    // A killed node's figures end at its kill.
    const upTo = (snap, s, i) => (s.killed && snap && snap.t >= killSnap.t ? killSnap.procs[i] : snap?.procs[i]);
    const perServer = servers.map((s, i) => {
        const w0 = ws?.procs[i];
        const w1 = upTo(we, s, i);
        const l0 = lateSnap?.procs[i];
        const l1 = upTo(lateEnd, s, i);
        const e1 = upTo(end, s, i);
        return {
            name: s.name,
            role: s.role,
            pid: s.pid,
            cpu_s: w0 && w1 ? round(w1.cpu - w0.cpu, 3) : null,
            cpu_s_total_run: e1 && before.procs[i] ? round(e1.cpu - before.procs[i].cpu, 3) : null,
            cpu_s_late: l0 && l1 ? round(l1.cpu - l0.cpu, 3) : null,
            rss_before_bytes: before.procs[i]?.rss ?? null,
            rss_window_start_bytes: w0?.rss ?? null,
            rss_window_end_bytes: w1?.rss ?? null,
            rss_peak_bytes: peakRss[i],
            rss_after_bytes: after.procs[i]?.rss ?? null,
            alive_at_end: end.procs[i] !== undefined,
            killed: s.killed === true,
        };
    });
    for (const s of perServer) {
        if (!s.alive_at_end && !s.killed) {
            errors.push(`server ${s.name} (pid ${s.pid}) died during the run`);
        }
    }

    // The node kill's verdict: a survivable loss must cost no event and no connection.
    let killFailed = false;
    if (opts.killStream) {
        const problems = [];
        if (!kill) {
            problems.push("the run ended before the kill was due");
        } else if (kill.error) {
            problems.push(kill.error);
        }
        const total = (f) => reports.reduce((a, r) => a + (r ? f(r) ?? 0 : 0), 0);
        for (const [what, f] of [
            ["lost", (r) => r.receive?.lost],
            ["duplicated", (r) => r.receive?.duplicated],
            ["out of order", (r) => r.receive?.out_of_order],
            ["end markers missing", (r) => r.receive?.end_markers_missing],
            ["connections failed", (r) => r.connections?.failed],
            ["disconnected", (r) => r.connections?.disconnected],
        ]) {
            const n = total(f);
            if (n) {
                problems.push(`${n} ${what}`);
            }
        }
        if (reports.some((r) => !r)) {
            problems.push("a load generator has no report");
        }
        if (problems.length) {
            killFailed = true;
            errors.push(`NODE KILL CHECK FAILED (${kill?.node ?? "no node"} killed): ${problems.join(", ")}`);
        }
    }

    const record = {
        system: opts.system,
        scenario: opts.scenario,
        label: opts.label,
        params: opts.params,
        mode: opts.mode,
        started_at: new Date(Date.now() - (performance.now() / 1000 - t0) * 1000).toISOString(),
        window: {
            ready_after_s: ready !== undefined ? round(ready - t0, 2) : null,
            start_s: windowStart !== undefined ? round(windowStart - t0, 2) : null,
            length_s: windowStart !== undefined && windowEnd !== undefined ? round(windowEnd - windowStart, 3) : null,
            generators_exited_after_s: Number.isFinite(exitAt) ? round(exitAt - t0, 2) : null,
            late_started_after_s: lateStarted !== undefined ? round(lateStarted - t0, 2) : null,
            late_length_s: lateSnap ? round(lateEnd.t - lateSnap.t, 2) : null,
            server_connections_seen: lastCount,
        },
        kill: kill ?? null,
        profile,
        servers: perServer,
        loadgen: reports.map((r, i) => ({
            argv: redact(gens[i].argv),
            late: gens[i].late,
            // Its CPU in the measured window (null when it was not running at both ends: --mode
            // whole, or a late generator).
            cpu_s_window: ws?.gens?.[i] && we?.gens?.[i] ? round(we.gens[i].cpu - ws.gens[i].cpu, 3) : null,
            exit: gens[i].exit ?? null,
            report: r ?? null,
        })),
        samples: samples.map((s) => ({
            t: round(s.t - t0, 2),
            cpu_s: s.procs.map((p) => (p ? round(p.cpu, 2) : null)),
            rss_bytes: s.procs.map((p) => p?.rss ?? null),
        })),
        errors,
    };
    appendFileSync(opts.record, `${JSON.stringify(record)}\n`);
    const summary = record.servers.map((s) => `${s.name} ${s.cpu_s ?? "?"}s ${Math.round((s.rss_window_end_bytes ?? 0) / 1048576)}MB`);
    process.stderr.write(`    window ${record.window.length_s ?? "?"} s; ${summary.join(", ")}` +
        `${errors.length ? `; ERRORS: ${errors.join("; ")}` : ""}\n`);
    process.exit(killFailed ? 3 : 0);
}

function round(x, digits) {
    const f = 10 ** digits;
    return Math.round(x * f) / f;
}

/** argv without the JWT secret. */
function redact(argv) {
    return argv.map((a, i) => (i > 0 && argv[i - 1] === "--jwt-secret" ? "<secret>" : a));
}

main().catch((err) => {
    process.stderr.write(`bench_measure: ${err?.stack ?? err}\n`);
    process.exit(1);
});
