// The Node.js baseline Roomcast is benchmarked against: a plain socket.io 4.8 server that speaks
// the same collaboration protocol as the Roomcast edge (docs/protocol.md), so the load generator
// drives both unchanged.
//
//   node server.mjs --port 3001 [--host 127.0.0.1] [--jwt-secret S | --no-auth]
//                   [--redis redis://127.0.0.1:6379] [--ping-interval 25s] [--ping-timeout 20s]
//
// The JWT secret may also come from ROOMCAST_JWT_SECRET (preferred: argv is visible in ps).
// Prints one JSON line {"msg":"listening",...} to stderr once it accepts connections; SIGTERM or
// SIGINT closes it.
//
// What it implements, as the edge does:
//   connect   auth.token: a JWT, HS256 with the shared secret (sub and exp required, nbf/iat with
//             30 s leeway) → otherwise connect_error "unauthorized" with data.code token_missing |
//             token_invalid | token_expired
//   join      {room} → {ok, room, offset}           (room id ^[A-Za-z0-9_:@-]{1,128}$, ≤ 100/socket)
//   leave     {room} → {ok}
//   publish   {room, event, data, echo?} → {ok, offset}; every other member (every member with
//             echo: true) receives `event` (data, {room, from, offset}, offset)
//             ephemeral: true → {ok} (no offset, nothing counted); members receive `event`
//             (data, {room, from}) through socket.io's volatile emit (dropped when the
//             connection is not ready to write, as the edge drops ephemeral events first)
//   errors    {ok: false, error: {code, message}}: bad_request, not_joined, payload_too_large
//
// Differences, on purpose (see docs/benchmarks.md):
//   - offsets are a per-room counter in this process (Roomcast: the JetStream sequence). With the
//     Redis adapter each process counts on its own: offsets then do not order a room across
//     processes. That costs Node nothing, so it can only flatter the baseline.
//   - no history, presence, rights registry or connection state recovery (socket.io's
//     connectionStateRecovery is off, its default; the Redis adapter does not support it).
//   - socket.io defaults otherwise: both transports, perMessageDeflate off, maxHttpBufferSize 1e6.
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import process from "node:process";
import { Server } from "socket.io";

const kRoomId = /^[A-Za-z0-9_:@-]{1,128}$/;
const kMaxRoomsPerSocket = 100;
const kMaxPublishBytes = 256 * 1024;
const kLeewaySeconds = 30;
const kReserved = new Set([
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    "join", "leave", "publish", "history", "presence", "kicked",
]);

function usage(message) {
    if (message) {
        process.stderr.write(`server.mjs: ${message}\n`);
    }
    process.stderr.write(
        "usage: node server.mjs --port N [--host H] [--jwt-secret S | --no-auth] [--redis URL]\n" +
            "                       [--ping-interval 25s] [--ping-timeout 20s] [--id NAME]\n",
    );
    process.exit(2);
}

/** "25s", "250ms", "2m" or a bare number of milliseconds → milliseconds. */
function parseDuration(text, flag) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text));
    if (!m) {
        usage(`${flag}: not a duration: ${text}`);
    }
    const n = Number(m[1]);
    return Math.round(m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n);
}

function parseArgs(argv) {
    const opts = {
        host: "127.0.0.1",
        port: undefined,
        jwtSecret: process.env.ROOMCAST_JWT_SECRET || "",
        auth: true,
        redis: "",
        pingInterval: 25_000,
        pingTimeout: 20_000,
        id: "",
    };
    for (let i = 0; i < argv.length; i += 1) {
        const flag = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) {
                usage(`${flag} needs a value`);
            }
            i += 1;
            return argv[i];
        };
        switch (flag) {
            case "--host": opts.host = value(); break;
            case "--port": opts.port = Number(value()); break;
            case "--jwt-secret": opts.jwtSecret = value(); break;
            case "--no-auth": opts.auth = false; break;
            case "--redis": opts.redis = value(); break;
            case "--ping-interval": opts.pingInterval = parseDuration(value(), flag); break;
            case "--ping-timeout": opts.pingTimeout = parseDuration(value(), flag); break;
            case "--id": opts.id = value(); break;
            case "-h": case "--help": usage(); break;
            default: usage(`unknown argument: ${flag}`);
        }
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
        usage("--port must be an integer from 0 to 65535");
    }
    if (opts.auth && !opts.jwtSecret) {
        usage("--jwt-secret (or ROOMCAST_JWT_SECRET) is required unless --no-auth");
    }
    return opts;
}

