// The idle TTL of auto-created rooms (docs/operations.md, "Idle auto-created rooms"): the real
// rooms service with a 2 s TTL and a 500 ms sweep, the real presence service and an edge, driven
// with the stock socket.io-client and the admin gRPC API. An auto-created room nobody is in
// disappears from ListRooms; one with a member stays, as does a room made with CreateRoom; a
// swept room comes back on the next join.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { adminClient } from "../lib/admin.mjs";
import { ClientPool, eventually, EventLog, sleep } from "../lib/clients.mjs";
import { connectUser, joinRoom, publishOk, request, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";

const kTtlMs = 2_000;
const kIntervalMs = 500;
// Long enough for the TTL, several sweeps and the presence service's view of a leave.
const kSweptWithinMs = kTtlMs + 10 * kIntervalMs + 5_000;

let stack;
let rooms;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1"],
        services: ["rooms", "presence"],
        edgeArgs: ["--auto-create-prefixes", "auto:"],
        serviceArgs: {
            rooms: ["--auto-room-idle-ttl", `${kTtlMs}ms`, "--auto-room-sweep-interval", `${kIntervalMs}ms`],
        },
    });
    rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    rooms?.close();
    await stack?.stop();
});

async function listedRooms() {
    const listed = await rooms.call("ListRooms", { page_size: 1000 });
    return new Set((listed.rooms ?? []).map((r) => r.id));
}

async function sweptTotal() {
    const res = await fetch(`${stack.services.rooms.adminUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    const line = text.split("\n").find((l) => l.startsWith("roomcast_rooms_auto_rooms_swept_total"));
    assert.ok(line, "roomcast_rooms_auto_rooms_swept_total is exported");
    return Number(line.split(/\s+/)[1]);
}

test("an idle auto-created room is deleted; one with a member and an admin-created one stay; a join brings it back", async () => {
    const leaver = await connectUser(clients, stack, stack.edges[0].url);
    const stayer = await connectUser(clients, stack, stack.edges[0].url);
    const empty = uniqueRoom("auto:empty");
    const occupied = uniqueRoom("auto:occupied");
    const admin = uniqueRoom("auto:admin");
    await rooms.call("CreateRoom", { room_id: admin });

    await joinRoom(leaver.socket, empty);
    await publishOk(leaver.socket, empty, "note", { n: 1 });
    const left = await request(leaver.socket, "leave", { room: empty });
    assert.equal(left?.ok, true, `leave: ${JSON.stringify(left)}`);
    await joinRoom(stayer.socket, occupied);
    const stayerLog = new EventLog(stayer.socket);
    const before = await listedRooms();
    assert.ok(before.has(empty) && before.has(occupied) && before.has(admin), "all three rooms listed at first");

    await eventually(
        async () => {
            assert.equal((await listedRooms()).has(empty), false, `${empty} still listed`);
        },
        { timeout: kSweptWithinMs, interval: 250, what: "the idle auto-created room disappears from ListRooms" },
    );
    // A few more sweeps: the others are idle by time too, and must stay.
    await sleep(4 * kIntervalMs);
    const now = await listedRooms();
    assert.ok(now.has(occupied), "the auto-created room with a member present was deleted");
    assert.ok(now.has(admin), "the room made with CreateRoom was deleted");
    assert.deepEqual(stayerLog.all("kicked"), [], "the member of the kept room was kicked");
    assert.ok((await sweptTotal()) >= 1, "the swept counter counts the deletion");

    // The swept room is auto-created again on the next join.
    await joinRoom(leaver.socket, empty, "join after the sweep");
    const got = await rooms.call("GetRoom", { room_id: empty });
    assert.equal(got.room.auto_created, true);
});
