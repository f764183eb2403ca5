// gRPC TLS as a deployment option (issue 12, docs/operations.md "gRPC TLS"): the real services
// started with --grpc-tls-* and certificates the openssl command makes for this run, driven by
// roomcastctl --tls --ca while a real socket.io-client user is in the room.
//
// One stack, three modes: rooms serves TLS, presence mutual TLS (clients need a certificate of
// the client CA), auth stays plaintext.

import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { ClientPool } from "../lib/clients.mjs";
import { Inbox, connectUser, joinRoom, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { repoDir } from "../lib/stack.mjs";

const buildDir = process.env.ROOMCAST_BUILD_DIR ? path.resolve(process.env.ROOMCAST_BUILD_DIR) : path.join(repoDir, "build");
const ctlPath = path.join(buildDir, "tools", "roomcastctl", "roomcastctl");

let stack;
let dir;
const clients = new ClientPool();
const pem = (name) => path.join(dir, name);

function openssl(...args) {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
}

/** A CA, and a certificate it signs for `cn` with the given subjectAltName (or client use). */
function makeCa(name) {
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${name}`,
        "-keyout", `${name}.key`, "-out", `${name}.pem`);
}
function makeCert(name, ca, ext) {
    writeFileSync(pem(`${name}.ext`), ext);
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`,
        "-out", `${name}.csr`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`,
        "-CAcreateserial", "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
}

/** roomcastctl with the stack's addresses and token and `env`; resolves {code, stdout, stderr}. */
function ctl(args, env = {}) {
    const full = {
        PATH: process.env.PATH,
        ROOMCAST_ROOMS_ADDR: stack.services.rooms.grpcAddress,
        ROOMCAST_PRESENCE_ADDR: stack.services.presence.grpcAddress,
        ROOMCAST_AUTH_ADDR: stack.services.auth.grpcAddress,
        ROOMCAST_ADMIN_TOKEN: stack.adminToken,
        ROOMCAST_TIMEOUT: "5s",
        ...env,
    };
    return new Promise((resolve) => {
        execFile(ctlPath, args, { env: full, timeout: 20_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
        });
    });
}

before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "roomcast-grpc-tls-"));
    makeCa("ca");
    makeCa("other-ca");
    makeCa("client-ca");
    // The services listen on 127.0.0.1: the certificate names it (and localhost).
    makeCert("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    makeCert("client", "client-ca", "extendedKeyUsage=clientAuth\n");
    makeCert("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
    const serverTls = ["--grpc-tls-cert", pem("server.pem"), "--grpc-tls-key", pem("server.key")];
    stack = await startEdgeStack({
        edges: ["edge-1"],
        services: ["rooms", "presence", "auth"],
        serviceArgs: {
            rooms: serverTls,
            presence: [...serverTls, "--grpc-tls-client-ca", pem("client-ca.pem")],
        },
    });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
    if (dir) {
        rmSync(dir, { recursive: true, force: true });
    }
});

test("roomcastctl --tls --ca drives a TLS rooms service while a socket.io-client user is in the room", async () => {
    const room = uniqueRoom("tls:");
    const tls = { ROOMCAST_TLS_CA: pem("ca.pem") }; // --ca implies --tls
    const created = await ctl(["rooms", "create", room, "--json"], tls);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout).room.id, room);

    const user = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
    await joinRoom(user.socket, room);
    const inbox = new Inbox(user.socket, "notice");
    const published = await ctl(["--ca", pem("ca.pem"), "rooms", "publish", room, "notice", '{"over":"tls"}', "--json"]);
    assert.equal(published.code, 0, published.stderr);
    const [got] = await inbox.waitFor(1, { what: "the notice published over TLS" });
    assert.deepEqual(got.data, { over: "tls" });
    assert.equal(got.offset, JSON.parse(published.stdout).offset);
});

test("a TLS service refuses plaintext, an unknown CA and a wrong name, with hints", async () => {
    const plain = await ctl(["rooms", "list"]);
    // A failed handshake is UNAVAILABLE to the client: exit 6 (docs/admin-api.md, exit status).
    assert.equal(plain.code, 6);
    assert.match(plain.stderr, /UNAVAILABLE/);
    assert.match(plain.stderr, /pass --tls \(and --ca\)/, "the hint names the flags");

    const systemRoots = await ctl(["--tls", "rooms", "list"]);
    assert.equal(systemRoots.code, 6, "the test CA is in no system bundle");
    assert.match(systemRoots.stderr, /UNAVAILABLE/);

    const otherCa = await ctl(["--ca", pem("other-ca.pem"), "rooms", "list"]);
    assert.equal(otherCa.code, 6);
    assert.match(otherCa.stderr, /with --tls the server must serve TLS with a certificate --ca trusts/);

    const wrongName = await ctl(["--ca", pem("ca.pem"), "--tls-server-name", "rooms.elsewhere.example", "rooms", "list"]);
    assert.equal(wrongName.code, 6, "the certificate does not name rooms.elsewhere.example");
    const rightName = await ctl(["--ca", pem("ca.pem"), "--tls-server-name", "localhost", "rooms", "list"]);
    assert.equal(rightName.code, 0, rightName.stderr);

    const missing = await ctl(["--ca", pem("no-such.pem"), "rooms", "list"]);
    assert.equal(missing.code, 2, "an unreadable CA file is a usage error, before any call");
});

test("mutual TLS: presence answers clients with a certificate of the client CA only", async () => {
    const room = uniqueRoom("mtls");
    const user = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
    await joinRoom(user.socket, room);
    const withCert = { ROOMCAST_TLS_CA: pem("ca.pem"), ROOMCAST_TLS_CERT: pem("client.pem"), ROOMCAST_TLS_KEY: pem("client.key") };
    // Presence is eventually consistent: the join reaches the service within a few beats.
    let stats;
    for (let i = 0; ; i++) {
        stats = await ctl(["presence", "stats", room, "--json"], withCert);
        assert.equal(stats.code, 0, stats.stderr);
        if (Number(JSON.parse(stats.stdout).clients) === 1) {
            break;
        }
        assert.ok(i < 50, `presence never counted the member: ${stats.stdout}`);
        await new Promise((r) => setTimeout(r, 100));
    }

    const noCert = await ctl(["presence", "stats", room], { ROOMCAST_TLS_CA: pem("ca.pem") });
    assert.equal(noCert.code, 6, "no client certificate (a refused handshake is UNAVAILABLE: exit 6)");
    const stranger = await ctl(["presence", "stats", room], {
        ROOMCAST_TLS_CA: pem("ca.pem"),
        ROOMCAST_TLS_CERT: pem("stranger.pem"),
        ROOMCAST_TLS_KEY: pem("stranger.key"),
    });
    assert.equal(stranger.code, 6, "a certificate of another CA");
});

test("a plaintext service beside them still answers plaintext clients only", async () => {
    const plain = await ctl(["token", "issue", "tls-test-user", "--ttl", "1m"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const tls = await ctl(["--ca", pem("ca.pem"), "token", "issue", "tls-test-user", "--ttl", "1m"]);
    assert.equal(tls.code, 6, "TLS to a plaintext server fails (UNAVAILABLE: exit 6)");
    assert.match(tls.stderr, /UNAVAILABLE/);
});

test("a service refuses to start on a key that is not its certificate's", async () => {
    const bin = path.join(buildDir, "services", "rooms", "roomcast_rooms");
    const run = () =>
        new Promise((resolve) => {
            execFile(bin, ["--grpc-tls-cert", pem("server.pem"), "--grpc-tls-key", pem("client.key"),
                "--nats-url", "nats://127.0.0.1:1"],
            { env: { PATH: process.env.PATH, ROOMCAST_ADMIN_TOKEN: stack.adminToken }, timeout: 10_000 },
            (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stderr }));
        });
    const r = await run();
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--grpc-tls-key/, `the message names the flag: ${r.stderr}`);
});
