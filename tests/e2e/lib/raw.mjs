// Raw clients for hostile-input and fault tests: bytes on a TCP socket, plain HTTP requests,
// Engine.IO sessions over WebSocket (the `ws` package) and long-polling spoken by hand, so a test
// can send what socket.io-client never would (truncated packets, invalid UTF-8, slow headers,
// forged X-Forwarded-For, a socket that stops reading). Also: the edges' Prometheus metrics, and a
// NATS client that records every subject (the npm `nats` package).
//
// Every wait has a deadline; every socket a test opens is tracked (RawPool) so it is closed
// afterwards whether the test passed or not.

import http from "node:http";
import net from "node:net";
import { connect as natsConnect } from "nats";
import WebSocket from "ws";

export { WebSocket };

/** Tracks raw sockets, WebSockets and HTTP requests so a test can close them all. */
export class RawPool {
    constructor() {
        this.items = new Set();
    }

    add(item) {
        this.items.add(item);
        return item;
    }

    closeAll() {
        for (const item of this.items) {
            try {
                if (item instanceof WebSocket) {
                    item.terminate();
                } else {
                    item.destroy?.();
                }
            } catch {
                // already gone
            }
        }
        this.items.clear();
    }
}

/** Splits a raw HTTP/1.1 response into {status, headers (lower-case names), body}. */
export function parseHttpResponse(raw) {
    const text = Buffer.isBuffer(raw) ? raw.toString("latin1") : raw;
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
        return undefined;
    }
    const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) {
        return undefined;
    }
    const headers = {};
    for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) {
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
    }
    return { status: Number(m[1]), headers, body: text.slice(end + 4) };
}

/**
 * Opens a TCP connection to host:port, writes `chunks` (strings or Buffers, `gapMs` apart), and
 * collects everything the server sends until it closes the connection or `timeout` ms pass.
 * `stopOnData`: stop writing once the server has answered (a server that refuses a body and
 * closes would otherwise reset the connection, and the answer could be lost with it).
 * Resolves with {response (parsed, or undefined), raw, closedByServer, ms (open → close)}.
 */
export function rawExchange({ port, host = "127.0.0.1", localAddress, chunks, gapMs = 0, stopOnData = false, timeout = 10_000, pool }) {
    return new Promise((resolve, reject) => {
        const socket = net.createConnection({ host, port, localAddress });
        pool?.add(socket);
        const received = [];
        const t0 = Date.now();
        let settled = false;
        let writer;
        const finish = (closedByServer) => {
            if (settled) {
                return;
            }
            settled = true;
            clearTimeout(timer);
            clearInterval(writer);
            const raw = Buffer.concat(received);
            socket.destroy();
            resolve({ response: parseHttpResponse(raw), raw: raw.toString("latin1"), closedByServer, ms: Date.now() - t0 });
        };
        const timer = setTimeout(() => finish(false), timeout);
        socket.on("data", (d) => received.push(d));
        socket.on("end", () => finish(true));
        socket.on("close", () => finish(true));
        socket.on("error", (err) => {
            if (err.code === "ECONNRESET" || err.code === "EPIPE") {
                finish(true);
            } else if (!settled) {
                settled = true;
                clearTimeout(timer);
                clearInterval(writer);
                reject(err);
            }
        });
        socket.once("connect", () => {
            const queue = [...chunks];
            if (gapMs <= 0) {
                for (const c of queue) {
                    socket.write(c);
                }
                return;
            }
            socket.write(queue.shift());
            writer = setInterval(() => {
                if (queue.length === 0 || socket.destroyed || (stopOnData && received.length > 0)) {
                    clearInterval(writer);
                    return;
                }
                socket.write(queue.shift());
            }, gapMs);
        });
    });
}

/**
 * One plain HTTP request (no keep-alive, no fetch magic): {status, headers, body}. `localAddress`
 * picks the source address (any 127.0.0.0/8 address works on Linux loopback).
 */
export function httpRequest(url, { method = "GET", headers = {}, body, localAddress, timeout = 10_000 } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, localAddress, agent: false, timeout }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () =>
                resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
            );
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`HTTP ${method} ${url}: no answer within ${timeout} ms`)));
        req.on("error", reject);
        if (body !== undefined) {
            req.end(body);
        } else {
            req.end();
        }
    });
}

