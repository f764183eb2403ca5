// Hostile input against the real edge (docs/protocol.md "Limits", "CORS", "Invalid packets";
// docs/operations.md edge flags). Every case checks two things: the offender gets a clear error
// (an HTTP status, a WebSocket close code, a CONNECT_ERROR, an error ack, or a disconnect with a
// reason), and a well-behaved pair of clients on the same edge — one WebSocket, one
// long-polling — still exchange a room message afterwards (`witness.check`).
//
// What socket.io-client cannot send is sent by hand (lib/raw.mjs): raw TCP, http.request, the
// `ws` package, Engine.IO long-polling by hand. A NATS client subscribed to ">" for the whole file
// proves that room ids with NATS wildcard characters never reach a subject.
//
// Two stacks: one edge with the rate limit (--events-per-second 20 --event-burst 40), CORS and
// the control-plane services; one edge with the connection limits (--max-connections-per-ip 5,
// --trusted-proxies 127.0.0.1, --max-connections 10). Loopback addresses other than 127.0.0.1
// (127.0.0.2, …) stand for other client machines.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { adminClient, statusOf } from "../lib/admin.mjs";
import { ClientPool, nextEvent, sleep, waitConnectError } from "../lib/clients.mjs";
import {
    Inbox,
    assertError,
    connectUser,
    jetStreamState,
    joinRoom,
    nowSeconds,
    publishOk,
    request,
    signJwt,
    startEdgeStack,
    tokenFor,
    uniqueRoom,
} from "../lib/roomcast.mjs";
import {
    RawPollingClient,
    RawPool,
    RawWsClient,
    eioUrl,
    httpRequest,
    natsSpy,
    rawExchange,
    sample,
    scrape,
    until,
    wsHandshake,
} from "../lib/raw.mjs";
import { kNatsAdminUser } from "../lib/stack.mjs";

const kParseError = 'roomcast_edge_disconnects_total{reason="parse error"}';
const kRequestTimeoutMs = 15_000; // fixed HTTP request timeout of the edge (slow-loris bound)

/**
 * Two well-behaved clients of one edge in one room: `a` over WebSocket, `b` over long-polling.
 * check() makes each publish once and asserts the other receives it.
 */
class Witness {
    static async start(pool, stack, edge) {
        const w = new Witness();
        w.stack = stack;
        w.edge = edge;
        w.room = uniqueRoom("witness");
        w.a = await connectUser(pool, stack, edge.url, { transports: ["websocket"], user: "witness-a" });
        w.b = await connectUser(pool, stack, edge.url, { transports: ["polling"], user: "witness-b" });
        await joinRoom(w.a.socket, w.room);
        await joinRoom(w.b.socket, w.room);
        w.aIn = new Inbox(w.a.socket, "witness");
        w.bIn = new Inbox(w.b.socket, "witness");
        w.seq = 0;
        w.checks = 0;
        return w;
    }

    async check(what) {
        assert.equal(this.edge.running, true, `${what}: the edge must still run`);
        assert.equal(this.a.socket.connected, true, `${what}: the WebSocket witness must still be connected`);
        assert.equal(this.b.socket.connected, true, `${what}: the polling witness must still be connected`);
        const seq = ++this.seq;
        await publishOk(this.a.socket, this.room, "witness", { seq, from: "a" });
        await publishOk(this.b.socket, this.room, "witness", { seq, from: "b" });
        const got = (inbox) => inbox.items.some((i) => i.data?.seq === seq);
        await until(() => got(this.bIn) && got(this.aIn), {
            timeout: 5_000,
            what: `${what}: the witnesses exchanging message ${seq}`,
        });
        this.checks += 1;
    }
}

/** Nested arrays `depth` deep around 1. */
const nested = (depth) => "[".repeat(depth) + "1" + "]".repeat(depth);

// ---------------------------------------------------------------------------------------------

