// The demo app's backend (web/): what a Socket.IO team would have written as server-side
// handlers, as a Roomcast application backend on NATS with @roomcast/backend (docs/backends.md).
//   - custom event `roll` {room, dice: "2d6"}: rolls, posts the result to the room as a
//     "message" from the server (stored: history and recovery have it), answers {rolls, total};
//   - publish hook on every room: messages with a word of the list are refused (`forbidden`,
//     with a message the page shows);
//   - lifecycle `join`: a welcome `notice` emitted to that user (every socket of theirs).
// scripts/up starts it with ROOMCAST_BACKEND_NATS_URL (the backend role's credentials) and the
// edges with --hook-publish-prefixes '*' --hook-publish-fail open: while it is down, messages
// still flow unmoderated and /roll answers `unavailable`.
//
// Environment: ROOMCAST_BACKEND_NATS_URL (required), DEMO_BLOCKED_WORDS (comma list; default
// "spam,scam"), DEMO_QUEUE (queue group; default roomcast-demo).

import { randomInt } from "node:crypto";
import { connect, RoomcastError } from "@roomcast/backend";

const kDice = /^(\d{1,2})?d(\d{1,3})$/i;
const kMaxDice = 10;
const kMaxSides = 100;
const blocked = (process.env.DEMO_BLOCKED_WORDS ?? "spam,scam")
    .split(",")
    .map((w) => w.trim().toLowerCase())
    .filter(Boolean);

function log(msg, fields = {}) {
    console.log(JSON.stringify({ at: new Date().toISOString(), msg, ...fields }));
}

const rc = await connect({ queue: process.env.DEMO_QUEUE ?? "roomcast-demo", name: "roomcast-demo-backend" });

rc.handle("roll", async (ctx, request) => {
    const room = request?.room;
    if (typeof room !== "string" || !ctx.socket.rooms.includes(room)) {
        throw new RoomcastError("not_joined", "join the room before rolling in it");
    }
    const dice = typeof request.dice === "string" ? request.dice.trim() : "1d6";
    const parsed = kDice.exec(dice);
    const count = parsed ? Number(parsed[1] ?? 1) : 0;
    const sides = parsed ? Number(parsed[2]) : 0;
    if (count < 1 || count > kMaxDice || sides < 2 || sides > kMaxSides) {
        throw new RoomcastError("bad_request", `dice are NdM with N 1..${kMaxDice} and M 2..${kMaxSides}, e.g. 2d6`);
    }
    const rolls = Array.from({ length: count }, () => randomInt(1, sides + 1));
    const total = rolls.reduce((a, b) => a + b, 0);
    const text = `🎲 ${ctx.user.name} rolled ${count}d${sides}: ${rolls.join(" + ")} = ${total}`;
    await rc.to(room).emit("message", { text, roll: { by: ctx.user.id, dice: `${count}d${sides}`, rolls, total } });
    return { rolls, total };
});

rc.onPublish("*", async (_ctx, message) => {
    const text = typeof message.data?.text === "string" ? message.data.text.toLowerCase() : "";
    const word = blocked.find((w) => text.includes(w));
    if (word) {
        return { deny: "forbidden", message: `blocked by the demo's moderation (contains "${word}")` };
    }
    return true;
});

rc.on("join", (event) => {
    const text = `Welcome to ${event.room}, ${event.user.name || event.user.id}! Try /roll 2d6.`;
    rc.toUser(event.user.id)
        .emit("notice", { text })
        .catch((err) => log("notice not sent", { user: event.user.id, error: err.message }));
});

let closing = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, async () => {
        if (closing) {
            return;
        }
        closing = true;
        log("stopping");
        await rc.close().catch(() => {});
        process.exit(0);
    });
}
log("demo backend ready", { blocked });
