// Connect-time JWT verification of the edge (PRODUCT.md §2 "Connect", "JWT"): HS256 with the
// stack's secret as raw bytes, sub and exp required, nbf/iat with 30 s leeway, name optional.
// A refused connect is connect_error with err.message "unauthorized" and err.data.code
// token_missing | token_invalid | token_expired. Tokens are made here with node:crypto, so bad
// ones can be forged too.

import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, createSign } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { ClientPool, waitConnectError, waitConnected } from "../lib/clients.mjs";
import {
    Inbox,
    b64url,
    connectUser,
    joinRoom,
    nowSeconds,
    publishOk,
    signJwt,
    startEdgeStack,
    tokenFor,
    uniqueRoom,
} from "../lib/roomcast.mjs";

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({ edges: ["edge-1", "edge-2"] });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

const claims = (extra = {}) => {
    const c = { sub: "jwt-user", name: "JWT User", iat: nowSeconds(), exp: nowSeconds() + 600, ...extra };
    for (const [k, v] of Object.entries(c)) {
        if (v === undefined) {
            delete c[k];
        }
    }
    return c;
};
const sign = (c, opts) => signJwt(c, stack.jwtSecret, opts);

/** Connects with `auth` (reconnection off) and returns the connect_error, asserting its shape. */
async function refused(url, auth, code, what, opts = {}) {
    const { socket } = clients.socket(url, { forceNew: true, reconnection: false, auth, ...opts });
    const err = await waitConnectError(socket, { what: `${what}: connect_error`, timeout: 10_000 });
    assert.equal(err.message, "unauthorized", `${what}: err.message`);
    assert.deepEqual(err.data?.code, code, `${what}: err.data.code (err.data = ${JSON.stringify(err.data)})`);
    assert.equal(socket.connected, false, `${what}: must not be connected`);
    socket.disconnect();
    return err;
}

async function accepted(url, token, what, opts = {}) {
    const { socket } = clients.socket(url, { forceNew: true, reconnection: false, auth: { token }, ...opts });
    await waitConnected(socket, { what: `${what}: connect`, timeout: 10_000 });
    return socket;
}