/** Engine.IO URL of an edge base URL ("http://127.0.0.1:port"). */
export function eioUrl(base, transport, extra = "") {
    return `${base}/socket.io/?EIO=4&transport=${transport}${extra}`;
}

/**
 * Attempts a WebSocket handshake. Resolves with {status: 101, ws, ...} when accepted, or the HTTP
 * status, headers and body of a refusal. Options: headers, localAddress, origin.
 */
export function wsHandshake(url, { headers = {}, localAddress, origin, timeout = 10_000, pool } = {}) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { headers, localAddress, origin, handshakeTimeout: timeout });
        pool?.add(ws);
        const messages = [];
        ws.on("message", (data, isBinary) => messages.push(isBinary ? Buffer.from(data) : data.toString()));
        const closed = new Promise((res) => ws.once("close", (code, reason) => res({ code, reason: reason.toString() })));
        ws.once("open", () => resolve({ status: 101, ws, messages, closed }));
        ws.once("unexpected-response", (req, res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => {
                resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
                ws.terminate();
            });
        });
        ws.once("error", (err) => {
            if (ws.readyState !== WebSocket.OPEN) {
                reject(err);
            }
        });
    });
}

/**
 * An Engine.IO session over a raw WebSocket, Socket.IO CONNECTed to "/" with `token`: send text
 * or binary frames, wait for frames, observe the close code.
 */
export class RawWsClient {
    static async open(baseUrl, { token, headers, localAddress, pool, connect = true } = {}) {
        const h = await wsHandshake(eioUrl(baseUrl.replace(/^http/, "ws"), "websocket"), { headers, localAddress, pool });
        if (h.status !== 101) {
            throw new Error(`WebSocket handshake refused: ${h.status} ${h.body}`);
        }
        const c = new RawWsClient(h.ws, h.messages, h.closed);
        const open = await c.next((m) => typeof m === "string" && m.startsWith("0"), "Engine.IO open packet");
        c.sid = JSON.parse(open.slice(1)).sid;
        if (connect) {
            c.ws.send(`40${JSON.stringify({ token })}`);
            const reply = await c.next((m) => typeof m === "string" && m.startsWith("40"), "Socket.IO CONNECT reply");
            c.socketId = JSON.parse(reply.slice(2)).sid;
        }
        return c;
    }

    constructor(ws, messages, closed) {
        this.ws = ws;
        this.messages = messages;
        this.closed = closed;
        this.nextAck = 1;
        this.closeInfo = undefined;
        closed.then((info) => {
            this.closeInfo = info;
        });
    }

    /** The first message (in order of arrival, earlier ones included) that matches `pred`. */
    async next(pred, what, timeout = 5_000) {
        const until = Date.now() + timeout;
        let seen = 0;
        for (;;) {
            for (; seen < this.messages.length; seen++) {
                if (pred(this.messages[seen])) {
                    return this.messages.splice(seen, 1)[0];
                }
            }
            if (this.closeInfo) {
                throw new Error(`${what}: the connection closed (${JSON.stringify(this.closeInfo)}) first`);
            }
            if (Date.now() > until) {
                throw new Error(`${what}: nothing within ${timeout} ms (got ${JSON.stringify(this.messages.slice(0, 5))})`);
            }
            await new Promise((r) => setTimeout(r, 10));
        }
    }

    /** Sends a Socket.IO event with an ack id; resolves with the ack's first argument. */
    async request(event, body, timeout = 5_000) {
        const id = this.nextAck++;
        this.ws.send(`42${id}${JSON.stringify([event, body])}`);
        const ack = await this.next((m) => typeof m === "string" && m.startsWith(`43${id}[`), `ack ${id} of "${event}"`, timeout);
        return JSON.parse(ack.slice(2 + String(id).length))[0];
    }

    send(frame, { binary = false } = {}) {
        this.ws.send(frame, { binary });
    }

