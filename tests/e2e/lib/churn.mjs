// Churn driver for scripts/soak (used when build/tools/loadgen/roomcast_loadgen is not there):
// keeps about --connections clients connected while continuously replacing them — each cycle
// ends one client (a clean disconnect, or a dropped connection) and opens a new one that
// connects, joins one or two of --rooms rooms, publishes once, and sometimes leaves a room.
// Clients go straight to the edges over WebSocket and through NGINX over long-polling (with the
// affinity cookie). A few long-lived receivers stay for the whole run and must keep receiving.
// With ROOMCAST_ADMIN_TOKEN and the service addresses it also calls the admin APIs twice a
// second (rooms GetRoom, presence GetPresenceStats, auth IssueToken — whose token the next
// cycle uses).
//
//   ROOMCAST_JWT_SECRET=S [ROOMCAST_ADMIN_TOKEN=T] node tests/e2e/lib/churn.mjs \
//     --edges http://127.0.0.1:8081,http://127.0.0.1:8082 --nginx http://127.0.0.1:8080 \
//     --duration-s 600 [--connections 300] [--rate 30] [--rooms 20]
//     [--rooms-addr A --presence-addr A --auth-addr A]   (admin calls need ROOMCAST_ADMIN_TOKEN)
//
// Secrets come from the environment only (never on a command line, where ps shows them).
//
// Prints one JSON progress line a minute on stderr and the result JSON on stdout:
// {cycles, completed, failed, failures: {reason: n}, publishes, receivers: {received,
// lastGapMs, stale, connected}, admin: {calls, failed}, ...}.
// Exit status 0 (the caller judges the figures).

