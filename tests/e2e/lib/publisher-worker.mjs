// A steady publisher in its own worker thread (its own event loop, so a test process busy with
// thousands of clients does not slow the stream down). Started by startPublisher() below:
// connects one socket.io-client to `url` with `token`, joins `rooms`, then publishes
// {p, s} (its id, a sequence per room) round-robin over the rooms every `everyMs` ms until
// stop(), which resolves with what was published:
//   { next: {room: count}, failed: [{room, s, ack}], times: {room: [publish time ms by s]} }

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

if (!isMainThread && workerData?.kind === "roomcast-publisher") {
    const { io } = await import("socket.io-client");
    const { url, token, rooms, everyMs, p, event, ackTimeoutMs } = workerData;
    const socket = io(url, { transports: ["websocket"], forceNew: true, auth: { token }, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    const request = (ev, body) =>
        new Promise((resolve) => {
            const timer = setTimeout(() => resolve({ ok: false, error: { code: "no ack" } }), ackTimeoutMs);
            socket.emit(ev, body, (ack) => {
                clearTimeout(timer);
                resolve(ack);
            });
        });
    await new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", (err) => reject(new Error(`publisher ${p}: ${err.message}`)));
    });
    for (const room of rooms) {
        const ack = await request("join", { room });
        if (ack?.ok !== true) {
            throw new Error(`publisher ${p}: join ${room}: ${JSON.stringify(ack)}`);
        }
    }
    const next = Object.fromEntries(rooms.map((r) => [r, 0]));
    const times = Object.fromEntries(rooms.map((r) => [r, []]));
    const failed = [];
    const pending = [];
    let stopping = false;
    parentPort.on("message", (m) => {
        if (m === "stop") {
            stopping = true;
        }
    });
    parentPort.postMessage({ type: "ready" });
    let k = 0;
    let due = Date.now();
    while (!stopping) {
        const room = rooms[k++ % rooms.length];
        const s = next[room]++;
        times[room].push(Date.now());
        pending.push(
            request("publish", { room, event, data: { p, s } }).then((ack) => {
                if (ack?.ok !== true) {
                    failed.push({ room, s, ack });
                }
            }),
        );
        due += everyMs;
        await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    await Promise.all(pending);
    parentPort.postMessage({ type: "done", next, failed, times });
    socket.disconnect();
}

/**
 * Starts a publisher worker; resolves once it has joined every room and started publishing.
 * Returns { stop(): Promise<{next, failed, times}> }.
 */
export async function startPublisher({ url, token, rooms, everyMs, p, event = "tick", ackTimeoutMs = 20_000 }) {
    const worker = new Worker(new URL(import.meta.url), {
        workerData: { kind: "roomcast-publisher", url, token, rooms, everyMs, p, event, ackTimeoutMs },
    });
    let onDone;
    const done = new Promise((resolve, reject) => {
        onDone = resolve;
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`publisher worker ${p} exited (${code}) before reporting`)));
    });
    done.catch(() => {});
    await new Promise((resolve, reject) => {
        worker.on("message", (m) => {
            if (m.type === "ready") {
                resolve();
            } else if (m.type === "done") {
                onDone(m);
            }
        });
        worker.once("error", reject);
    });
    return {
        async stop() {
            worker.postMessage("stop");
            const result = await done;
            await worker.terminate();
            return result;
        },
        terminate: () => worker.terminate(),
    };
}