describe("edge with rate limit, CORS and the control plane", () => {
    let stack;
    let witness;
    let spy;
    let token;
    const clients = new ClientPool();
    const raw = new RawPool();

    before(async () => {
        stack = await startEdgeStack({
            edges: ["edge-1"],
            nginx: false,
            services: ["rooms", "presence", "auth"],
            edgeArgs: ["--events-per-second", "20", "--event-burst", "40",
                "--cors-origins", "https://app.example", "--cors-credentials"],
        });
        spy = await natsSpy(stack.natsOptions(kNatsAdminUser));
        witness = await Witness.start(clients, stack, stack.edges[0]);
        token = tokenFor(stack, "offender");
        await witness.check("at start");
    });
    afterEach(() => raw.closeAll());
    after(async () => {
        raw.closeAll();
        clients.closeAll();
        await spy?.stop();
        await stack?.stop();
    });

    const base = () => stack.edges[0].url;
    const parseErrors = async () => sample(await scrape(stack.edges[0].adminUrl), kParseError);

    test("malformed and truncated Engine.IO / Socket.IO packets over WebSocket: that session is closed with a close code", async () => {
        const cases = [
            ["unknown Engine.IO type", ["9"]],
            ["empty frame", [""]],
            ["Engine.IO message without a Socket.IO packet", ["4"]],
            ["unknown Socket.IO type", ["49"]],
            ["truncated JSON", ['42["join",{"room":']],
            ["truncated array", ['42["join",{"room":"x"}']],
            ["payload not an array", ['42{"room":"x"}']],
            ["event without a name", ["42[]"]],
            ["event name null", ["42[null]"]],
            ["event name an object", ["42[{}]"]],
            ["reserved event name", ['42["connect"]']],
            ["ack id of 40 digits", [`42${"9".repeat(40)}["join",{}]`]],
            ["event for a namespace not connected", ['42/nope,["x"]']],
            ["binary header without the dash", ['451["x"]']],
            ["text frame where an attachment is expected", ['451-["x",{"_placeholder":true,"num":0}]', '42["y"]']],
            ["binary frame with no binary packet pending", [{ binary: Buffer.from([1, 2, 3]) }]],
        ];
        const before = await parseErrors();
        const results = [];
        for (const [what, frames] of cases) {
            const c = await RawWsClient.open(base(), { token, pool: raw });
            for (const f of frames) {
                if (typeof f === "string") {
                    c.send(f);
                } else {
                    c.send(f.binary, { binary: true });
                }
            }
            const closed = await c.waitClosed(5_000);
            assert.ok(closed, `${what}: the edge must close the WebSocket (frames ${JSON.stringify(frames)})`);
            assert.ok(
                [1000, 1002, 1003, 1008].includes(closed.code),
                `${what}: a close frame with a code, got ${JSON.stringify(closed)}`,
            );
            results.push(`${what}: ${closed.code}`);
            await witness.check(`after "${what}" (WebSocket)`);
        }
        console.log(`# hostile: malformed WebSocket packets → close codes: ${results.join("; ")}`);
        const counted = (await parseErrors()) - before;
        assert.ok(counted >= cases.length - 1, `disconnects with reason "parse error" must be counted (${counted} of ${cases.length})`);
    });

    test("malformed and truncated packets over long-polling: 400, or the session closed (the waiting GET gets the CLOSE packet)", async () => {
        const cases = [
            ["unknown Engine.IO type", "9"],
            ["empty body", ""],
            ["empty record between separators", '42["x"]\x1e\x1e42["y"]'],
            ["trailing separator", '42["x"]\x1e'],
            ["bad base64 binary packet", "b!!!!"],
            ["binary packet with no binary event pending", "bAQID"],
            ["truncated Socket.IO JSON", '42["join",{"room":'],
            ["payload not an array", '42{"a":1}'],
            ["4,097 packets in one body (cap 4,096)", Array.from({ length: 4097 }, () => "3").join("\x1e")],
        ];
        const results = [];
        for (const [what, body] of cases) {
            const c = await RawPollingClient.open(base(), { token });
            const pending = c.get(8_000);
            await sleep(100); // the GET is waiting on the edge
            const post = await c.post(body);
            const got = await pending;
            const closedOk = got.status === 200 && got.body === "1";
            assert.ok(
                post.status === 400 || closedOk,
                `${what}: POST ${post.status} ${post.body}, waiting GET ${got.status} ${JSON.stringify(got.body)}`,
            );
            if (post.status === 400) {
                assert.match(post.body, /"code":\d/, `${what}: Engine.IO error body`);
            }
            const after = await c.get(3_000);
            assert.equal(after.status, 400, `${what}: the session must be gone (${after.body})`);
            assert.match(after.body, /Session ID unknown/);
            results.push(`${what}: POST ${post.status}, GET ${JSON.stringify(got.body)}`);
            await witness.check(`after "${what}" (polling)`);
        }
        console.log(`# hostile: malformed polling bodies → ${results.join("; ")}`);
    });

    test("invalid UTF-8: a WebSocket text frame is closed with 1007; a polling body ends its session", async () => {
        const c = await RawWsClient.open(base(), { token, pool: raw });
        c.send(Buffer.from([0x34, 0x32, 0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]), { binary: false }); // 42["\xff\xfe"]
        const closed = await c.waitClosed(5_000);
        assert.equal(closed?.code, 1007, `invalid UTF-8 in a text frame: ${JSON.stringify(closed)}`);
        await witness.check("after invalid UTF-8 over WebSocket");

        for (const [what, body] of [
            ["in a JSON string", Buffer.from([0x34, 0x32, 0x5b, 0x22, 0xff, 0x22, 0x5d])],
            ["right after the Engine.IO type", Buffer.from([0x34, 0xc3, 0x28])],
        ]) {
            const p = await RawPollingClient.open(base(), { token });
            const pending = p.get(8_000);
            await sleep(100);
            const post = await p.post(body);
            const got = await pending;
            assert.ok(
                post.status === 400 || (got.status === 200 && got.body === "1"),
                `invalid UTF-8 ${what} in a polling body: POST ${post.status} ${post.body}, GET ${got.status} ${JSON.stringify(got.body)}`,
            );
            const gone = await p.get(3_000);
            assert.equal(gone.status, 400, `invalid UTF-8 ${what}: the session must be closed`);
            await witness.check(`after invalid UTF-8 ${what} over polling`);
        }
    });

    test("JSON nested 100 deep closes the connection (cap 64); 60 deep is accepted", async () => {
        const before = await parseErrors();
        const c = await RawWsClient.open(base(), { token, pool: raw });
        const room = uniqueRoom("deep");
        assert.equal((await c.request("join", { room })).ok, true);
        const ok = await c.request("publish", { room, event: "deep", data: JSON.parse(nested(60)) });
        assert.equal(ok.ok, true, `60 deep: ${JSON.stringify(ok)}`);
        c.send(`42["publish",{"room":"${room}","event":"deep","data":${nested(100)}}]`);
        const closed = await c.waitClosed(5_000);
        assert.ok(closed && closed.code >= 1000 && closed.code < 1005, `100 deep over WebSocket: ${JSON.stringify(closed)}`);
        await witness.check("after JSON 100 deep over WebSocket");

        const p = await RawPollingClient.open(base(), { token });
        const pending = p.get(8_000);
        await sleep(100);
        const post = await p.post(`42["publish",{"room":"${room}","event":"deep","data":${nested(100)}}]`);
        const got = await pending;
        assert.ok(post.status === 400 || got.body === "1", `100 deep over polling: POST ${post.status}, GET ${JSON.stringify(got.body)}`);
        assert.equal((await p.get(3_000)).status, 400, "100 deep over polling: the session must be closed");
        assert.ok((await parseErrors()) - before >= 2, "both counted as parse errors");
        await witness.check("after JSON 100 deep over polling");
    });

    test("oversized input on the edge: polling body over maxPayload → 413 and the connection closed; WebSocket message → 1009", async () => {
        const p = await RawPollingClient.open(base(), { token });
        const body = `42["publish",{"room":"x","event":"big","data":"${"a".repeat(1_000_000)}"}]`;
        const post = `POST /socket.io/?EIO=4&transport=polling&sid=${p.sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n`;
        const pieces = (text, size) => Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
        for (const [what, chunks] of [
            // Refused as soon as the header announces too much.
            ["Content-Length over the limit", [`${post}Content-Length: ${body.length}\r\n\r\n`, ...pieces(body, 65_536)]],
            // Refused once the chunked body passes the limit.
            ["chunked body over the limit", [`${post}Transfer-Encoding: chunked\r\n\r\n`,
                ...pieces(body, 65_536).map((c) => `${c.length.toString(16)}\r\n${c}\r\n`), "0\r\n\r\n"]],
        ]) {
            const r = await rawExchange({ port: stack.edges[0].port, chunks, gapMs: 5, stopOnData: true, timeout: 5_000, pool: raw });
            assert.equal(r.response?.status, 413, `polling POST, ${what}: ${r.raw.slice(0, 200)}`);
            assert.equal(r.response.headers.connection, "close", what);
            assert.equal(r.closedByServer, true, `${what}: the edge closes the connection after 413`);
        }
        await p.close();
        await witness.check("after an oversized polling body");

        const c = await RawWsClient.open(base(), { token, pool: raw });
        c.send(`42["publish",{"room":"x","event":"big","data":"${"a".repeat(1_000_000)}"}]`);
        const closed = await c.waitClosed(5_000);
        assert.equal(closed?.code, 1009, `WebSocket message over maxPayload: ${JSON.stringify(closed)}`);
        await witness.check("after an oversized WebSocket message");
    });

    test("binary attachments: 11 (over --max-attachments 10) or a placeholder num out of range close the session; 10 are accepted", async () => {
        const room = uniqueRoom("att");
        const good = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "att-ok" });
        await joinRoom(good.socket, room);
        const ten = Array.from({ length: 10 }, (_, i) => Buffer.from([i]));
        const ack = await request(good.socket, "publish", { room, event: "bin", data: ten });
        assert.equal(ack.ok, true, `10 attachments: ${JSON.stringify(ack)}`);

        const cases = [
            ["11 attachments", [`4511-["publish",{"room":"${room}","event":"bin","data":1}]`]],
            ["1000 attachments", [`451000-["publish",{"room":"${room}","event":"bin","data":1}]`]],
            ["placeholder num 1 of 1 attachment", [`451-["publish",{"room":"${room}","event":"bin","data":{"_placeholder":true,"num":1}}]`, Buffer.from([1])]],
            ["placeholder num -1", [`451-["publish",{"room":"${room}","event":"bin","data":{"_placeholder":true,"num":-1}}]`, Buffer.from([1])]],
            ["placeholder num a string", [`451-["publish",{"room":"${room}","event":"bin","data":{"_placeholder":true,"num":"0"}}]`, Buffer.from([1])]],
        ];
        for (const [what, frames] of cases) {
            const c = await RawWsClient.open(base(), { token, pool: raw });
            for (const f of frames) {
                c.send(f, { binary: Buffer.isBuffer(f) });
            }
            const closed = await c.waitClosed(5_000);
            assert.ok(closed && [1000, 1002, 1003, 1008].includes(closed.code), `${what}: ${JSON.stringify(closed)}`);
            await witness.check(`after "${what}"`);
        }
        // The same over long-polling: the body carries the header and the attachment as "b" + base64.
        const p = await RawPollingClient.open(base(), { token });
        const pending = p.get(8_000);
        await sleep(100);
        const post = await p.post(`4511-["publish",{"room":"${room}","event":"bin","data":1}]\x1ebAQ==`);
        const got = await pending;
        assert.ok(post.status === 400 || got.body === "1", `11 attachments over polling: POST ${post.status}, GET ${JSON.stringify(got.body)}`);
        assert.equal((await p.get(3_000)).status, 400);
        await witness.check("after 11 attachments over polling");
    });

    test("slow-loris: a request header sent a byte a second, and a WebSocket handshake sent the same way, are closed after the 15 s request timeout", async () => {
        const port = stack.edges[0].port;
        const drip = (head) => [head, ..."X-Slow: abcdefghijklmnopqrstuvwxyz0123456789\r\n\r\n"];
        const polling = rawExchange({
            port,
            chunks: drip("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
            gapMs: 1_000,
            timeout: 22_000,
            pool: raw,
        });
        const upgrade = rawExchange({
            port,
            chunks: drip(
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            ),
            gapMs: 1_000,
            timeout: 22_000,
            pool: raw,
        });
        // Meanwhile the edge serves everyone else.
        let checks = 0;
        let done = false;
        const both = Promise.all([polling, upgrade]).finally(() => {
            done = true;
        });
        while (!done) {
            await witness.check(`during the slow-loris requests (${checks})`);
            checks += 1;
            await Promise.race([both, sleep(2_000)]);
        }
        const [p, u] = await both;
        console.log(`# hostile: slow-loris closed after ${p.ms} ms (polling request), ${u.ms} ms (WebSocket handshake)`);
        for (const [what, r] of [["slow polling request", p], ["slow WebSocket handshake", u]]) {
            assert.equal(r.closedByServer, true, `${what}: the edge must close the connection within 22 s (sent for ${r.ms} ms)`);
            assert.ok(r.ms >= kRequestTimeoutMs - 1_000, `${what}: closed after ${r.ms} ms, before the request timeout`);
            assert.ok(r.ms <= kRequestTimeoutMs + 5_000, `${what}: closed after ${r.ms} ms`);
            assert.ok(!r.response || r.response.status >= 400, `${what}: no successful answer (${r.raw.slice(0, 80)})`);
        }
        assert.ok(checks >= 3, "the witnesses were checked while the slow requests were open");
        await witness.check("after the slow-loris requests");
    });

    test("a request header of 15 KB (under the 16 KiB cap) is served", async () => {
        const ok = await httpRequest(eioUrl(base(), "polling"), { headers: { "x-big": "b".repeat(15_000) } });
        assert.equal(ok.status, 200, `a 15 KB header: ${ok.status} ${ok.body}`);
        const sid = JSON.parse(ok.body.slice(1)).sid;
        await httpRequest(eioUrl(base(), "polling", `&sid=${sid}`), { method: "POST", body: "1" });
        await witness.check("after a 15 KB header");
    });

    test("a request header over 16 KiB gets 431 and the connection is closed (on polling and on a WebSocket upgrade)", async () => {
        const port = stack.edges[0].port;
        const big = "a".repeat(17 * 1024);
        const failures = [];
        for (const [what, head] of [
            ["polling handshake", "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
            ["WebSocket upgrade", "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"],
        ]) {
            const r = await rawExchange({ port, chunks: [`${head}X-Big: ${big}\r\n\r\n`], timeout: 5_000, pool: raw });
            // Refused and closed in any case (checked first: that part holds today).
            assert.ok(r.response?.status >= 400 && r.response.status < 500, `${what}: refused (${r.raw.slice(0, 120)})`);
            assert.equal(r.closedByServer, true, `${what}: connection closed after the refusal`);
            await witness.check(`after a 17 KiB header (${what})`);
            if (r.response.status !== 431) {
                failures.push(`${what}: ${r.response.status} ${JSON.stringify(r.response.body)}`);
            }
        }
        assert.deepEqual(failures, [], "a header over 16 KiB must get 431 Request Header Fields Too Large");
    });

    test("event flood from one socket (--events-per-second 20 --event-burst 40): rate_limited acks, then io server disconnect; a neighbour publishing at 10/s is untouched", async () => {
        const room = uniqueRoom("flood");
        const flooder = await connectUser(clients, stack, base(), { transports: ["websocket"], reconnection: false, user: "flooder" });
        const neighbour = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "neighbour" });
        await joinRoom(flooder.socket, room);
        await joinRoom(neighbour.socket, room);
        await sleep(2_100); // both buckets full again after the joins

        const neighbourAcks = [];
        let flooding = true;
        const neighbourLoop = (async () => {
            for (let i = 0; flooding || i < 10; i++) {
                neighbourAcks.push(request(neighbour.socket, "publish", { room, event: "calm", data: i }));
                await sleep(100);
            }
        })();

        const kSent = 300;
        const acks = new Array(kSent).fill(undefined);
        const disconnected = nextEvent(flooder.socket, "disconnect", { timeout: 5_000, what: "the flooder's disconnect" });
        const floodStart = Date.now();
        for (let i = 0; i < kSent; i++) {
            flooder.socket.emit("publish", { room, event: "flood", data: i }, (ack) => {
                acks[i] = ack?.ok === true ? "ok" : ack?.error?.code ?? JSON.stringify(ack);
            });
        }
        const [reason] = await disconnected;
        // The bucket refills at 20/s while the edge works through the flood, and every event it
        // lets through restarts the count of refusals: on a loaded machine the flood takes longer
        // and earns a few more refusals before the disconnect.
        const refills = Math.ceil(((Date.now() - floodStart) / 1000) * 20) + 1;
        await sleep(300);
        flooding = false;
        await neighbourLoop;
        const neighbourResults = await Promise.all(neighbourAcks);

        const limited = acks.map((a, i) => (a === "rate_limited" ? i : -1)).filter((i) => i >= 0);
        const summary = acks.reduce((m, a) => ({ ...m, [a ?? "no ack"]: (m[a ?? "no ack"] ?? 0) + 1 }), {});
        console.log(`# hostile: flood of ${kSent} publishes → ${JSON.stringify(summary)}, first rate_limited at #${limited[0]}, disconnect "${reason}"`);
        assert.equal(reason, "io server disconnect", "the flooder is disconnected by the server");
        assert.ok(limited.length >= 1, "some events are answered rate_limited before the disconnect");
        assert.ok(limited.length <= 40 + refills,
            `at most a burst of refusals (plus what refilled meanwhile: ${refills}) before the disconnect (${limited.length})`);
        assert.ok(limited[0] >= 35, `the first ~40 events (the burst) pass: first refusal at #${limited[0]}`);
        const badAcks = acks.filter((a) => a !== undefined && a !== "ok" && a !== "rate_limited");
        assert.deepEqual(badAcks, [], "acks are ok or rate_limited");
        await sleep(1_000);
        assert.equal(flooder.socket.connected, false, "io server disconnect: the client does not reconnect");

        const notOk = neighbourResults.filter((a) => a?.ok !== true);
        assert.deepEqual(notOk, [], `the neighbour's ${neighbourResults.length} publishes at 10/s are all ok`);
        await witness.check("after the flood");
    });

    test("a text publish whose data looks like a binary placeholder is either refused or delivered, never acked and dropped", async () => {
        const c = await RawWsClient.open(base(), { token, pool: raw });
        assert.equal((await c.request("join", { room: witness.room })).ok, true);
        const fake = { _placeholder: true, num: 0 };
        const ack = await c.request("publish", { room: witness.room, event: "witness", data: { seq: -1, fake } });
        await witness.check("after a publish with a fake placeholder");
        if (ack.ok === false) {
            assertError(ack, "bad_request", "publish with a placeholder-shaped object and no attachment");
            return;
        }
        assert.equal(ack.ok, true, JSON.stringify(ack));
        await until(() => witness.aIn.items.some((i) => i.data?.seq === -1), {
            timeout: 2_000,
            what: `delivery of the acked publish (offset ${ack.offset}) with a placeholder-shaped object`,
        });
    });

    test("CORS (--cors-origins https://app.example --cors-credentials): a foreign Origin gets 403 on polling and on the upgrade; the listed one is echoed with credentials", async () => {
        const evil = { origin: "https://evil.example" };
        const r1 = await httpRequest(eioUrl(base(), "polling"), { headers: evil });
        assert.equal(r1.status, 403, `polling handshake from a foreign origin: ${r1.status} ${r1.body}`);
        assert.deepEqual(JSON.parse(r1.body), { code: 4, message: "Forbidden" });
        assert.equal(r1.headers["access-control-allow-origin"], undefined);

        const w1 = await wsHandshake(eioUrl(base().replace(/^http/, "ws"), "websocket"), { origin: "https://evil.example", pool: raw });
        assert.equal(w1.status, 403, `WebSocket upgrade from a foreign origin (cross-site WebSocket hijacking): ${w1.status}`);

        const pre = await httpRequest(eioUrl(base(), "polling"), {
            method: "OPTIONS",
            headers: { ...evil, "access-control-request-method": "POST" },
        });
        assert.equal(pre.status, 403, "preflight from a foreign origin");

        // A foreign page cannot ride on an existing session either.
        const p = await RawPollingClient.open(base(), { token });
        const hijack = await httpRequest(p.url(), { method: "POST", headers: evil, body: '42["join",{"room":"x"}]' });
        assert.equal(hijack.status, 403, "POST to an existing session from a foreign origin");
        await p.close();
        await witness.check("after foreign-origin requests");

        const app = { origin: "https://app.example" };
        const r2 = await httpRequest(eioUrl(base(), "polling"), { headers: app });
        assert.equal(r2.status, 200);
        assert.equal(r2.headers["access-control-allow-origin"], "https://app.example");
        assert.equal(r2.headers["access-control-allow-credentials"], "true");
        const sid = JSON.parse(r2.body.slice(1)).sid;
        await httpRequest(eioUrl(base(), "polling", `&sid=${sid}`), { method: "POST", headers: app, body: "1" });
        const pre2 = await httpRequest(eioUrl(base(), "polling"), {
            method: "OPTIONS",
            headers: { ...app, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
        });
        assert.equal(pre2.status, 204);
        assert.equal(pre2.headers["access-control-allow-origin"], "https://app.example");
        assert.equal(pre2.headers["access-control-allow-credentials"], "true");
        const w2 = await wsHandshake(eioUrl(base().replace(/^http/, "ws"), "websocket"), { origin: "https://app.example", pool: raw });
        assert.equal(w2.status, 101, "WebSocket upgrade from the listed origin");
        w2.ws.close();
        await witness.check("after listed-origin requests");
    });

    test("tokens (smoke; jwt.test.mjs has the rest): alg none and an expired token get connect_error unauthorized", async () => {
        const claims = { sub: "mallory", iat: nowSeconds(), exp: nowSeconds() + 600 };
        for (const [what, tok, code] of [
            ["alg none", signJwt(claims, stack.jwtSecret, { header: { alg: "none", typ: "JWT" }, signature: "" }), "token_invalid"],
            ["expired an hour ago", signJwt({ ...claims, iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }, stack.jwtSecret), "token_expired"],
        ]) {
            const { socket } = clients.socket(base(), { forceNew: true, reconnection: false, transports: ["websocket"], auth: { token: tok } });
            const err = await waitConnectError(socket, { what: `${what}: connect_error`, timeout: 10_000 });
            assert.equal(err.message, "unauthorized", what);
            assert.equal(err.data?.code, code, `${what}: ${JSON.stringify(err.data)}`);
            socket.disconnect();
            await witness.check(`after a token with ${what}`);
        }
    });

    test("admin gRPC without a token or with a wrong one is UNAUTHENTICATED (one call per service)", async () => {
        const calls = [
            ["rooms", "GetRoom", { room_id: witness.room }],
            ["presence", "GetPresenceStats", { room_id: witness.room }],
            ["auth", "IssueToken", { user_id: "mallory", name: "Mallory", ttl_seconds: 3600 }],
        ];
        for (const [service, method, body] of calls) {
            for (const tok of [null, "wrong-token", `${stack.adminToken}x`]) {
                const client = adminClient(service, stack.services[service].grpcAddress, tok);
                try {
                    assert.equal(await statusOf(client.call(method, body)), "UNAUTHENTICATED", `${service}.${method} with token ${tok}`);
                } finally {
                    client.close();
                }
            }
        }
        await witness.check("after unauthenticated admin calls");
    });

    test("room ids with NATS wildcard characters, dots, spaces or 129 chars: bad_request for join/publish/history/presence, and never on a NATS subject", async () => {
        const bad = ["evil*x", "evil>x", "evil.x", "evil x", "evil\tx", "evil\u00e9x", ">", "*", "evil.>", "evil.*.x", `evil${"x".repeat(125)}`, ""];
        // One socket per id: 5 requests each stay inside the rate limit's burst.
        let c;
        for (const room of bad) {
            c?.socket.disconnect();
            c = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "wildcards" });
            for (const [event, body] of [
                ["join", { room }],
                ["publish", { room, event: "e", data: { x: 1 } }],
                ["history", { room, limit: 10 }],
                ["presence", { room }],
                ["leave", { room }],
            ]) {
                const ack = await request(c.socket, event, body);
                if (event === "leave" && ack?.ok === true) {
                    continue; // leave of a room one is not in is ok (docs); it must still not reach the bus
                }
                assertError(ack, "bad_request", `${event} ${JSON.stringify(room)}`);
            }
        }
        // The admin API takes room ids too.
        const rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
        try {
            for (const room of ["evil.admin", "evil*admin", "evil>admin", "evil admin"]) {
                for (const [method, body] of [
                    ["CreateRoom", { room_id: room }],
                    ["Publish", { room_id: room, event: "e", data_json: "1" }],
                    ["History", { room_id: room, limit: 10 }],
                ]) {
                    assert.equal(await statusOf(rooms.call(method, body)), "INVALID_ARGUMENT", `admin ${method} ${JSON.stringify(room)}`);
                }
            }
        } finally {
            rooms.close();
        }
        // A valid publish does reach the spy (the spy works).
        const valid = uniqueRoom("valid");
        await joinRoom(c.socket, valid);
        await publishOk(c.socket, valid, "e", { x: 1 });
        await witness.check("after hostile room ids");
        await sleep(200);
        await spy.flush();
        assert.ok(spy.seen.some((m) => m.subject === `roomcast.room.${valid}`), "the spy sees room subjects");
        const needles = [...bad.filter((r) => r.length > 1), "evil.admin", "evil*admin", "evil>admin", "evil admin"];
        const encoded = needles.map((r) => Buffer.from(r).toString("base64url"));
        const leaks = spy.seen.filter(
            (m) =>
                /evil/.test(m.subject) ||
                /[\s]/.test(m.subject) ||
                encoded.some((e) => m.subject.includes(e)) ||
                needles.some((n) => m.data.includes(Buffer.from(n))),
        );
        console.log(`# hostile: NATS spy saw ${spy.seen.length} messages on ${new Set(spy.seen.map((m) => m.subject)).size} subjects; none carries a hostile room id`);
        assert.deepEqual(leaks.map((m) => m.subject), [], "no hostile room id on a subject or in a message");
    });
});

