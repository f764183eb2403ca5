// Token keys end to end (PRODUCT.md §3 auth, docs/control-plane.md "Token keys"): the real auth
// service signs with the newest key of its key directory and publishes the public keys; the real
// edges verify locally with what the auth service published. Rotation needs no restart: a token
// signed with a newly added key is accepted, one signed with a removed key is refused.

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { adminClient } from "../lib/admin.mjs";
import { ClientPool, eventually, sleep, waitConnectError, waitConnected } from "../lib/clients.mjs";
import { startEdgeStack } from "../lib/roomcast.mjs";

let stack;
let auth;
let keyDir;
const clients = new ClientPool();

function writeKey(kid, type) {
    const { privateKey } =
        type === "ec"
            ? generateKeyPairSync("ec", { namedCurve: "P-256" })
            : generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(path.join(keyDir, `${kid}.pem`), privateKey.export({ type: "pkcs8", format: "pem" }));
}

const kidOf = (token) => JSON.parse(Buffer.from(token.split(".")[0], "base64url")).kid;

before(async () => {
    keyDir = mkdtempSync(path.join(os.tmpdir(), "roomcast-keys-"));
    writeKey("2026-01-a", "ec");
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2"],
        services: ["auth"],
        serviceArgs: { auth: ["--key-dir", keyDir, "--key-reload-interval", "1s"] },
    });
    auth = adminClient("auth", stack.services.auth.grpcAddress, stack.adminToken);
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    auth?.close();
    await stack?.stop();
    rmSync(keyDir, { recursive: true, force: true });
});

async function connectWith(token, edge) {
    const { socket } = clients.socket(stack.edges[edge].url, { forceNew: true, auth: { token }, reconnection: false });
    return socket;
}

test("tokens from IssueToken connect on both edges; a rotated-in key works at once, a removed key is refused", async () => {
    const first = await auth.call("IssueToken", { user_id: "rotating-user", name: "Rita", ttl_seconds: 600 });
    assert.equal(kidOf(first.token), "2026-01-a");
    assert.equal(first.algorithm, "ES256");
    for (const edge of [0, 1]) {
        await eventually(
            async () => {
                const s = await connectWith(first.token, edge);
                await waitConnected(s, { timeout: 3_000, what: `connect with the first key on edge ${edge + 1}` });
                s.disconnect();
            },
            { timeout: 10_000, interval: 200, what: "edges accept the auth service's first key" },
        );
    }
    const verified = await auth.call("VerifyToken", { token: first.token });
    assert.equal(verified.valid, true);
    assert.equal(verified.user_id, "rotating-user");
    assert.equal(verified.name, "Rita");

    // Rotation: a greater kid becomes the signing key after the next reload.
    writeKey("2026-02-b", "rsa");
    const second = await eventually(
        async () => {
            const t = await auth.call("IssueToken", { user_id: "rotating-user", ttl_seconds: 600 });
            assert.equal(kidOf(t.token), "2026-02-b");
            return t;
        },
        { timeout: 10_000, interval: 200, what: "IssueToken signs with the new key" },
    );
    const jwks = JSON.parse((await auth.call("GetJwks", {})).jwks_json);
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), ["2026-01-a", "2026-02-b"]);
    for (const edge of [0, 1]) {
        await eventually(
            async () => {
                const s = await connectWith(second.token, edge);
                await waitConnected(s, { timeout: 3_000, what: `connect with the new key on edge ${edge + 1}` });
                s.disconnect();
            },
            { timeout: 10_000, interval: 200, what: "edges accept the rotated-in key without a restart" },
        );
    }

    // Removal: tokens signed with the old key are refused everywhere.
    unlinkSync(path.join(keyDir, "2026-01-a.pem"));
    await eventually(
        async () => {
            const keys = JSON.parse((await auth.call("GetJwks", {})).jwks_json).keys.map((k) => k.kid);
            assert.deepEqual(keys, ["2026-02-b"]);
        },
        { timeout: 10_000, interval: 200, what: "the removed key leaves the JWKS" },
    );
    for (const edge of [0, 1]) {
        await eventually(
            async () => {
                const s = await connectWith(first.token, edge);
                const err = await waitConnectError(s, { timeout: 3_000 });
                assert.equal(err.message, "unauthorized");
                assert.equal(err.data?.code, "token_invalid");
            },
            { what: `edge ${edge + 1} refuses a token of the removed key` },
        );
    }
    const refused = await auth.call("VerifyToken", { token: first.token });
    assert.equal(refused.valid, false);
    assert.equal(refused.error_code, "token_invalid");
});