// --- JWT (HS256 only, as the edge's shared-secret path) ----------------------------------------

function b64urlJson(part) {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

/** {sub, name} of a valid token, or {error: "token_invalid" | "token_expired"}. */
function verifyToken(token, key) {
    const parts = token.split(".");
    if (parts.length !== 3) {
        return { error: "token_invalid" };
    }
    let header;
    let claims;
    try {
        header = b64urlJson(parts[0]);
        claims = b64urlJson(parts[1]);
    } catch {
        return { error: "token_invalid" };
    }
    if (header === null || typeof header !== "object" || header.alg !== "HS256") {
        return { error: "token_invalid" };
    }
    const expected = createHmac("sha256", key).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2], "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return { error: "token_invalid" };
    }
    if (claims === null || typeof claims !== "object" || typeof claims.sub !== "string" || claims.sub === "" ||
        typeof claims.exp !== "number") {
        return { error: "token_invalid" };
    }
    const now = Date.now() / 1000;
    if (claims.exp + kLeewaySeconds <= now) {
        return { error: "token_expired" };
    }
    if ((typeof claims.nbf === "number" && claims.nbf - kLeewaySeconds > now) ||
        (typeof claims.iat === "number" && claims.iat - kLeewaySeconds > now)) {
        return { error: "token_invalid" };
    }
    return { sub: claims.sub, name: typeof claims.name === "string" && claims.name ? claims.name : claims.sub };
}

function unauthorized(code) {
    const err = new Error("unauthorized");
    err.data = { code };
    return err;
}

// --- the protocol ------------------------------------------------------------------------------

function fail(ack, code, message) {
    if (typeof ack === "function") {
        ack({ ok: false, error: { code, message } });
    }
}

function roomOf(req) {
    return req !== null && typeof req === "object" && typeof req.room === "string" && kRoomId.test(req.room)
        ? req.room
        : "";
}

const kBadRoom = "room must match ^[A-Za-z0-9_:@-]{1,128}$";

