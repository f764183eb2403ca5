// The Engine.IO echo server at /engine.io/ (what the official Engine.IO v4 suite runs against):
// raw HTTP long-polling with fetch, and engine.io-client over websocket.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { Socket as EngineSocket } from "engine.io-client";
import { nextEvent, withTimeout } from "../lib/clients.mjs";
import { startServer } from "../lib/servers.mjs";

let server;
const engines = new Set();

before(async () => {
    server = await startServer();
});
afterEach(() => {
    for (const e of engines) {
        e.close();
    }
    engines.clear();
});
after(async () => {
    await server?.stop();
});

const kRecordSeparator = "\x1e";

async function http(method, url, body) {
    const res = await withTimeout(
        fetch(url, { method, body, headers: body ? { "content-type": "text/plain;charset=UTF-8" } : {} }),
        5_000,
        `${method} ${url}`,
    );
    return { status: res.status, text: await res.text(), headers: res.headers };
}

test("polling: handshake, then text and binary packets are echoed in one payload", async () => {
    const base = `${server.url}/engine.io/?EIO=4&transport=polling`;
    const hs = await http("GET", base);
    assert.equal(hs.status, 200);
    assert.equal(hs.text[0], "0", `handshake must be an open packet: ${hs.text.slice(0, 80)}`);
    const open = JSON.parse(hs.text.slice(1));
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 200);
    assert.equal(open.maxPayload, 1_000_000);
    const url = `${base}&sid=${encodeURIComponent(open.sid)}`;

    const sent = ["4hello", "bAQIDBA==", "4unicode ✓ 日本"];
    const post = await http("POST", url, sent.join(kRecordSeparator));
    assert.equal(post.status, 200);
    assert.equal(post.text, "ok");

    // Collect echoes, answering pings, until all three came back.
    const echoed = [];
    const deadline = Date.now() + 5_000;
    while (echoed.length < sent.length) {
        assert.ok(Date.now() < deadline, `echo incomplete after 5 s: ${JSON.stringify(echoed)}`);
        const poll = await http("GET", url);
        assert.equal(poll.status, 200, `poll failed: ${poll.text}`);
        for (const packet of poll.text.split(kRecordSeparator)) {
            if (packet === "2") {
                assert.equal((await http("POST", url, "3")).text, "ok");
            } else if (packet !== "6") {
                echoed.push(packet);
            }
        }
    }
    assert.deepEqual(echoed, sent);

    // Close: the session is gone afterwards.
    assert.equal((await http("POST", url, "1")).text, "ok");
    const afterClose = await http("GET", url);
    assert.equal(afterClose.status, 400);
});

test("polling: bad handshakes are refused with 400", async () => {
    for (const query of ["transport=polling", "EIO=abc&transport=polling", "EIO=4", "EIO=4&transport=abc"]) {
        const res = await http("GET", `${server.url}/engine.io/?${query}`);
        assert.equal(res.status, 400, `?${query} must be refused`);
    }
    const unknownSid = await http("GET", `${server.url}/engine.io/?EIO=4&transport=polling&sid=nope`);
    assert.equal(unknownSid.status, 400);
});

for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]]) {
    test(`engine.io-client over ${transports.join("+")}: text and binary echo`, async () => {
        const engine = new EngineSocket(server.url, { path: "/engine.io/", transports });
        engines.add(engine);
        await nextEvent(engine, "open", { what: "engine.io open" });
        const received = [];
        engine.on("message", (data) => received.push(data));
        const messages = ["hi", " ", "x".repeat(100_000), Buffer.from([0, 1, 254, 255]), "last"];
        for (const m of messages) {
            engine.send(m);
        }
        const deadline = Date.now() + 5_000;
        while (received.length < messages.length) {
            assert.ok(Date.now() < deadline, `got ${received.length}/${messages.length} echoes in 5 s`);
            await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(received.length, messages.length);
        messages.forEach((m, i) => {
            if (typeof m === "string") {
                assert.equal(received[i], m, `echo ${i}`);
            } else {
                assert.ok(Buffer.isBuffer(received[i]) || received[i] instanceof ArrayBuffer, `echo ${i} is binary`);
                assert.deepEqual(Buffer.from(received[i]), m, `echo ${i}`);
            }
        });
    });
}