// ---------------------------------------------------------------------------------------------

describe("edge with connection limits (--max-connections-per-ip 5 --trusted-proxies 127.0.0.1 --max-connections 10)", () => {
    let stack;
    let witness;
    const clients = new ClientPool();
    const open = []; // RawPollingClient sessions to close

    before(async () => {
        stack = await startEdgeStack({
            edges: ["edge-1"],
            nginx: false,
            edgeArgs: ["--max-connections-per-ip", "5", "--trusted-proxies", "127.0.0.1", "--max-connections", "10"],
        });
        // Two sessions from 127.0.0.1 (no X-Forwarded-For: the peer address counts).
        witness = await Witness.start(clients, stack, stack.edges[0]);
        await witness.check("at start");
    });
    after(async () => {
        await Promise.all(open.map((c) => c.close()));
        clients.closeAll();
        await stack?.stop();
    });

    const base = () => stack.edges[0].url;
    const handshake = (opts) => httpRequest(eioUrl(base(), "polling"), opts);
    async function session(opts) {
        const c = await RawPollingClient.open(base(), { ...opts, connect: false });
        open.push(c);
        return c;
    }
    async function closeAll() {
        await Promise.all(open.splice(0).map((c) => c.close()));
    }
    const wsTry = (opts) => wsHandshake(eioUrl(base().replace(/^http/, "ws"), "websocket"), opts);

    test("per address: the 6th handshake from one address gets 429 (polling and WebSocket); X-Forwarded-For from an untrusted peer is ignored; a closed session frees its slot", async () => {
        const other = { localAddress: "127.0.0.2" };
        for (let i = 0; i < 5; i++) {
            await session(other);
        }
        const sixth = await handshake(other);
        assert.equal(sixth.status, 429, `6th handshake from 127.0.0.2: ${sixth.status} ${sixth.body}`);
        assert.equal(sixth.headers["retry-after"], "1");
        assert.match(sixth.body, /Too many connections/);
        const ws = await wsTry(other);
        assert.equal(ws.status, 429, "6th as a WebSocket handshake");
        const spoofed = await handshake({ ...other, headers: { "x-forwarded-for": "198.51.100.9" } });
        assert.equal(spoofed.status, 429, "X-Forwarded-For from a peer that is not a trusted proxy does not count");
        await witness.check("after 429s for 127.0.0.2");

        await open.pop().close();
        const again = await until(async () => {
            const r = await handshake(other);
            return r.status === 200 ? r : undefined;
        }, { timeout: 3_000, what: "a handshake after a session closed" });
        const sid = JSON.parse(again.body.slice(1)).sid;
        await httpRequest(eioUrl(base(), "polling", `&sid=${sid}`), { method: "POST", body: "1" });
        await closeAll();
        await witness.check("after 127.0.0.2's sessions closed");
    });

    test("behind a trusted proxy the limit applies to the forwarded address (the last X-Forwarded-For entry)", async () => {
        const via = (addr) => ({ headers: { "x-forwarded-for": addr } });
        for (let i = 0; i < 5; i++) {
            await session(via("203.0.113.7"));
        }
        const sixth = await handshake(via("203.0.113.7"));
        assert.equal(sixth.status, 429, `6th for forwarded 203.0.113.7: ${sixth.status} ${sixth.body}`);
        const prefixed = await handshake(via("10.1.2.3, 203.0.113.7"));
        assert.equal(prefixed.status, 429, "a client-supplied first entry does not change the address (the proxy's last one counts)");
        const ws = await wsTry(via("203.0.113.7"));
        assert.equal(ws.status, 429, "WebSocket handshake for forwarded 203.0.113.7");
        const another = await session(via("203.0.113.8"));
        assert.ok(another.sid, "another forwarded address is not limited");
        await witness.check("after 429s for a forwarded address");
    });

    test("--max-connections 10: the 11th session gets 503 (polling and WebSocket); existing ones keep working", async () => {
        // Open now: 2 witnesses + 5 (203.0.113.7) + 1 (203.0.113.8) = 8.
        await session({ headers: { "x-forwarded-for": "203.0.113.9" } });
        await session({ headers: { "x-forwarded-for": "203.0.113.10" } });
        const full = await handshake({ headers: { "x-forwarded-for": "203.0.113.11" } });
        assert.equal(full.status, 503, `11th session: ${full.status} ${full.body}`);
        assert.match(full.body, /Server full/);
        const ws = await wsTry({ headers: { "x-forwarded-for": "203.0.113.12" } });
        assert.equal(ws.status, 503, "11th as a WebSocket handshake");
        await witness.check("while the edge is full");
        await closeAll();
        const r = await until(async () => {
            const h = await handshake({ headers: { "x-forwarded-for": "203.0.113.13" } });
            return h.status === 200 ? h : undefined;
        }, { timeout: 3_000, what: "a handshake once sessions closed" });
        const sid = JSON.parse(r.body.slice(1)).sid;
        await httpRequest(eioUrl(base(), "polling", `&sid=${sid}`), { method: "POST", body: "1" });
        await witness.check("after the edge had room again");
    });
});