    /** Waits for the server to close the connection; resolves with {code, reason} or undefined. */
    async waitClosed(timeout = 5_000) {
        let timer;
        const t = new Promise((r) => {
            timer = setTimeout(() => r(undefined), timeout);
        });
        try {
            return await Promise.race([this.closed, t]);
        } finally {
            clearTimeout(timer);
        }
    }
}

/** An Engine.IO long-polling session spoken by hand (each request its own connection). */
export class RawPollingClient {
    static async open(baseUrl, { token, headers = {}, localAddress, connect = true } = {}) {
        const c = new RawPollingClient(baseUrl, headers, localAddress);
        const r = await httpRequest(eioUrl(baseUrl, "polling"), { headers, localAddress });
        if (r.status !== 200 || !r.body.startsWith("0")) {
            throw new Error(`polling handshake: ${r.status} ${r.body}`);
        }
        c.sid = JSON.parse(r.body.slice(1)).sid;
        if (connect) {
            const p = await c.post(`40${JSON.stringify({ token })}`);
            if (p.status !== 200) {
                throw new Error(`polling CONNECT: ${p.status} ${p.body}`);
            }
            const g = await c.get();
            if (!g.body.startsWith("40")) {
                throw new Error(`polling CONNECT reply: ${g.status} ${g.body}`);
            }
        }
        return c;
    }

    constructor(baseUrl, headers, localAddress) {
        this.baseUrl = baseUrl;
        this.headers = headers;
        this.localAddress = localAddress;
    }

    url() {
        return eioUrl(this.baseUrl, "polling", `&sid=${encodeURIComponent(this.sid)}`);
    }

    post(body, timeout = 10_000) {
        return httpRequest(this.url(), {
            method: "POST",
            headers: { "content-type": "text/plain;charset=UTF-8", ...this.headers },
            body,
            localAddress: this.localAddress,
            timeout,
        });
    }

    get(timeout = 10_000) {
        return httpRequest(this.url(), { headers: this.headers, localAddress: this.localAddress, timeout });
    }

    /** Ends the session as a client would: an Engine.IO CLOSE packet. */
    async close() {
        try {
            await this.post("1", 3_000);
        } catch {
            // already gone
        }
    }
}

// --- metrics -----------------------------------------------------------------------------------

/** Fetches a Prometheus text page: Map "name{labels}" → number (labels as printed). */
export async function scrape(adminUrl) {
    const r = await httpRequest(`${adminUrl}/metrics`, { timeout: 5_000 });
    if (r.status !== 200) {
        throw new Error(`${adminUrl}/metrics: HTTP ${r.status}`);
    }
    const out = new Map();
    for (const line of r.body.split("\n")) {
        if (!line || line.startsWith("#")) {
            continue;
        }
        const space = line.lastIndexOf(" ");
        out.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
    return out;
}

/** One sample of a scrape (`series` as printed, e.g. 'x_total{reason="parse error"}'); 0 if absent. */
export function sample(metrics, series) {
    return metrics.get(series) ?? 0;
}

// --- NATS spy ----------------------------------------------------------------------------------

/**
 * Subscribes to ">" and records every subject and payload seen, so a test can prove that
 * something never reached the bus. `options`: nats.js connect options with a user that may
 * subscribe to everything (stack.natsOptions(kNatsAdminUser)). `stop()` drains and closes.
 */
export async function natsSpy(options) {
    const nc = await natsConnect({ ...options, name: "roomcast-e2e-spy" });
    const seen = [];
    const sub = nc.subscribe(">");
    const loop = (async () => {
        for await (const m of sub) {
            seen.push({ subject: m.subject, data: Buffer.from(m.data) });
        }
    })();
    return {
        seen,
        /** Round trip to the server, so every message published before this call has been seen. */
        async flush() {
            await nc.flush();
        },
        async stop() {
            await nc.drain().catch(() => {});
            await loop.catch(() => {});
        },
    };
}

/** Polls `fn` until it returns a truthy value; returns it, or throws after `timeout` ms. */
export async function until(fn, { timeout = 10_000, interval = 50, what = "condition" } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const v = await fn();
        if (v) {
            return v;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, interval));
    }
}
