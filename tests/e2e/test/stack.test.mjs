// Self-test of lib/stack.mjs and scripts/lib/nginx.conf.template, runnable without the edge:
// NATS + two conformance servers standing in for the edges, behind the NGINX config of the local
// stack. Checks the cookie affinity (as ingress-nginx's affinity: cookie), WebSocket through
// NGINX, that NATS restarts on the same port with its JetStream data, and the check that no log
// holds a secret.
//
// Which upstream holds an Engine.IO session is told apart by asking each one directly: only
// the upstream that made the handshake knows its sid (the other answers "Session ID unknown").

import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, afterEach, before, test } from "node:test";
import { ClientPool, emitWithAck, nextEvent, waitConnected, withTimeout } from "../lib/clients.mjs";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { findSecretsInLogs, kNatsAdminUser, startStack } from "../lib/stack.mjs";

const kCookieRe = /^roomcast_affinity=([A-Za-z0-9_-]+); Path=\/; HttpOnly; SameSite=Lax$/;
const kRequestTimeoutMs = 5_000;

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startStack({ upstream: "conformance", edges: ["edge-1", "edge-2"] });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

/** One HTTP request; resolves {status, body, setCookie: string[]}. Bounded. */
function request(url, { method = "GET", body, cookie } = {}) {
    return withTimeout(
        new Promise((resolve, reject) => {
            const headers = { "content-type": "text/plain;charset=UTF-8" };
            if (cookie) {
                headers.cookie = cookie;
            }
            // No keep-alive: each request is balanced on its own.
            const req = http.request(url, { method, headers, agent: false }, (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (chunk) => (text += chunk));
                res.on("end", () =>
                    resolve({ status: res.statusCode, body: text, setCookie: res.headers["set-cookie"] ?? [] }),
                );
            });
            req.on("error", reject);
            req.end(body);
        }),
        kRequestTimeoutMs,
        `${method} ${url}`,
    );
}

const pollingPath = (sid) => `/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ""}`;

/** Engine.IO handshake through NGINX; returns {sid, cookieEdge (from Set-Cookie or null)}. */
async function handshake(cookie) {
    const res = await request(`${stack.nginxUrl}${pollingPath()}`, { cookie });
    assert.equal(res.status, 200, `handshake through nginx: ${res.status} ${res.body}`);
    const open = JSON.parse(res.body.slice(1));
    assert.equal(res.body[0], "0", `handshake: an Engine.IO OPEN packet, got ${res.body}`);
    const affinity = res.setCookie.filter((c) => c.startsWith("roomcast_affinity="));
    assert.ok(affinity.length <= 1, `at most one affinity cookie: ${affinity}`);
    let cookieEdge = null;
    if (affinity.length) {
        const m = kCookieRe.exec(affinity[0]);
        assert.ok(m, `Set-Cookie must be "roomcast_affinity=<edge>; Path=/; HttpOnly; SameSite=Lax": ${affinity[0]}`);
        cookieEdge = m[1];
    }
    return { sid: open.sid, cookieEdge };
}

/**
 * The edge holding `sid`, found by sending the namespace CONNECT ("40") straight to each upstream:
 * exactly one accepts it. After this the session is connected to "/".
 */
async function ownerOf(sid) {
    const owners = [];
    for (const edge of stack.edges) {
        const res = await request(`${edge.url}${pollingPath(sid)}`, { method: "POST", body: "40" });
        if (res.status === 200) {
            owners.push(edge.id);
        } else {
            assert.equal(res.status, 400, `${edge.id}: unexpected ${res.status} ${res.body}`);
            assert.match(res.body, /Session ID unknown/);
        }
    }
    assert.equal(owners.length, 1, `exactly one upstream must hold session ${sid}, got [${owners}]`);
    return owners[0];
}

test("the first response sets roomcast_affinity naming the upstream that answered", async () => {
    const { sid, cookieEdge } = await handshake();
    assert.ok(cookieEdge, "a request without the cookie must get one");
    assert.equal(await ownerOf(sid), cookieEdge, "the cookie must name the upstream that made the handshake");
});