describe("edge with per-user quotas, byte budgets and pre-CONNECT caps (--user-publish-rate 5 --user-publish-burst 10 --user-auto-create-per-minute 6 --user-auto-create-burst 5 --max-connect-failures 3 --max-payload 100000 --history-max-bytes 8k --recovery-max-bytes 64k)", () => {
    let stack;
    let witness;
    let token;
    const clients = new ClientPool();
    const raw = new RawPool();

    before(async () => {
        stack = await startEdgeStack({
            edges: ["edge-1"],
            nginx: false,
            // The harness lifts the quotas for every other test; these flags come last and win.
            edgeArgs: ["--user-publish-rate", "5", "--user-publish-burst", "10", "--user-publish-bytes-rate", "0",
                "--user-auto-create-per-minute", "6", "--user-auto-create-burst", "5",
                "--max-connect-failures", "3", "--max-payload", "100000", "--max-publish-bytes", "50000",
                "--history-max-bytes", "8k", "--recovery-max-bytes", "64k"],
        });
        witness = await Witness.start(clients, stack, stack.edges[0]);
        token = tokenFor(stack, "offender");
        await witness.check("at start");
    });
    afterEach(() => raw.closeAll());
    after(async () => {
        raw.closeAll();
        clients.closeAll();
        await stack?.stop();
    });

    const base = () => stack.edges[0].url;

    test("one user's publishes across two sockets share one quota: the burst passes, then rate_limited; another user is untouched", async () => {
        const room = uniqueRoom("quota");
        const s1 = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "quota-user" });
        const s2 = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "quota-user" });
        const other = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "quota-other" });
        for (const s of [s1, s2, other]) {
            await joinRoom(s.socket, room);
        }
        const acks = await Promise.all(Array.from({ length: 24 }, (_, i) =>
            request((i % 2 ? s2 : s1).socket, "publish", { room, event: "q", data: i })));
        const codes = acks.map((a) => (a.ok ? "ok" : a.error.code));
        const ok = codes.filter((c) => c === "ok").length;
        console.log(`# hostile: 24 publishes of one user over two sockets → ${ok} ok, ${codes.length - ok} refused`);
        assert.ok(ok >= 10 && ok <= 12, `the burst of 10 (plus what refills meanwhile) passes: ${codes}`);
        assert.deepEqual([...new Set(codes.filter((c) => c !== "ok"))], ["rate_limited"]);
        const otherAck = await request(other.socket, "publish", { room, event: "q", data: "other" });
        assert.equal(otherAck.ok, true, "another user's publish is not limited by this user's quota");
        await sleep(1_100); // 5 tokens again
        assert.equal((await request(s1.socket, "publish", { room, event: "q", data: "later" })).ok, true);
        const metrics = await scrape(stack.edges[0].adminUrl);
        assert.ok(sample(metrics, 'roomcast_edge_quota_refusals_total{quota="publish_rate"}') >= 12);
        await witness.check("after the publish quota");
    });

    test("a user auto-creating rooms: 5 new rooms pass, then joins of new rooms are rate_limited; existing rooms and other users still join", async () => {
        const flooder = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "room-flooder" });
        const codes = [];
        for (let i = 0; i < 12; i++) {
            const ack = await request(flooder.socket, "join", { room: uniqueRoom("flood-room") });
            codes.push(ack.ok ? "ok" : ack.error.code);
        }
        const ok = codes.filter((c) => c === "ok").length;
        assert.ok(ok >= 5 && ok <= 6, `the burst of 5 (plus what refills) creates rooms: ${codes}`);
        assert.deepEqual([...new Set(codes.slice(6))], ["rate_limited"], `then rate_limited: ${codes}`);
        // Joining a room that exists costs no quota.
        await joinRoom(flooder.socket, witness.room);
        const other = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "room-other" });
        await joinRoom(other.socket, uniqueRoom("other-room"));
        const metrics = await scrape(stack.edges[0].adminUrl);
        assert.ok(sample(metrics, 'roomcast_edge_quota_refusals_total{quota="auto_create"}') >= 6);
        await witness.check("after the room flood");
    });

    test("attachments announced before CONNECT, or for a namespace not joined, close the connection before any is held", async () => {
        const early = await RawWsClient.open(base(), { token, pool: raw, connect: false });
        early.send('451-["publish",{"_placeholder":true,"num":0}]');
        const closedEarly = await early.waitClosed(3_000);
        assert.ok(closedEarly, "closed without waiting for the attachment");
        const joined = await RawWsClient.open(base(), { token, pool: raw });
        joined.send('451-/elsewhere,["publish",{"_placeholder":true,"num":0}]');
        assert.ok(await joined.waitClosed(3_000), "attachments for a namespace the connection did not join");
        await witness.check("after attachments before CONNECT");
    });

    test("a packet's attachments together over --max-payload close the connection", async () => {
        const c = await RawWsClient.open(base(), { token, pool: raw });
        c.send('453-["publish",{"room":"x","event":"e","data":[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]}]');
        for (let i = 0; i < 3; i++) {
            c.send(Buffer.alloc(40_000, i), { binary: true }); // each under the cap, 120 KB together
        }
        const closed = await c.waitClosed(5_000);
        assert.ok(closed, "closed once the attachments pass 100 KB together");
        const metrics = await scrape(stack.edges[0].adminUrl);
        assert.ok(sample(metrics, kParseError) >= 1, "counted as a parse error");
        await witness.check("after oversized attachments");
    });

    /**
     * Publishes `n` events of about 2 KB to `room` at once: ten per publisher (each user's burst
     * under --user-publish-burst 10), the publishers in parallel. Returns the offsets, ascending.
     */
    async function fillRoom(room, n, tag) {
        const publishers = [];
        for (let p = 0; p * 10 < n; p++) {
            const pub = await connectUser(clients, stack, base(), { transports: ["websocket"], user: `filler-${tag}-${p}` });
            await joinRoom(pub.socket, room);
            publishers.push(pub);
        }
        const acks = await Promise.all(publishers.map(async (pub, p) => {
            const mine = [];
            for (let i = p * 10; i < Math.min(n, (p + 1) * 10); i++) {
                mine.push(await request(pub.socket, "publish", { room, event: "big", data: { i, pad: "x".repeat(2000) } }));
            }
            return mine;
        }));
        for (const pub of publishers) {
            pub.socket.disconnect();
        }
        const flat = acks.flat();
        assert.deepEqual(flat.filter((a) => !a.ok), [], "within each publisher's burst");
        return flat.map((a) => a.offset).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    }

    test("history of a room bigger than --history-max-bytes comes in pages (more: true), every event once, in order", async () => {
        const room = uniqueRoom("big-history");
        const offsets = await fillRoom(room, 20, "history");
        const reader = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "history-reader" });
        await joinRoom(reader.socket, room);
        const seen = [];
        let since;
        let pages = 0;
        for (;;) {
            const h = await request(reader.socket, "history", since ? { room, since, limit: 1000 } : { room, since: "0", limit: 1000 });
            assert.equal(h.ok, true, JSON.stringify(h).slice(0, 200));
            pages += 1;
            assert.ok(h.messages.length >= 1, "a page holds at least one event");
            const bytes = JSON.stringify(h.messages).length;
            assert.ok(bytes < 8192 + 2500, `a page stays near the budget (${bytes} bytes)`);
            seen.push(...h.messages.map((m) => m.offset));
            since = h.messages.at(-1).offset;
            if (!h.more) {
                break;
            }
            assert.ok(pages < 30, "paging ends");
        }
        assert.deepEqual(seen, offsets, "every event once, in order");
        assert.ok(pages >= 5, `20 events of 2 KB take several 8 KB pages (${pages})`);
        // Without since: the newest events that fit, and more: true.
        const newest = await request(reader.socket, "history", { room, limit: 20 });
        assert.equal(newest.more, true);
        assert.deepEqual(newest.messages.map((m) => m.offset), offsets.slice(-newest.messages.length));
        await witness.check("after paging history");
    });

    test("a session that missed more than --recovery-max-bytes starts anew; one that missed a little is recovered", async () => {
        const room = uniqueRoom("big-miss");
        const slow = { reconnectionDelay: 2_000, reconnectionDelayMax: 2_000, randomizationFactor: 0 };
        for (const [n, recovered] of [[2, true], [60, false]]) {
            const c = await connectUser(clients, stack, base(), { transports: ["websocket"], user: `miss-${n}`, ...slow });
            await joinRoom(c.socket, room);
            const reconnected = nextEvent(c.socket, "connect", { timeout: 60_000, what: "reconnect" });
            reconnected.catch(() => {});
            const dropped = nextEvent(c.socket, "disconnect", { timeout: 5_000, what: "drop" });
            c.socket.io.engine.close();
            await dropped;
            await fillRoom(room, n, `miss-${n}`); // 60 × 2 KB = 120 KB > 64 KB
            await reconnected;
            assert.equal(c.socket.recovered, recovered, `${n} missed events of 2 KB: recovered ${c.socket.recovered}`);
        }
        await witness.check("after recoveries over the budget");
    });

    test("many CONNECTs recovering one session at once: one recovery is read, the others start anew, nothing hangs", async () => {
        const room = uniqueRoom("one-pid");
        await fillRoom(room, 10, "one-pid");
        const c = await connectUser(clients, stack, base(), { transports: ["websocket"], user: "one-pid", reconnection: false });
        await joinRoom(c.socket, room);
        const pid = c.socket._pid;
        assert.ok(pid, "the session has a pid");
        c.socket.io.engine.close(); // lost: recoverable
        await sleep(200);
        const token = tokenFor(stack, "one-pid");
        const conns = await Promise.all(Array.from({ length: 10 }, () => RawWsClient.open(base(), { token, pool: raw, connect: false })));
        for (const r of conns) {
            r.send(`40${JSON.stringify({ token, pid, offset: "0" })}`);
        }
        const replies = await Promise.all(conns.map((r) => r.next((m) => typeof m === "string" && m.startsWith("40"), "CONNECT reply", 10_000)));
        const pids = replies.map((m) => JSON.parse(m.slice(2)).pid);
        const again = pids.filter((p) => p === pid).length;
        console.log(`# hostile: 10 simultaneous recoveries of one pid → ${again} recovered, ${10 - again} new sessions`);
        assert.ok(again >= 1 && again < 10, `one recovery at a time per pid (recovered: ${again})`);
        await witness.check("after parallel recoveries of one pid");
    });

    test("refused CONNECTs on one connection: after 3 the connection is closed", async () => {
        const c = await RawWsClient.open(base(), { token, pool: raw, connect: false });
        for (let i = 0; i < 5; i++) {
            c.send(`40${JSON.stringify({ token: "not-a-token" })}`);
        }
        const errors = [];
        for (let i = 0; i < 3; i++) {
            errors.push(await c.next((m) => typeof m === "string" && m.startsWith("44"), `CONNECT_ERROR ${i + 1}`));
        }
        assert.ok(errors.every((e) => JSON.parse(e.slice(2)).data.code === "token_invalid"), JSON.stringify(errors));
        assert.ok(await c.waitClosed(3_000), "closed after the third refusal");
        assert.equal(c.messages.filter((m) => typeof m === "string" && m.startsWith("44")).length, 0,
            "no fourth CONNECT was answered");
        await witness.check("after the CONNECT storm");
    });
});

