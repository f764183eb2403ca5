// Binary payloads in both directions (BINARY_EVENT / BINARY_ACK with attachments), over
// websocket-only and polling-only clients. Polling carries attachments base64-encoded ("b..."),
// so every byte value and an empty buffer are exercised.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { ClientPool, emitWithAck, transportModes, waitConnected } from "../lib/clients.mjs";
import { startServer } from "../lib/servers.mjs";

let server;
const clients = new ClientPool();

before(async () => {
    server = await startServer();
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await server?.stop();
});

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** Deterministic pseudo-random bytes (no dependency on crypto for reproducible failures). */
function patterned(length, seed) {
    const b = Buffer.alloc(length);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b[i] = x & 0xff;
    }
    return b;
}

const cases = [
    { name: "a single Buffer", args: [Buffer.from([1, 2, 3])] },
    { name: "every byte value", args: [allBytes] },
    { name: "an empty Buffer", args: [Buffer.alloc(0)] },
    { name: "mixed text and binary args", args: ["text", 42, Buffer.from("bin"), { k: "v" }, null] },
    {
        name: "nested binary in objects and arrays",
        args: [
            {
                a: Buffer.from([0xde, 0xad]),
                list: [Buffer.from([0xbe, 0xef]), { deep: { deeper: [1, Buffer.from([0])] } }],
                text: "x",
            },
            [[Buffer.from("in an array in an array")]],
        ],
    },
    {
        name: "ten attachments in one packet",
        args: [Array.from({ length: 10 }, (_, i) => Buffer.from([i, i, i]))],
    },
    { name: "a 256 KiB Buffer", args: [patterned(256 * 1024, 7), patterned(1000, 8)] },
    {
        name: "placeholder-shaped user data next to real binary",
        // A plain object that looks like a placeholder must survive as plain data.
        args: [{ _placeholder: false, num: 0 }, Buffer.from([5])],
    },
];

for (const mode of transportModes) {
    describe(`binary over ${mode.name}`, () => {
        for (const c of cases) {
            test(`message → message-back: ${c.name}`, async () => {
                const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
                await waitConnected(socket);
                socket.emit("message", ...c.args);
                assert.deepEqual(await log.take("message-back"), c.args);
            });
        }

        test("client ack carries binary back (BINARY_ACK)", async () => {
            const { socket } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            for (const c of cases) {
                assert.deepEqual(await emitWithAck(socket, "message-with-ack", c.args), c.args, c.name);
            }
        });

        test("binary in both directions of a server ack", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            socket.on("ack-request", (...args) => {
                const ack = args.pop();
                // Reply with binary of our own plus what we were sent.
                ack(Buffer.from("reply"), { got: args, more: [Buffer.from([255, 0, 1])] });
            });
            await waitConnected(socket);
            const sent = [Buffer.from([1, 2]), { nested: [Buffer.from([3])] }];
            socket.emit("server-ack", ...sent);
            assert.deepEqual(await log.take("ack-request"), sent);
            assert.deepEqual(await log.take("ack-result"), [
                {
                    ok: true,
                    reply: [Buffer.from("reply"), { got: sent, more: [Buffer.from([255, 0, 1])] }],
                },
            ]);
        });

        test("Uint8Array and ArrayBuffer from the client arrive back as Buffer", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            const u8 = new Uint8Array([10, 20, 30]);
            const ab = new Uint8Array([40, 50]).buffer;
            socket.emit("message", u8, ab);
            const [a, b] = await log.take("message-back");
            assert.ok(Buffer.isBuffer(a) && Buffer.isBuffer(b), "binary must arrive as Buffer");
            assert.deepEqual(a, Buffer.from([10, 20, 30]));
            assert.deepEqual(b, Buffer.from([40, 50]));
        });

        test("interleaved binary and text messages keep their order", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            const sent = [];
            for (let i = 0; i < 40; i++) {
                const args = i % 2 ? [i, patterned(100 + i, i + 1)] : [i, `text ${i}`];
                sent.push(args);
                socket.emit("message", ...args);
            }
            for (const args of sent) {
                assert.deepEqual(await log.take("message-back"), args);
            }
        });
    });
}