test("requests without the cookie are balanced over both upstreams", async () => {
    const seen = new Map();
    for (let i = 0; i < 30; i += 1) {
        const { cookieEdge } = await handshake();
        seen.set(cookieEdge, (seen.get(cookieEdge) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ["edge-1", "edge-2"], `30 handshakes went to ${JSON.stringify([...seen])}`);
});

test("with the cookie a polling session keeps working through NGINX for 20 requests", async () => {
    const { sid, cookieEdge } = await handshake();
    const cookie = `roomcast_affinity=${cookieEdge}`;
    assert.equal(await ownerOf(sid), cookieEdge);
    const url = `${stack.nginxUrl}${pollingPath(sid)}`;

    let requests = 0;
    const connect = await request(url, { cookie });
    requests += 1;
    assert.equal(connect.status, 200, `poll through nginx: ${connect.status} ${connect.body}`);
    assert.match(connect.body, /^40\{"sid":/, "the namespace CONNECT reply arrives through nginx");
    assert.deepEqual(connect.setCookie, [], "no new cookie while the cookie names the right upstream");
    for (let i = 0; requests < 20; i += 1) {
        const sent = await request(url, { method: "POST", body: `42["message",${i}]`, cookie });
        requests += 1;
        assert.deepEqual([sent.status, sent.body], [200, "ok"], `request ${requests}: POST through nginx`);
        const got = await request(url, { cookie });
        requests += 1;
        assert.deepEqual([got.status, got.body], [200, `42["message-back",${i}]`], `request ${requests}: poll`);
    }
});

test("without the cookie some requests of a session land on the other upstream", async () => {
    const { sid } = await handshake();
    await ownerOf(sid);
    const url = `${stack.nginxUrl}${pollingPath(sid)}`;
    let ok = 0;
    let unknown = 0;
    for (let i = 0; i < 20; i += 1) {
        // POSTs answer at once (a GET could be held for pingInterval by the owner).
        const res = await request(url, { method: "POST", body: `42["message",${i}]` });
        if (res.status === 200) {
            ok += 1;
        } else {
            assert.equal(res.status, 400, `unexpected ${res.status} ${res.body}`);
            assert.match(res.body, /Session ID unknown/);
            unknown += 1;
        }
    }
    assert.ok(ok > 0 && unknown > 0, `20 cookieless requests: ${ok} reached the session, ${unknown} did not`);
});

test("an unknown cookie value is treated as no cookie", async () => {
    const { sid, cookieEdge } = await handshake("roomcast_affinity=no-such-edge");
    assert.ok(cookieEdge, "a request with an unknown cookie value must get a new cookie");
    assert.equal(await ownerOf(sid), cookieEdge);
});

test("socket.io-client through NGINX: polling, upgrade to WebSocket, events both ways", async () => {
    // Several clients, each with its own cookie jar (withCredentials in Node): an upgrade that
    // reached the wrong upstream would fail, so all of them passing means the cookie held.
    const sockets = Array.from({ length: 6 }, () =>
        clients.socket(stack.nginxUrl, { forceNew: true, withCredentials: true, reconnection: false }),
    );
    await Promise.all(
        sockets.map(async ({ socket }, i) => {
            const upgraded = nextEvent(socket.io, "open", { what: "engine open" }).then(() =>
                socket.io.engine.transport.name === "websocket"
                    ? undefined
                    : nextEvent(socket.io.engine, "upgrade", { timeout: 10_000, what: `client ${i}: upgrade` }),
            );
            await waitConnected(socket);
            await upgraded;
            assert.equal(socket.io.engine.transport.name, "websocket", `client ${i} must end on websocket`);
            assert.deepEqual(await emitWithAck(socket, "message-with-ack", ["hi", i]), ["hi", i]);
        }),
    );
});

test("socket.io-client with the WebSocket transport only, through NGINX", async () => {
    const { socket, log } = clients.socket(stack.nginxUrl, { forceNew: true, transports: ["websocket"] });
    await waitConnected(socket);
    socket.emit("message", "over", { ws: true });
    assert.deepEqual(await log.take("message-back"), ["over", { ws: true }]);
});

// --- NATS restart --------------------------------------------------------------------------------

/**
 * One request/reply over a fresh raw NATS connection, as the harness's test-only admin user;
 * resolves the reply payload (string).
 */
function natsRequest(url, subject, payload) {
    const { hostname, port } = new URL(url);
    const { user, pass } = stack.natsCredentials(kNatsAdminUser);
    const inbox = `_INBOX.stacktest.${Math.random().toString(36).slice(2)}`;
    return withTimeout(
        new Promise((resolve, reject) => {
            const socket = net.createConnection({ host: hostname, port: Number(port) });
            let buf = Buffer.alloc(0);
            let expect; // bytes of a MSG payload being read
            socket.on("error", reject);
            socket.on("connect", () => {
                const body = Buffer.from(payload);
                const connect = JSON.stringify({ verbose: false, pedantic: false, user, pass });
                socket.write(`CONNECT ${connect}\r\nSUB ${inbox} 1\r\n`);
                socket.write(`PUB ${subject} ${inbox} ${body.length}\r\n`);
                socket.write(Buffer.concat([body, Buffer.from("\r\n")]));
            });
            socket.on("data", (chunk) => {
                buf = Buffer.concat([buf, chunk]);
                for (;;) {
                    if (expect !== undefined) {
                        if (buf.length < expect + 2) {
                            return;
                        }
                        const reply = buf.subarray(0, expect).toString("utf8");
                        socket.destroy();
                        resolve(reply);
                        return;
                    }
                    const nl = buf.indexOf("\r\n");
                    if (nl < 0) {
                        return;
                    }
                    const line = buf.subarray(0, nl).toString("utf8");
                    buf = buf.subarray(nl + 2);
                    if (line.startsWith("PING")) {
                        socket.write("PONG\r\n");
                    } else if (line.startsWith("-ERR")) {
                        socket.destroy();
                        reject(new Error(`nats: ${line}`));
                        return;
                    } else if (line.startsWith("MSG ")) {
                        expect = Number(line.split(" ").at(-1));
                    }
                }
            });
        }),
        kRequestTimeoutMs,
        `NATS reply to ${subject}`,
    );
}

async function jsApi(subject, body) {
    const reply = JSON.parse(await natsRequest(stack.natsUrl, subject, JSON.stringify(body)));
    assert.equal(reply.error, undefined, `${subject}: ${JSON.stringify(reply.error)}`);
    return reply;
}

test("NATS restarts on the same port with its JetStream data", async () => {
    await jsApi("$JS.API.STREAM.CREATE.STACKTEST", {
        name: "STACKTEST",
        subjects: ["stacktest.>"],
        storage: "file",
    });
    const ack = JSON.parse(await natsRequest(stack.natsUrl, "stacktest.a", "kept across a restart"));
    assert.equal(ack.stream, "STACKTEST");

    const urlBefore = stack.natsUrl;
    const exit = await stack.stopNats();
    assert.equal(exit.killed, undefined, "nats-server must exit on SIGTERM");
    await assert.rejects(natsRequest(urlBefore, "stacktest.b", "x"), "NATS must be down after stopNats()");
    await stack.startNats();
    assert.equal(stack.natsUrl, urlBefore);

    const info = await jsApi("$JS.API.STREAM.INFO.STACKTEST", {});
    assert.equal(info.state.messages, 1, "the stream's message must survive the restart");
    const msg = await jsApi("$JS.API.STREAM.MSG.GET.STACKTEST", { seq: ack.seq });
    assert.equal(Buffer.from(msg.message.data, "base64").toString(), "kept across a restart");
});

/**
 * The server's answer to a CONNECT with `credentials` (and a PING): "PONG" when it accepted it,
 * else its -ERR line. Only once INFO arrived is anything sent, in one write, so that a refusal
 * never races our own writes.
 */
function natsConnectAnswer(url, credentials) {
    const { hostname, port } = new URL(url);
    return withTimeout(
        new Promise((resolve, reject) => {
            const socket = net.createConnection({ host: hostname, port: Number(port) });
            let text = "";
            socket.on("error", reject);
            socket.on("close", () => resolve(`closed after: ${text}`));
            socket.on("data", (chunk) => {
                text += chunk.toString("utf8");
                const lines = text.split("\r\n");
                if (lines.length > 1 && lines[0].startsWith("INFO ") && !socket.sentConnect) {
                    socket.sentConnect = true;
                    socket.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...credentials })}\r\nPING\r\n`);
                }
                const answer = lines.slice(1).find((l) => l.startsWith("PONG") || l.startsWith("-ERR"));
                if (answer) {
                    socket.destroy();
                    resolve(answer);
                }
            });
        }),
        kRequestTimeoutMs,
        "the server's answer to CONNECT",
    );
}

test("NATS refuses connections without a role's credentials", async () => {
    assert.equal(await natsConnectAnswer(stack.natsUrl, {}), "-ERR 'Authorization Violation'");
    const { user, pass } = stack.natsCredentials("backend");
    assert.equal(await natsConnectAnswer(stack.natsUrl, { user, pass: "not-the-password" }), "-ERR 'Authorization Violation'");
    assert.equal(await natsConnectAnswer(stack.natsUrl, { user, pass }), "PONG");
});

test("the log check names the file and line of a secret, never the secret", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "roomcast-logcheck-"));
    try {
        mkdirSync(path.join(dir, "sub"));
        writeFileSync(path.join(dir, "a.log"), "fine\n{\"msg\":\"x\",\"url\":\"nats://edge:***@h\"}\n");
        writeFileSync(path.join(dir, "sub", "b.log"), "one\ntwo s3cr3t-value three\n");
        const found = findSecretsInLogs(dir, { "the password": "s3cr3t-value", unset: "" });
        assert.deepEqual(found, [`${path.join(dir, "sub", "b.log")}:2: the password`]);
        assert.ok(!found.join("").includes("s3cr3t-value"));
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
});

test("an upstream restart keeps its port; NGINX routes to it again", async () => {
    const edge = stack.edges[0];
    const pid = edge.pid;
    await edge.restart();
    assert.notEqual(edge.pid, pid);
    const { sid } = await handshake(`roomcast_affinity=${edge.id}`);
    assert.equal(await ownerOf(sid), edge.id);
});

test("a cookie naming a dead upstream fails over and moves the cookie", async () => {
    const [dead, alive] = stack.edges;
    await dead.kill("SIGKILL");
    try {
        const { sid, cookieEdge } = await handshake(`roomcast_affinity=${dead.id}`);
        assert.equal(cookieEdge, alive.id, "the response must move the cookie to the edge that answered");
        const res = await request(`${alive.url}${pollingPath(sid)}`, { method: "POST", body: "40" });
        assert.equal(res.status, 200, "the live upstream holds the session");
    } finally {
        await dead.restart();
    }
});