/** Bytes of JetStream stream `name` and of the whole JetStream store, from nats-server's /jsz. */
async function jetStreamBytes(natsMonitorUrl, name) {
    const { state, store } = await jetStreamState(natsMonitorUrl, name);
    return { stream: state.bytes, store };
}

/** VmRSS of `pid` in bytes. */
async function rssBytes(pid) {
    const { readFile } = await import("node:fs/promises");
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

describe("a publisher flooding many auto-created rooms (--storage-room-stream-max-bytes 4Mi, per-user quotas)", () => {
    const kStreamBudget = 4 * 1024 * 1024;
    const kPayload = "x".repeat(32 * 1024);
    let stack;
    let witness;
    const clients = new ClientPool();

    before(async () => {
        stack = await startEdgeStack({
            edges: ["edge-1"],
            nginx: false,
            // The harness lifts the quotas for every other test; these flags come last and win.
            edgeArgs: ["--storage-room-stream-max-bytes", String(kStreamBudget),
                "--user-publish-rate", "200", "--user-publish-burst", "200", "--user-publish-bytes-rate", String(1024 * 1024),
                "--user-auto-create-per-minute", "30", "--user-auto-create-burst", "10"],
        });
        witness = await Witness.start(clients, stack, stack.edges[0]);
        await witness.check("at start");
    });
    after(async () => {
        clients.closeAll();
        await stack?.stop();
    });

    test("joins of new rooms and publishes past the quotas are rate_limited; the stream stays within its budget, the edge's memory bounded, the witnesses unaffected", async () => {
        const edge = stack.edges[0];
        const rssBefore = await rssBytes(edge.pid);
        const users = ["flood-a", "flood-b", "flood-c"];
        const joinCodes = [];
        const floods = await Promise.all(users.map(async (user) => {
            const sockets = [
                await connectUser(clients, stack, edge.url, { transports: ["websocket"], user }),
                await connectUser(clients, stack, edge.url, { transports: ["polling"], user }),
            ];
            const rooms = [];
            for (let i = 0; i < 20; i++) {
                const room = uniqueRoom(`flood-${user}`);
                const ack = await request(sockets[i % 2].socket, "join", { room });
                joinCodes.push(ack.ok ? "ok" : ack.error.code);
                if (ack.ok) {
                    rooms.push({ room, socket: sockets[i % 2].socket });
                }
            }
            return { user, sockets, rooms };
        }));
        const okJoins = joinCodes.filter((c) => c === "ok").length;
        assert.deepEqual([...new Set(joinCodes.filter((c) => c !== "ok"))], ["rate_limited"], `join codes: ${joinCodes}`);
        assert.ok(okJoins >= 30 && okJoins <= 36, `each user's burst of 10 (plus what refills) creates rooms: ${okJoins} of 60`);

        // Every user publishes 32 KiB events round the rooms it got, 8 in flight, for 6 s: about
        // 3 × 1 MiB/s pass the quota, several times the stream's budget.
        const codes = new Map();
        const deadline = Date.now() + 6_000;
        await Promise.all(floods.flatMap(({ rooms }) => Array.from({ length: 8 }, async (_, lane) => {
            for (let i = lane; Date.now() < deadline; i += 8) {
                const { room, socket } = rooms[i % rooms.length];
                const ack = await request(socket, "publish", { room, event: "flood", data: kPayload });
                const code = ack.ok ? "ok" : ack.error.code;
                codes.set(code, (codes.get(code) ?? 0) + 1);
                if (!ack.ok) {
                    await sleep(20);
                }
            }
        })));
        const okBytes = (codes.get("ok") ?? 0) * kPayload.length;
        console.log(`# hostile: flood of 32 KiB publishes → ${JSON.stringify(Object.fromEntries(codes))} (${(okBytes / 2 ** 20).toFixed(1)} MiB stored)`);
        assert.deepEqual([...codes.keys()].filter((c) => c !== "ok"), ["rate_limited"], "refused with rate_limited only");
        assert.ok(okBytes > 2 * kStreamBudget, `the flood must outgrow the stream's budget to test it (${okBytes} bytes)`);

        const { stream, store } = await jetStreamBytes(stack.natsMonitorUrl, "ROOMCAST_ROOMS");
        console.log(`# hostile: stream ROOMCAST_ROOMS ${(stream / 2 ** 20).toFixed(2)} MiB (budget 4 MiB), JetStream store ${(store / 2 ** 20).toFixed(2)} MiB`);
        assert.ok(stream <= kStreamBudget, `the stream holds ${stream} bytes, over its ${kStreamBudget}-byte budget`);
        // Besides the stream: the KV buckets' few records of this test.
        assert.ok(store <= kStreamBudget + 2 * 2 ** 20, `the JetStream store holds ${store} bytes`);

        const rssAfter = await rssBytes(edge.pid);
        console.log(`# hostile: edge RSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(rssAfter / 2 ** 20).toFixed(1)} MiB`);
        assert.ok(rssAfter - rssBefore < 64 * 2 ** 20, `the edge grew by ${rssAfter - rssBefore} bytes`);

        // The newest events of a flooded room are still read back.
        const { rooms } = floods[0];
        const history = await request(rooms[0].socket, "history", { room: rooms[0].room, limit: 5 });
        assert.equal(history.ok, true, JSON.stringify(history));
        await witness.check("after the flood");
        for (const { sockets } of floods) {
            for (const s of sockets) {
                assert.equal(s.socket.connected, true, "a flooder is refused, not disconnected");
            }
        }
    });
});