// [what, auth (a function: tokens are made when the test runs), expected code]
const cases = [
    ["no auth object at all", () => undefined, "token_missing"],
    ["auth without token", () => ({}), "token_missing"],
    ["empty token", () => ({ token: "" }), "token_missing"],
    ["not three parts (one)", () => ({ token: "abcdef" }), "token_invalid"],
    ["not three parts (two)", () => ({ token: sign(claims()).split(".").slice(0, 2).join(".") }), "token_invalid"],
    ["not three parts (four)", () => ({ token: `${sign(claims())}.extra` }), "token_invalid"],
    ["bad base64 in every part", () => ({ token: "!!!.@@@.###" }), "token_invalid"],
    ["header not JSON", () => {
        const [, p, s] = sign(claims()).split(".");
        return { token: `${b64url("not json")}.${p}.${s}` };
    }, "token_invalid"],
    ["payload not JSON (correctly signed)", () => {
        const input = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url("{oops")}`;
        return { token: `${input}.${createHmac("sha256", stack.jwtSecret).update(input).digest("base64url")}` };
    }, "token_invalid"],
    ["signed with another key", () => ({ token: signJwt(claims(), "not-the-secret") }), "token_invalid"],
    ["signed with the hex-decoded secret (the secret is raw bytes)", () => ({
        token: signJwt(claims(), Buffer.from(stack.jwtSecret, "hex")),
    }), "token_invalid"],
    ["tampered payload", () => {
        const [h, , s] = sign(claims()).split(".");
        return { token: `${h}.${b64url(JSON.stringify(claims({ sub: "admin" })))}.${s}` };
    }, "token_invalid"],
    ["alg none, empty signature", () => ({
        token: signJwt(claims(), stack.jwtSecret, { header: { alg: "none", typ: "JWT" }, signature: "" }),
    }), "token_invalid"],
    ["alg none with an HMAC signature", () => ({
        token: signJwt(claims(), stack.jwtSecret, { header: { alg: "none", typ: "JWT" } }),
    }), "token_invalid"],
    ["RS256 header with an HS256 signature", () => ({
        token: signJwt(claims(), stack.jwtSecret, { header: { alg: "RS256", typ: "JWT" } }),
    }), "token_invalid"],
    ["RS256 token signed with an unknown RSA key", () => {
        const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
        const input = `${b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims()))}`;
        const sig = createSign("RSA-SHA256").update(input).sign(privateKey).toString("base64url");
        return { token: `${input}.${sig}` };
    }, "token_invalid"],
    ["expired 60 s ago (beyond the 30 s leeway)", () => ({ token: sign(claims({ exp: nowSeconds() - 60, iat: nowSeconds() - 3600 })) }), "token_expired"],
    ["expired a day ago", () => ({ token: sign(claims({ exp: nowSeconds() - 86_400, iat: nowSeconds() - 90_000 })) }), "token_expired"],
    ["nbf 120 s in the future", () => ({ token: sign(claims({ nbf: nowSeconds() + 120 })) }), "token_invalid"],
    ["iat 120 s in the future", () => ({ token: sign(claims({ iat: nowSeconds() + 120 })) }), "token_invalid"],
    ["missing sub", () => ({ token: sign(claims({ sub: undefined })) }), "token_invalid"],
    ["empty sub", () => ({ token: sign(claims({ sub: "" })) }), "token_invalid"],
    ["sub not a string", () => ({ token: sign(claims({ sub: 42 })) }), "token_invalid"],
    ["missing exp", () => ({ token: sign(claims({ exp: undefined })) }), "token_invalid"],
    ["exp not a number", () => ({ token: sign(claims({ exp: "tomorrow" })) }), "token_invalid"],
];

describe("refused tokens (websocket, edge-1)", () => {
    for (const [what, auth, code] of cases) {
        test(`${what} → ${code}`, async () => {
            await refused(stack.edges[0].url, auth(), code, what, { transports: ["websocket"] });
        });
    }
});

describe("refused tokens over polling, on edge-2 and through NGINX", () => {
    for (const [what, auth, code] of cases.filter((c) => ["auth without token", "signed with another key", "expired 60 s ago (beyond the 30 s leeway)", "alg none, empty signature"].includes(c[0]))) {
        test(`${what} → ${code}`, async () => {
            await refused(stack.edges[1].url, auth(), code, `${what} (polling, edge-2)`, { transports: ["polling"] });
            await refused(stack.nginxUrl, auth(), code, `${what} (polling, nginx)`, { transports: ["polling"], withCredentials: true });
            await refused(stack.nginxUrl, auth(), code, `${what} (websocket, nginx)`, { transports: ["websocket"] });
        });
    }
});

describe("accepted tokens", () => {
    test("a valid token connects, on both edges and through NGINX, over both transports", async () => {
        for (const url of [stack.edges[0].url, stack.edges[1].url, stack.nginxUrl]) {
            for (const transports of [["websocket"], ["polling"]]) {
                const s = await accepted(url, tokenFor(stack, "ok-user"), `${url} ${transports}`, { transports, withCredentials: true });
                s.disconnect();
            }
        }
    });

    test("nbf 10 s in the future (within the 30 s leeway) connects", async () => {
        await accepted(stack.edges[0].url, sign(claims({ nbf: nowSeconds() + 10 })), "nbf +10 s");
    });

    test("iat 10 s in the future (within the leeway) connects", async () => {
        await accepted(stack.edges[0].url, sign(claims({ iat: nowSeconds() + 10 })), "iat +10 s");
    });

    test("only sub and exp: name (and iat) are optional; the user id is sub", async () => {
        const token = sign({ sub: "nameless", exp: nowSeconds() + 600 });
        const a = await accepted(stack.edges[0].url, token, "no name claim", { transports: ["websocket"] });
        const b = await connectUser(clients, stack, stack.edges[1].url, { transports: ["websocket"], user: "observer" });
        const room = uniqueRoom("jwt");
        await joinRoom(a, room);
        await joinRoom(b.socket, room);
        const bIn = new Inbox(b.socket, "hi");
        const off = await publishOk(a, room, "hi", 1);
        await bIn.waitFor(1);
        assert.deepEqual(bIn.items[0].meta, { room, from: "nameless", offset: off }, "meta.from is the sub claim");
    });

    test("unknown claims and header fields are ignored; a non-ASCII name is fine", async () => {
        const token = signJwt(
            claims({ jti: "x1", roles: ["a"], name: "Ünïcødé ✓" }),
            stack.jwtSecret,
            { header: { alg: "HS256", typ: "JWT", cty: "none" } },
        );
        await accepted(stack.edges[1].url, token, "extra claims");
    });
});

describe("an edge that requires an issuer and an audience (--jwt-issuer, --jwt-audience)", () => {
    let strict;
    before(async () => {
        strict = await startEdgeStack({
            edges: ["edge-strict"],
            nginx: false,
            edgeArgs: ["--jwt-issuer", "https://auth.example", "--jwt-audience", "roomcast"],
        });
    });
    after(async () => {
        await strict?.stop();
    });
    const signStrict = (c) => signJwt(c, strict.jwtSecret);

    test("iss and aud must match (aud may be a list); anything else is token_invalid", async () => {
        const url = strict.edges[0].url;
        const good = { iss: "https://auth.example", aud: "roomcast" };
        await accepted(url, signStrict(claims(good)), "iss and aud as required");
        await accepted(url, signStrict(claims({ ...good, aud: ["other", "roomcast"] })), "aud as a list");
        await refused(url, { token: signStrict(claims()) }, "token_invalid", "neither iss nor aud");
        await refused(url, { token: signStrict(claims({ ...good, iss: "https://evil.example" })) }, "token_invalid",
            "another issuer");
        await refused(url, { token: signStrict(claims({ ...good, aud: "other" })) }, "token_invalid", "another audience");
        await refused(url, { token: signStrict(claims({ ...good, exp: nowSeconds() - 600 })) }, "token_expired",
            "expired, with the right iss and aud");
    });
});