function install(io, opts) {
    const key = Buffer.from(opts.jwtSecret, "utf8");
    const offsets = new Map(); // room → last offset published in this process (a number)

    io.use((socket, next) => {
        if (!opts.auth) {
            socket.data.user = `anon-${socket.id}`;
            next();
            return;
        }
        const token = socket.handshake.auth?.token;
        if (typeof token !== "string" || token === "") {
            next(unauthorized("token_missing"));
            return;
        }
        const result = verifyToken(token, key);
        if (result.error) {
            next(unauthorized(result.error));
            return;
        }
        socket.data.user = result.sub;
        socket.data.name = result.name;
        next();
    });

    io.on("connection", (socket) => {
        socket.on("join", (req, ack) => {
            const room = roomOf(req);
            if (!room) {
                fail(ack, "bad_request", kBadRoom);
                return;
            }
            // socket.rooms also holds the socket's own id.
            if (!socket.rooms.has(room) && socket.rooms.size - 1 >= kMaxRoomsPerSocket) {
                fail(ack, "bad_request", "too many rooms for one socket");
                return;
            }
            socket.join(room);
            if (typeof ack === "function") {
                ack({ ok: true, room, offset: String(offsets.get(room) ?? 0) });
            }
        });

        socket.on("leave", (req, ack) => {
            const room = roomOf(req);
            if (!room) {
                fail(ack, "bad_request", kBadRoom);
                return;
            }
            socket.leave(room);
            if (typeof ack === "function") {
                ack({ ok: true });
            }
        });

        socket.on("publish", (req, ack) => {
            const room = roomOf(req);
            if (!room) {
                fail(ack, "bad_request", kBadRoom);
                return;
            }
            const { event, echo, ephemeral } = req;
            if (typeof event !== "string" || event.length === 0 || event.length > 128 || kReserved.has(event)) {
                fail(ack, "bad_request", "event must be a non-empty string of at most 128 characters and not reserved");
                return;
            }
            if (echo !== undefined && typeof echo !== "boolean") {
                fail(ack, "bad_request", "echo must be a boolean");
                return;
            }
            if (ephemeral !== undefined && typeof ephemeral !== "boolean") {
                fail(ack, "bad_request", "ephemeral must be a boolean");
                return;
            }
            if (!socket.rooms.has(room)) {
                fail(ack, "not_joined", "join the room before publishing to it");
                return;
            }
            const data = req.data === undefined ? null : req.data;
            // The edge measures the JSON text (binary attachments are not counted here).
            if (Buffer.byteLength(JSON.stringify(data) ?? "null") > kMaxPublishBytes) {
                fail(ack, "payload_too_large", `data is larger than ${kMaxPublishBytes} bytes`);
                return;
            }
            const to = echo ? io.to(room) : socket.to(room);
            if (ephemeral) {
                to.volatile.emit(event, data, { room, from: socket.data.user });
                if (typeof ack === "function") {
                    ack({ ok: true });
                }
                return;
            }
            const offset = (offsets.get(room) ?? 0) + 1;
            offsets.set(room, offset);
            const off = String(offset);
            const meta = { room, from: socket.data.user, offset: off };
            to.emit(event, data, meta, off);
            if (typeof ack === "function") {
                ack({ ok: true, offset: off });
            }
        });
    });
}

// --- main --------------------------------------------------------------------------------------

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const httpServer = http.createServer();
    const io = new Server(httpServer, {
        pingInterval: opts.pingInterval,
        pingTimeout: opts.pingTimeout,
        serveClient: false,
        // Spelled out although they are socket.io's defaults: the comparison depends on them.
        perMessageDeflate: false,
        transports: ["polling", "websocket"],
        maxHttpBufferSize: 1e6,
    });

    const redisClients = [];
    if (opts.redis) {
        const [{ createClient }, { createAdapter }] = await Promise.all([
            import("redis"),
            import("@socket.io/redis-adapter"),
        ]);
        const pub = createClient({ url: opts.redis });
        const sub = pub.duplicate();
        for (const c of [pub, sub]) {
            c.on("error", (err) => process.stderr.write(`${JSON.stringify({ msg: "redis error", error: String(err) })}\n`));
        }
        await Promise.all([pub.connect(), sub.connect()]);
        redisClients.push(pub, sub);
        io.adapter(createAdapter(pub, sub));
    }

    install(io, opts);

    await new Promise((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(opts.port, opts.host, resolve);
    });
    const { port } = httpServer.address();
    process.stderr.write(`${JSON.stringify({
        msg: "listening",
        id: opts.id || undefined,
        host: opts.host,
        port,
        pid: process.pid,
        node: process.version,
        socketio: "4.8",
        redis: opts.redis ? true : false,
        auth: opts.auth,
        pingInterval: opts.pingInterval,
        pingTimeout: opts.pingTimeout,
    })}\n`);

    let closing = false;
    const shutdown = (signal) => {
        if (closing) {
            return;
        }
        closing = true;
        process.stderr.write(`${JSON.stringify({ msg: "stopping", signal })}\n`);
        // Bounded: exit even if a client keeps a connection open.
        setTimeout(() => process.exit(0), 3_000).unref();
        io.close(() => {
            Promise.allSettled(redisClients.map((c) => c.quit())).finally(() => process.exit(0));
        });
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err) => {
    process.stderr.write(`${JSON.stringify({ msg: "failed to start", error: String(err?.stack ?? err) })}\n`);
    process.exit(1);
});
