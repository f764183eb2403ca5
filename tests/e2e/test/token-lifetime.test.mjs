// A socket never outlives its token (PRODUCT.md §2 "Token lifetime"; issue 11): at exp + leeway
// the edge closes the transport (not a Socket.IO DISCONNECT), so socket.io-client reconnects;
// `emit("refresh", { token }, ack)` extends a socket's life without reconnecting (same sub);
// a client whose `auth` option is a function gets a fresh token on the reconnection, which
// recovers the session with nothing lost.
//
// The edges run with `--jwt-leeway 1s` (default 30 s) so that tokens expire within seconds.
// Tokens are HS256 with the stack's secret, made here with an explicit `exp`.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { ClientPool, expectNoEvent, nextEvent, sleep, transportModes, waitConnectError, waitConnected } from "../lib/clients.mjs";
import {
    Inbox,
    assertError,
    connectUser,
    edgeOf,
    joinRoom,
    metricValue,
    nowSeconds,
    publishOk,
    request,
    signJwt,
    startEdgeStack,
    uniqueRoom,
} from "../lib/roomcast.mjs";

const kLeewaySec = 1; // --jwt-leeway of the edges below
const kLifetimeSec = 3; // exp = now + kLifetimeSec for the short-lived tokens
const kLateMs = 3_000; // the transport must be closed within exp + leeway + kLateMs
const kQuietMs = 500;
const kTransportLost = ["transport close", "transport error"];

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({ edges: ["edge-1", "edge-2"], edgeArgs: ["--jwt-leeway", `${kLeewaySec}s`] });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

/** An HS256 token of the stack for `sub` expiring at `exp` (seconds), or `secret`'s. */
function token(sub, exp, { secret = stack.jwtSecret, ...extra } = {}) {
    return signJwt({ sub, name: `User ${sub}`, iat: nowSeconds(), exp, ...extra }, secret);
}

/** A client on edge-1 whose static token expires at `exp`; returns it with `exp`. */
async function shortLived(sub, opts = {}) {
    const exp = nowSeconds() + kLifetimeSec;
    const c = await connectUser(clients, stack, stack.edges[0].url, { user: sub, token: token(sub, exp), ...opts });
    return { ...c, exp };
}

/** The edge's recovery misses by reason (why a recovery failed), for messages. */
async function recoveryMisses(edge) {
    const reasons = ["no_record", "revoked", "in_flight", "read_failed", "too_much_missed", "events_dropped"];
    try {
        const values = await Promise.all(
            reasons.map((reason) => metricValue(edge.adminUrl, "roomcast_edge_recovery_misses_total", { reason })),
        );
        return reasons.map((r, i) => `${r}=${values[i]}`).join(" ");
    } catch (e) {
        return `(metrics unavailable: ${e.message})`;
    }
}

/**
 * Waits for the disconnect caused by the expiry of a token with `exp`: not before exp, by
 * exp + leeway + kLateMs at the latest, with a transport-level reason (the edge closes the
 * transport; "io server disconnect" would mean a Socket.IO DISCONNECT, and no reconnection).
 */
async function expectExpiryClose(socket, exp, what) {
    const deadlineMs = (exp + kLeewaySec) * 1000 + kLateMs;
    const [reason] = await nextEvent(socket, "disconnect", {
        timeout: Math.max(deadlineMs - Date.now(), 1),
        what: `${what}: the edge closing the transport at the token's exp (${exp}) + ${kLeewaySec} s leeway`,
    });
    const at = Date.now();
    assert.ok(at >= exp * 1000, `${what}: disconnected ${exp * 1000 - at} ms before the token's exp`);
    assert.ok(
        kTransportLost.includes(reason),
        `${what}: disconnect reason must be one of ${kTransportLost.join(", ")} (the edge closes the transport), got "${reason}"`,
    );
    return { reason, at };
}

describe("expiry without refresh", () => {
    for (const mode of transportModes) {
        test(`${mode.name}: the transport is closed at exp + leeway (not a Socket.IO DISCONNECT); the reconnection is refused token_expired`, async () => {
            // The reconnection waits 1 s so that it presents the token past exp + leeway even if the
            // edge compares whole seconds (the close may come a fraction of a second earlier).
            const c = await shortLived(`exp-${mode.name}`, { ...mode.opts, reconnectionDelay: 1_000, reconnectionDelayMax: 1_000 });
            const refused = waitConnectError(c.socket, {
                timeout: (c.exp + kLeewaySec) * 1000 + kLateMs + 5_000 - Date.now(),
                what: "connect_error of the reconnection with the expired token",
            });
            refused.catch(() => {});
            const { at } = await expectExpiryClose(c.socket, c.exp, mode.name);
            console.log(`# ${mode.name}: closed ${at - c.exp * 1000} ms after exp (leeway ${kLeewaySec} s)`);
            const err = await refused;
            assert.equal(err.message, "unauthorized", "connect_error message of the reconnection");
            assert.equal(err.data?.code, "token_expired", `connect_error data.code (err.data = ${JSON.stringify(err.data)})`);
            assert.equal(c.socket.connected, false);
        });
    }
});