import { createHmac, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { io } from "socket.io-client";

const b64url = (s) => Buffer.from(s).toString("base64url");
function sign(sub, secret) {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(
        JSON.stringify({ sub, name: `Soak ${sub}`, iat: now, exp: now + 3600 }),
    )}`;
    return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function ackOf(socket, event, body, timeout = 10_000) {
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ ok: false, error: { code: "ack_timeout" } }), timeout);
        socket.emit(event, body, (ack) => {
            clearTimeout(timer);
            resolve(ack);
        });
    });
}

function connect(url, opts, timeout = 15_000) {
    const socket = io(url, { forceNew: true, reconnection: false, ...opts });
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            socket.disconnect();
            reject(new Error("connect_timeout"));
        }, timeout);
        socket.once("connect", () => {
            clearTimeout(timer);
            resolve(socket);
        });
        socket.once("connect_error", (err) => {
            clearTimeout(timer);
            socket.disconnect();
            reject(new Error(`connect_error:${err.message}`));
        });
    });
}

/**
 * Calls the admin APIs twice a second until `stopAt`: rooms GetRoom and presence
 * GetPresenceStats of a room, and auth IssueToken (handed to `onToken`) when `admin.authAddr` is
 * set. Counts into `figures` ({calls, failed}).
 */
export async function adminCalls({ admin, roomIds, users = 2_000, stopAt, figures, onToken }) {
    const { adminClient } = await import("./admin.mjs");
    const clients = {
        rooms: adminClient("rooms", admin.roomsAddr, admin.token),
        presence: adminClient("presence", admin.presenceAddr, admin.token),
        auth: admin.authAddr ? adminClient("auth", admin.authAddr, admin.token) : undefined,
    };
    let i = 0;
    try {
        while (Date.now() < stopAt) {
            const room = roomIds[i % roomIds.length];
            const calls = [
                clients.rooms.call("GetRoom", { room_id: room }, { timeout: 5_000 }),
                clients.presence.call("GetPresenceStats", { room_id: room }, { timeout: 5_000 }),
            ];
            if (clients.auth) {
                calls.push(
                    clients.auth
                        .call("IssueToken", { user_id: `soak-u${i % users}`, name: "Soak", ttl_seconds: 3600 }, { timeout: 5_000 })
                        .then((r) => onToken?.(r.token)),
                );
            }
            for (const r of await Promise.allSettled(calls)) {
                figures.calls += 1;
                if (r.status === "rejected") {
                    figures.failed += 1;
                }
            }
            i += 1;
            await sleep(500);
        }
    } finally {
        for (const c of Object.values(clients)) {
            c?.close();
        }
    }
}

/**
 * Runs the churn for `durationMs`; resolves with the figures. `onProgress(figures)` is called
 * once a minute.
 */
export async function runChurn({
    edges,
    nginx,
    jwtSecret,
    durationMs,
    connections = 300,
    rate = 30,
    rooms = 20,
    receivers = 4,
    users = 2_000,
    admin,
    onProgress,
}) {
    const roomIds = Array.from({ length: rooms }, (_, i) => `soak-${i}`);
    const f = {
        cycles: 0,
        completed: 0,
        failed: 0,
        failures: {},
        publishes: 0,
        kinds: {},
        admin: { calls: 0, failed: 0 },
        receivers: { received: 0, lastGapMs: 0 },
    };
    const fail = (reason) => {
        f.failed += 1;
        f.failures[reason] = (f.failures[reason] ?? 0) + 1;
    };
    const token = (sub) => sign(sub, jwtSecret);
    let issued; // a token from the auth service, used by the next cycle

    // Long-lived receivers, one per edge and room group: they must keep receiving the cycles'
    // publishes for the whole run.
    const longLived = [];
    for (let i = 0; i < receivers; i++) {
        const url = edges[i % edges.length];
        const s = await connect(url, { transports: ["websocket"], reconnection: true, auth: { token: token(`soak-recv-${i}`) } });
        for (const room of roomIds) {
            const ack = await ackOf(s, "join", { room });
            if (ack?.ok !== true) {
                throw new Error(`receiver ${i}: join ${room}: ${JSON.stringify(ack)}`);
            }
        }
        const r = { socket: s, last: Date.now(), received: 0 };
        s.on("churn", () => {
            const now = Date.now();
            f.receivers.lastGapMs = Math.max(f.receivers.lastGapMs, now - r.last);
            r.last = now;
            r.received += 1;
            f.receivers.received += 1;
        });
        longLived.push(r);
    }

    const live = []; // churned clients currently connected
    let n = 0;
    const cycle = async () => {
        const k = n++;
        f.cycles += 1;
        // End one client: most cleanly, some by dropping the connection (recovery record kept,
        // presence grace), some after leaving a room first.
        if (live.length >= connections) {
            const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0];
            const how = k % 10;
            if (how < 2) {
                victim.io.engine?.close(); // a lost connection
            } else {
                if (how < 4) {
                    await ackOf(victim, "leave", { room: victim.rooms[0] }, 5_000);
                }
                victim.disconnect();
            }
        }
        // Open one.
        const user = `soak-u${Math.floor(Math.random() * users)}`;
        const viaNginx = nginx && k % 5 === 0;
        const kind = viaNginx ? "polling-nginx" : "websocket";
        f.kinds[kind] = (f.kinds[kind] ?? 0) + 1;
        let socket;
        try {
            const tok = issued && k % 10 === 1 ? issued : token(user);
            socket = await connect(viaNginx ? nginx : edges[k % edges.length], {
                transports: viaNginx ? ["polling"] : ["websocket"],
                withCredentials: true,
                auth: { token: tok },
            });
        } catch (err) {
            fail(err.message.split(" ")[0]);
            return;
        }
        const mine = [roomIds[k % rooms], roomIds[(k * 7 + 3) % rooms]].filter((r, i, a) => a.indexOf(r) === i);
        socket.rooms = mine;
        for (const room of mine) {
            const ack = await ackOf(socket, "join", { room });
            if (ack?.ok !== true) {
                fail(`join:${ack?.error?.code ?? "no_ack"}`);
                socket.disconnect();
                return;
            }
        }
        const pub = await ackOf(socket, "publish", { room: mine[0], event: "churn", data: { k, t: Date.now(), pad: randomBytes(32).toString("hex") } });
        if (pub?.ok !== true) {
            fail(`publish:${pub?.error?.code ?? "no_ack"}`);
            socket.disconnect();
            return;
        }
        f.publishes += 1;
        if (!socket.connected) {
            fail("disconnected");
            return;
        }
        live.push(socket);
        f.completed += 1;
    };

    const t0 = Date.now();
    const stopAt = t0 + durationMs;
    const admins = admin
        ? adminCalls({ admin, roomIds, users, stopAt, figures: f.admin, onToken: (t) => { issued = t; } })
        : Promise.resolve();
    const inflight = new Set();
    let nextProgress = t0 + 60_000;
    let due = t0;
    while (Date.now() < stopAt) {
        // Paced at `rate` cycles per second; at most 200 in flight (a slow stack slows the churn
        // down instead of piling up).
        if (inflight.size < 200) {
            const p = cycle().catch((err) => fail(`exception:${err.message}`));
            inflight.add(p);
            p.finally(() => inflight.delete(p));
        }
        due += 1000 / rate;
        const wait = due - Date.now();
        if (wait > 0) {
            await sleep(wait);
        }
        if (Date.now() >= nextProgress) {
            nextProgress += 60_000;
            onProgress?.({ ...f, minutes: Math.round((Date.now() - t0) / 60_000), live: live.length });
        }
    }
    await Promise.all(inflight);
    await admins;
    await sleep(1_000);
    // The receivers were in every room: each must have received recently.
    const now = Date.now();
    f.receivers.stale = longLived.filter((r) => now - r.last > 5_000).length;
    f.receivers.connected = longLived.filter((r) => r.socket.connected).length;
    for (const s of live) {
        s.disconnect();
    }
    for (const r of longLived) {
        r.socket.disconnect();
    }
    f.durationMs = Date.now() - t0;
    f.cyclesPerSecond = +(f.cycles / (f.durationMs / 1000)).toFixed(1);
    return f;
}

// --- command line ----------------------------------------------------------------------------

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
    const { values } = parseArgs({
        options: {
            edges: { type: "string" },
            nginx: { type: "string" },
            "duration-s": { type: "string" },
            connections: { type: "string", default: "300" },
            rate: { type: "string", default: "30" },
            rooms: { type: "string", default: "20" },
            "rooms-addr": { type: "string" },
            "presence-addr": { type: "string" },
            "auth-addr": { type: "string" },
        },
    });
    const figures = await runChurn({
        edges: values.edges.split(","),
        nginx: values.nginx,
        jwtSecret: process.env.ROOMCAST_JWT_SECRET,
        durationMs: Number(values["duration-s"]) * 1000,
        connections: Number(values.connections),
        rate: Number(values.rate),
        rooms: Number(values.rooms),
        admin: process.env.ROOMCAST_ADMIN_TOKEN && values["rooms-addr"]
            ? { token: process.env.ROOMCAST_ADMIN_TOKEN, roomsAddr: values["rooms-addr"], presenceAddr: values["presence-addr"], authAddr: values["auth-addr"] }
            : undefined,
        onProgress: (p) => process.stderr.write(`${JSON.stringify({ churn: p })}\n`),
    });
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    process.exit(0);
}
