// Helpers for the tests of the Roomcast edge (collaboration protocol over a real stack):
// HS256 JWTs signed here with node:crypto (so tests can also forge bad ones), connecting
// authenticated clients, join/publish/history requests with bounded acks, and which edge holds a
// session (Engine.IO session ids are "<edge id>.<random>").

import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { emitWithAck, waitConnected, withTimeout } from "./clients.mjs";
import { startStack } from "./stack.mjs";

/** startStack(options) for the edge tests (kept as a seam for stack options they share). */
export async function startEdgeStack(options) {
    return startStack(options);
}

export const b64url = (input) => Buffer.from(input).toString("base64url");

/**
 * A compact JWS. `header` defaults to {alg:"HS256",typ:"JWT"}; the signature is HMAC-SHA256 over
 * "<header>.<payload>" with `secret` unless `signature` is given ("" for alg none).
 */
export function signJwt(claims, secret, { header = { alg: "HS256", typ: "JWT" }, signature } = {}) {
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = signature ?? createHmac("sha256", secret).update(input).digest("base64url");
    return `${input}.${sig}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A valid token for `sub` (1 h), with extra claims merged in (undefined values dropped). */
export function tokenFor(stack, sub, extra = {}) {
    const claims = { sub, name: `User ${sub}`, iat: nowSeconds(), exp: nowSeconds() + 3600, ...extra };
    for (const [k, v] of Object.entries(claims)) {
        if (v === undefined) {
            delete claims[k];
        }
    }
    return signJwt(claims, stack.jwtSecret);
}

/** A fresh room id, unique per run. */
export function uniqueRoom(prefix = "room") {
    return `${prefix}-${randomBytes(6).toString("hex")}`;
}

/** The edge id that holds a connected client's Engine.IO session. */
export function edgeOf(socket) {
    const sid = socket.io.engine?.id;
    assert.ok(sid, "the socket has no Engine.IO session id");
    const dot = sid.indexOf(".");
    assert.ok(dot > 0, `Engine.IO session id "${sid}" is not "<edge id>.<...>"`);
    return sid.slice(0, dot);
}

/**
 * Opens an authenticated client through `pool` (a ClientPool) and waits for "connect".
 * opts: `user` (default random), `token` (overrides), and any io() option.
 */
export async function connectUser(pool, stack, url, { user, token, timeout = 10_000, ...opts } = {}) {
    const sub = user ?? `u-${randomBytes(4).toString("hex")}`;
    const client = pool.socket(url, {
        forceNew: true,
        auth: { token: token ?? tokenFor(stack, sub) },
        ...opts,
    });
    await waitConnected(client.socket, { timeout, what: `connect of ${sub} to ${url}` });
    return { ...client, user: sub };
}

/** The single ack argument of a request (bounded). */
export async function request(socket, event, body, { timeout = 10_000 } = {}) {
    const reply = await emitWithAck(socket, event, [body], { timeout });
    return reply.length === 1 ? reply[0] : reply;
}

/** join, asserting {ok:true, room, offset}; returns the ack. */
export async function joinRoom(socket, room, what = `join ${room}`) {
    const ack = await request(socket, "join", { room });
    assert.equal(ack?.ok, true, `${what}: ${JSON.stringify(ack)}`);
    assert.equal(ack.room, room, `${what}: ack.room`);
    assert.match(String(ack.offset), /^\d+$/, `${what}: ack.offset must be a decimal string`);
    assert.equal(typeof ack.offset, "string", `${what}: ack.offset must be a string`);
    return ack;
}

/** publish, asserting {ok:true, offset}; returns the offset string. */
export async function publishOk(socket, room, event, data, extra = {}) {
    const ack = await request(socket, "publish", { room, event, data, ...extra });
    assert.equal(ack?.ok, true, `publish ${event} to ${room}: ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.offset, "string", `publish ack offset must be a string: ${JSON.stringify(ack)}`);
    assert.match(ack.offset, /^\d+$/);
    return ack.offset;
}

/** Asserts an error ack with `code`. */
export function assertError(ack, code, what) {
    assert.equal(ack?.ok, false, `${what}: expected {ok:false}, got ${JSON.stringify(ack)}`);
    assert.equal(ack.error?.code, code, `${what}: error code, got ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.error?.message, "string", `${what}: error.message must be a string`);
}

/** Compares two decimal offset strings as unsigned 64-bit integers. */
export const offsetCmp = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/**
 * Records every delivery of room event `event` on `socket`: {data, meta, offset} in arrival
 * order, with a bounded wait for a count.
 */
export class Inbox {
    constructor(socket, event) {
        this.items = [];
        this.waiters = [];
        this.handler = (...args) => {
            this.items.push({ data: args[0], meta: args[1], offset: args[2], args });
            for (const w of [...this.waiters]) {
                if (this.items.length >= w.n) {
                    this.waiters.splice(this.waiters.indexOf(w), 1);
                    w.resolve();
                }
            }
        };
        socket.on(event, this.handler);
        this.event = event;
    }

    /** Waits until at least `n` deliveries arrived. */
    async waitFor(n, { timeout = 10_000, what } = {}) {
        if (this.items.length >= n) {
            return this.items;
        }
        let waiter;
        const p = new Promise((resolve) => {
            waiter = { n, resolve };
            this.waiters.push(waiter);
        });
        try {
            await withTimeout(
                p,
                timeout,
                `${what ?? `"${this.event}" deliveries`}: ${n} expected (have ${this.items.length})`,
            );
        } finally {
            const i = this.waiters.indexOf(waiter);
            if (i >= 0) {
                this.waiters.splice(i, 1);
            }
        }
        return this.items;
    }

    get offsets() {
        return this.items.map((i) => i.offset);
    }

    get datas() {
        return this.items.map((i) => i.data);
    }
}

/**
 * The value of one sample of `name` with exactly `labels` in a process's /metrics (`adminUrl`),
 * 0 when absent. Read straight from the process, for before/after comparisons.
 */
export async function metricValue(adminUrl, name, labels = {}) {
    const text = await (await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const want = Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .sort()
        .join(",");
    for (const line of text.split("\n")) {
        const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
        if (!m || m[1] !== name) {
            continue;
        }
        const got = (m[2] ?? "").split(",").filter(Boolean).sort().join(",");
        if (got === want) {
            return Number(m[3]);
        }
    }
    return 0;
}

/**
 * JetStream stream `name`'s state (bytes, messages, first_seq, last_seq, …) and the server's
 * whole store, as nats-server reports them at /jsz (`natsMonitorUrl`: the stack's).
 */
export async function jetStreamState(natsMonitorUrl, name) {
    const res = await fetch(`${natsMonitorUrl}/jsz?accounts=true&streams=true`, { signal: AbortSignal.timeout(5_000) });
    const jsz = await res.json();
    for (const account of jsz.account_details ?? []) {
        for (const s of account.stream_detail ?? []) {
            if (s.name === name) {
                return { state: s.state, store: jsz.storage };
            }
        }
    }
    assert.fail(`no stream ${name} in /jsz`);
}