describe("refresh", () => {
    test("a refresh with a later token of the same sub → {ok:true, exp}; the socket outlives the old exp", async () => {
        const c = await shortLived("refresh-ok", { transports: ["websocket"] });
        const newExp = nowSeconds() + 60;
        const ack = await request(c.socket, "refresh", { token: token(c.user, newExp) });
        assert.equal(ack?.ok, true, `refresh ack: ${JSON.stringify(ack)}`);
        assert.equal(ack.exp, newExp, `refresh ack.exp must be the new token's exp, as a number: ${JSON.stringify(ack)}`);
        const quietUntil = (c.exp + kLeewaySec + 2) * 1000;
        await expectNoEvent(c.socket, "disconnect", quietUntil - Date.now(), "disconnect of a refreshed socket before its new exp");
        assert.equal(c.socket.connected, true);
        // Still a working socket.
        const room = uniqueRoom("refreshed");
        await joinRoom(c.socket, room);
        await publishOk(c.socket, room, "ev", 1, { echo: true });
    });

    test("refused refreshes (other sub → forbidden; garbage, badly signed, expired → unauthorized; no or mis-shaped token → bad_request) leave the original exp", async () => {
        const c = await shortLived("refresh-no", { transports: ["websocket"], reconnection: false });
        const later = nowSeconds() + 60;
        const cases = [
            ["a token of another sub", { token: token("someone-else", later) }, "forbidden"],
            ["garbage", { token: "not-a-jwt" }, "unauthorized"],
            ["signed with another key", { token: token(c.user, later, { secret: "not-the-secret" }) }, "unauthorized"],
            ["expired", { token: token(c.user, nowSeconds() - 60, { iat: nowSeconds() - 3600 }) }, "unauthorized"],
            ["no token", {}, "bad_request"],
            ["empty token", { token: "" }, "bad_request"],
            ["token not a string", { token: 42 }, "bad_request"],
            ["body not an object", "just a string", "bad_request"],
        ];
        for (const [what, body, code] of cases) {
            assertError(await request(c.socket, "refresh", body), code, `refresh with ${what}`);
        }
        assert.ok(nowSeconds() < c.exp, "the refusals must be done before the token expires (the test is too slow)");
        await expectExpiryClose(c.socket, c.exp, "after refused refreshes");
    });
});

describe("function-valued auth: a fresh token on the reconnection recovers the session", () => {
    for (const mode of transportModes) {
        test(`${mode.name}: events before, around and after the expiry arrive once, in order`, async () => {
            const sub = `fn-${mode.name}`;
            let calls = 0;
            const exps = []; // exp of each token handed out
            const auth = (cb) => {
                calls += 1;
                exps.push(nowSeconds() + kLifetimeSec);
                cb({ token: token(sub, exps.at(-1)) });
            };
            const { socket } = clients.socket(stack.edges[0].url, {
                forceNew: true,
                auth,
                ...mode.opts,
                // Away long enough for events to be published while the transport is closed.
                reconnectionDelay: 700,
                reconnectionDelayMax: 700,
            });
            await waitConnected(socket, { timeout: 10_000, what: `${sub}: connect` });
            assert.equal(calls, 1, "auth function called for the first connection");
            const exp = exps[0];
            assert.equal(edgeOf(socket), "edge-1");
            const p = await connectUser(clients, stack, stack.edges[1].url, { transports: ["websocket"], user: `pub-${mode.name}` });
            const room = uniqueRoom("fn-auth");
            await joinRoom(socket, room);
            await joinRoom(p.socket, room);
            const inbox = new Inbox(socket, "ev");

            let seq = 0;
            const publish = () => publishOk(p.socket, room, "ev", { seq: seq++ });
            for (let i = 0; i < 5; i++) {
                await publish();
            }
            await inbox.waitFor(5, { what: "events before the expiry" });

            // Publish one event at a time (acks awaited) through the expiry, the closed transport and
            // the reconnection, counting those stored while the client was away.
            let stop = false;
            let whileAway = 0;
            const publisher = (async () => {
                while (!stop) {
                    const away = !socket.connected;
                    await publish();
                    if (away && !socket.connected) {
                        whileAway += 1;
                    }
                    await sleep(20);
                }
            })();
            try {
                const reconnected = nextEvent(socket, "connect", {
                    timeout: (exp + kLeewaySec + 1) * 1000 + kLateMs + 10_000 - Date.now(),
                    what: `${sub}: the reconnection after the expiry`,
                });
                reconnected.catch(() => {});
                await expectExpiryClose(socket, exp, sub);
                await reconnected;
                assert.equal(calls, 2, "the auth function is called again for the reconnection");
                assert.equal(
                    socket.recovered,
                    true,
                    `the reconnection with a fresh token recovers the session; the edge's misses:\n${await recoveryMisses(stack.edges[0])}`,
                );
                await sleep(200); // a few more events published live after the reconnection
            } finally {
                stop = true;
                await publisher;
            }
            for (let i = 0; i < 5; i++) {
                await publish();
            }
            assert.ok(whileAway > 0, "some events must have been published while the client was away");
            await inbox.waitFor(seq, { what: `all ${seq} events (${whileAway} published while away)` });
            await sleep(kQuietMs);
            assert.deepEqual(inbox.datas.map((d) => d.seq), Array.from({ length: seq }, (_, i) => i), "every event once, in order");
            for (let i = 1; i < inbox.items.length; i++) {
                assert.ok(BigInt(inbox.items[i].offset) > BigInt(inbox.items[i - 1].offset), "offsets increase strictly");
            }
        });
    }
});
