// Client-side helpers: bounded waits, event recording and socket bookkeeping.
//
// Every wait here has a deadline and fails with a message that says what was awaited, so a
// hanging server turns into a readable test failure instead of a runner timeout.

import { io, Manager } from "socket.io-client";

export const kDefaultWaitMs = 5_000;

export class TimeoutError extends Error {}

/** Resolves like `promise`, or rejects with "timed out after N ms waiting for <what>". */
export function withTimeout(promise, ms, what) {
    let timer;
    const deadline = new Promise((_, reject) => {
        timer = setTimeout(
            () => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)),
            ms,
        );
    });
    return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Next `event` on a socket.io-client Socket/Manager or engine; resolves with its args array. */
export function nextEvent(emitter, event, { timeout = kDefaultWaitMs, what } = {}) {
    let listener;
    const p = new Promise((resolve) => {
        listener = (...args) => resolve(args);
        emitter.once(event, listener);
    });
    return withTimeout(p, timeout, what ?? `event "${event}"`).finally(() =>
        emitter.off(event, listener),
    );
}

/** Fails if `event` fires on `emitter` within `ms`. */
/**
 * Retries `fn` (which throws while its condition does not hold) every `interval` ms until it
 * returns, for at most `timeout` ms; then fails with the last error. For state that becomes
 * true eventually (the edges' caches of the room registry and the token keys).
 */
export async function eventually(fn, { timeout = 5_000, interval = 100, what = "condition" } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        try {
            return await fn();
        } catch (err) {
            last = err;
        }
        if (Date.now() > deadline) {
            throw new Error(`${what} did not hold within ${timeout} ms: ${last?.message ?? last}`);
        }
        await sleep(interval);
    }
}

export async function expectNoEvent(emitter, event, ms, what) {
    let fired;
    const listener = (...args) => {
        fired ??= args;
    };
    emitter.on(event, listener);
    await sleep(ms);
    emitter.off(event, listener);
    if (fired) {
        throw new Error(
            `${what ?? `event "${event}"`} fired within ${ms} ms but must not: ${safeJson(fired)}`,
        );
    }
}

/** Emits `event` with `args` and an ack callback; resolves with the ack's args array. */
export function emitWithAck(socket, event, args = [], { timeout = kDefaultWaitMs } = {}) {
    const p = new Promise((resolve) => {
        socket.emit(event, ...args, (...reply) => resolve(reply));
    });
    return withTimeout(p, timeout, `ack of "${event}"`);
}

function safeJson(value) {
    try {
        return JSON.stringify(value, (_, v) =>
            v && v.type === "Buffer" && Array.isArray(v.data) ? `<Buffer ${v.data.length} bytes>` : v,
        );
    } catch {
        return String(value);
    }
}

/**
 * Records every incoming application event of a socket (reserved events such as "connect" are
 * not application events) so a test can await one that may already have arrived: the server
 * emits "auth" in the same breath as the CONNECT reply, before a listener added after
 * "connect" would run.
 */
export class EventLog {
    constructor(socket) {
        this.socket = socket;
        this.events = []; // { event, args, at } in arrival order, ack callbacks stripped
        this.consumed = new Set();
        this.waiters = [];
        socket.onAny((event, ...args) => {
            const plain = typeof args.at(-1) === "function" ? args.slice(0, -1) : args;
            this.events.push({ event, args: plain, at: Date.now() });
            this._wake();
        });
    }

    _wake() {
        for (const w of [...this.waiters]) {
            const idx = this.events.findIndex((e, i) => e.event === w.event && !this.consumed.has(i));
            if (idx >= 0) {
                this.consumed.add(idx);
                this.waiters.splice(this.waiters.indexOf(w), 1);
                w.resolve(this.events[idx].args);
            }
        }
    }

    /** Oldest not-yet-taken `event`, waiting for it if needed; resolves with its args. */
    take(event, { timeout = kDefaultWaitMs, what } = {}) {
        let waiter;
        const p = new Promise((resolve) => {
            waiter = { event, resolve };
            this.waiters.push(waiter);
            this._wake();
        });
        return withTimeout(p, timeout, what ?? `event "${event}" from the server`).finally(() => {
            const i = this.waiters.indexOf(waiter);
            if (i >= 0) {
                this.waiters.splice(i, 1);
            }
        });
    }

    /** All events named `event` received so far (taken or not). */
    all(event) {
        return this.events.filter((e) => e.event === event).map((e) => e.args);
    }

    /** Events not taken yet, for "nothing else arrived" assertions. */
    untaken() {
        return this.events.filter((_, i) => !this.consumed.has(i));
    }
}

/**
 * Owns the sockets and managers a test creates so that they are all closed afterwards, whether
 * the test passed or not: an open socket would keep the test process alive.
 */
export class ClientPool {
    constructor() {
        this.sockets = new Set();
        this.managers = new Set();
    }

    /** io(url, opts) with reconnection delays short enough for tests; returns { socket, log }. */
    socket(url, opts = {}) {
        const socket = io(url, {
            reconnectionDelay: 100,
            reconnectionDelayMax: 200,
            randomizationFactor: 0,
            ...opts,
        });
        this.sockets.add(socket);
        this.managers.add(socket.io);
        return { socket, log: new EventLog(socket) };
    }

    manager(url, opts = {}) {
        const manager = new Manager(url, {
            reconnectionDelay: 100,
            reconnectionDelayMax: 200,
            randomizationFactor: 0,
            ...opts,
        });
        this.managers.add(manager);
        return manager;
    }

    /** manager.socket(nsp, opts) with an EventLog; tracked for closing. */
    managerSocket(manager, nsp, opts = {}) {
        const socket = manager.socket(nsp, opts);
        this.sockets.add(socket);
        return { socket, log: new EventLog(socket) };
    }

    closeAll() {
        for (const s of this.sockets) {
            s.disconnect();
        }
        for (const m of this.managers) {
            m._close?.();
        }
        this.sockets.clear();
        this.managers.clear();
    }
}

/** Waits for "connect" (rejects on "connect_error" or the deadline). */
export async function waitConnected(socket, { timeout = kDefaultWaitMs, what = "connect" } = {}) {
    if (socket.connected) {
        return;
    }
    let onConnect;
    let onError;
    const p = new Promise((resolve, reject) => {
        onConnect = () => resolve();
        onError = (err) =>
            reject(new Error(`${what}: connect_error "${err?.message}" ${safeJson(err?.data ?? null)}`));
        socket.once("connect", onConnect);
        socket.once("connect_error", onError);
    });
    try {
        await withTimeout(p, timeout, what);
    } finally {
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
    }
}

/** Waits for "connect_error" and returns the error (rejects if the socket connects instead). */
export async function waitConnectError(socket, { timeout = kDefaultWaitMs, what = "connect_error" } = {}) {
    let onConnect;
    let onError;
    const p = new Promise((resolve, reject) => {
        onError = (err) => resolve(err);
        onConnect = () => reject(new Error(`${what}: expected connect_error, but the socket connected`));
        socket.once("connect", onConnect);
        socket.once("connect_error", onError);
    });
    try {
        return await withTimeout(p, timeout, what);
    } finally {
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
    }
}

/** Client option sets for each transport mode the suites are run over. */
export const transportModes = [
    { name: "websocket", opts: { transports: ["websocket"] }, engineTransport: "websocket" },
    { name: "polling", opts: { transports: ["polling"] }, engineTransport: "polling" },
];
