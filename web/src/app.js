// Roomcast demo: sign in with a name, join a room, chat, see who is here and how the connection
// is doing. Only the stock socket.io-client and the Roomcast client protocol (PRODUCT.md §2):
//   join     {room}                → {ok, room, offset, presence: {clients, users}}
//   publish  {room, event, data}   → {ok, offset}; others get event(data, meta, offset)
//   presence {room}                → {ok, clients, users: [{id, name}]}; "presence" events
//   history  {room, since, limit}  → {ok, messages: [{offset, event, data, from}]}
// and the demo backend's (examples/demo-backend, over NATS; docs/backends.md):
//   roll     {room, dice}          → {ok, result: {rolls, total}} (custom event; the roll is
//                                    posted to the room as a "message" from the server)
//   notice   {text}                ← emitted to this user (a welcome when joining a room)
// A publish the backend's moderation refuses comes back as {ok: false, error}.
// The presence and history answers are optional here: the page keeps working without them.

import { io } from "socket.io-client";

const kRoomPattern = /^[A-Za-z0-9_:@-]{1,128}$/;
// How long an ack may take before the page says the server did not answer.
const kAckTimeoutMs = 5_000;
const kHistoryLimit = 50;
const kSessionKey = "roomcast.demo.session";

const $ = (id) => document.getElementById(id);
const ui = {
    connection: $("connection"),
    connectionText: $("connection-text"),
    notice: $("notice"),
    signin: $("signin"),
    signinForm: $("signin-form"),
    name: $("name"),
    session: $("session"),
    meName: $("me-name"),
    meId: $("me-id"),
    signout: $("signout"),
    joinForm: $("join-form"),
    room: $("room"),
    leave: $("leave"),
    roomView: $("room-view"),
    roomName: $("room-name"),
    messages: $("messages"),
    messagesEmpty: $("messages-empty"),
    publishForm: $("publish-form"),
    message: $("message"),
    presence: $("presence"),
    presenceSummary: $("presence-summary"),
    presenceList: $("presence-list"),
    presenceNote: $("presence-note"),
    notifications: $("notifications"),
    notificationList: $("notification-list"),
};
// "/roll 2d6", "/roll d20", "/roll" (one six-sided die).
const kRollCommand = /^\/roll(?:\s+(\S+))?\s*$/i;
const kMaxNotifications = 20;

const state = {
    user: null, // {id, name}
    token: null,
    socket: null,
    room: null, // the joined room, or null
    lastOffset: null, // newest offset seen in the room (string), for history after a reconnect
    seen: new Set(), // offsets already on the page: history and recovery never duplicate
    members: new Map(), // user id → name, from presence answers and events
    names: new Map(), // user id → name, everyone ever seen (labels of older messages)
    counts: null, // {clients, users} from the server, when it told us
    presenceLive: null, // null until the server answered "presence" (true) or did not (false)
};

// --- small helpers ---------------------------------------------------------------------------

function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
}

function setConnection(kind, detail = "") {
    const transport = state.socket?.io.engine?.transport?.name;
    const labels = {
        offline: "Not connected",
        connecting: "Connecting…",
        connected: "Connected",
        recovered: "Recovered",
        reconnecting: "Reconnecting…",
        disconnected: "Disconnected",
    };
    ui.connection.dataset.state = kind;
    ui.connection.dataset.transport = transport ?? "";
    const live = kind === "connected" || kind === "recovered";
    ui.connectionText.textContent = [labels[kind], detail, live && transport ? `via ${transport}` : ""]
        .filter(Boolean)
        .join(" · ");
}

function refreshTransport() {
    const kind = ui.connection.dataset.state;
    if (kind === "connected" || kind === "recovered") {
        setConnection(kind);
    }
}

/** emit with an ack and a deadline; resolves with the ack's first argument. */
function request(event, payload) {
    return new Promise((resolve, reject) => {
        state.socket.timeout(kAckTimeoutMs).emit(event, payload, (err, reply) => {
            if (err) {
                reject(new Error(`no answer to "${event}" within ${kAckTimeoutMs / 1000} s`));
            } else {
                resolve(reply);
            }
        });
    });
}

function describeError(reply) {
    const e = reply?.error;
    return e ? `${e.code}${e.message ? `: ${e.message}` : ""}` : "unexpected answer";
}

function nameOf(id) {
    if (id === state.user?.id) {
        return `${state.user.name} (you)`;
    }
    if (id === "server") {
        return "demo backend";
    }
    return state.members.get(id) ?? state.names.get(id) ?? id;
}

function remember(users) {
    for (const u of users ?? []) {
        if (u && typeof u.id === "string") {
            state.names.set(u.id, typeof u.name === "string" && u.name ? u.name : u.id);
        }
    }
}

// --- messages --------------------------------------------------------------------------------

function compareOffsets(a, b) {
    try {
        const x = BigInt(a);
        const y = BigInt(b);
        return x < y ? -1 : x > y ? 1 : 0;
    } catch {
        return 0;
    }
}

function textOf(data) {
    if (data && typeof data === "object" && typeof data.text === "string") {
        return data.text;
    }
    return JSON.stringify(data);
}

/** Adds a message in offset order; a message already shown (same offset) is skipped. */
function addMessage({ from, data, offset, own = false, note = "" }) {
    if (offset != null) {
        if (state.seen.has(offset)) {
            return;
        }
        state.seen.add(offset);
        if (state.lastOffset === null || compareOffsets(offset, state.lastOffset) > 0) {
            state.lastOffset = offset;
        }
    }
    const item = document.createElement("li");
    item.className = own ? "message own" : "message";
    item.dataset.offset = offset ?? "";
    item.dataset.from = from;
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = nameOf(from);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = textOf(data);
    const meta = document.createElement("span");
    meta.className = "offset";
    meta.textContent = [offset != null ? `#${offset}` : "", note].filter(Boolean).join(" ");
    meta.title = "room offset";
    item.append(who, text, meta);

    let before = null;
    if (offset != null) {
        for (const other of ui.messages.children) {
            if (other.dataset.offset && compareOffsets(other.dataset.offset, offset) > 0) {
                before = other;
                break;
            }
        }
    }
    ui.messages.insertBefore(item, before);
    ui.messagesEmpty.hidden = true;
    if (!before) {
        item.scrollIntoView({ block: "nearest" });
    }
}

function clearMessages() {
    ui.messages.replaceChildren();
    ui.messagesEmpty.hidden = false;
    state.seen.clear();
    state.lastOffset = null;
}

/** Fills in messages from history (since the last one seen); quiet when history is unavailable. */
async function loadHistory(room, since) {
    let reply;
    try {
        reply = await request("history", since ? { room, since, limit: 1000 } : { room, limit: kHistoryLimit });
    } catch {
        return false;
    }
    if (!reply?.ok || !Array.isArray(reply.messages) || state.room !== room) {
        return false;
    }
    for (const m of reply.messages) {
        if (m.event === "message") {
            addMessage({ from: m.from, data: m.data, offset: m.offset, own: m.from === state.user.id });
        }
    }
    return true;
}

// --- presence --------------------------------------------------------------------------------

function renderPresence() {
    const people = new Map(state.members);
    if (state.room && state.user) {
        people.set(state.user.id, state.user.name); // we are here, whatever the server said
    }
    const items = [...people].sort((a, b) => a[1].localeCompare(b[1]));
    ui.presenceList.replaceChildren(
        ...items.map(([id, name]) => {
            const li = document.createElement("li");
            li.dataset.userId = id;
            li.textContent = id === state.user.id ? `${name} (you)` : name;
            li.title = id;
            return li;
        }),
    );
    const c = state.counts;
    const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    if (c && Number.isFinite(c.users)) {
        const clients = Number.isFinite(c.clients) ? `, ${count(c.clients, "connection", "connections")}` : "";
        ui.presenceSummary.textContent = `${count(c.users, "person", "people")}${clients}`;
    } else {
        ui.presenceSummary.textContent = `${count(items.length, "person", "people")} ${state.presenceLive ? "here" : "seen"}`;
    }
    ui.presence.dataset.live = state.presenceLive === null ? "pending" : String(state.presenceLive);
    ui.presenceNote.hidden = state.presenceLive !== false;
    ui.presenceNote.textContent =
        "Live presence is not available on this server yet: the list shows you and whoever " +
        "joined or left since you arrived.";
    // Names learnt since a message arrived replace the user ids it was shown with.
    for (const who of ui.messages.querySelectorAll(".message .from")) {
        who.textContent = nameOf(who.parentElement.dataset.from);
    }
}

function applyPresenceSnapshot({ clients, users }) {
    if (Array.isArray(users)) {
        state.members = new Map(users.map((u) => [u.id, u.name || u.id]));
        remember(users);
        state.counts = { clients, users: new Set(users.map((u) => u.id)).size };
    } else if (Number.isFinite(users)) {
        state.counts = { clients, users };
    }
}

async function refreshPresence(room) {
    let reply;
    try {
        reply = await request("presence", { room });
    } catch {
        reply = undefined;
    }
    if (state.room !== room) {
        return;
    }
    state.presenceLive = Boolean(reply?.ok);
    if (reply?.ok) {
        applyPresenceSnapshot({ clients: reply.clients, users: reply.users });
        if (Number.isFinite(reply.users)) {
            state.counts = { clients: reply.clients, users: reply.users };
        }
    }
    renderPresence();
}

function onPresenceEvent({ room, joined = [], left = [] } = {}) {
    if (room !== state.room) {
        return;
    }
    remember(joined);
    for (const u of joined) {
        state.members.set(u.id, u.name || u.id);
    }
    for (const u of left) {
        if (u.id !== state.user.id) {
            state.members.delete(u.id);
        }
    }
    state.counts = null; // stale now; the list is the truth until the next snapshot
    renderPresence();
}

// --- rooms -----------------------------------------------------------------------------------

async function joinRoom(room, { rejoin = false } = {}) {
    if (!rejoin) {
        // Set up before asking: room events can arrive in the same payload as the join ack.
        state.room = room;
        state.members = new Map();
        state.counts = null;
        state.presenceLive = null;
        clearMessages();
        ui.roomName.textContent = room;
    }
    let reply;
    try {
        reply = await request("join", { room });
        if (!reply?.ok) {
            throw new Error(`could not join "${room}": ${describeError(reply)}`);
        }
    } catch (err) {
        if (!rejoin && state.room === room) {
            state.room = null;
        }
        throw err;
    }
    if (!rejoin) {
        ui.roomView.hidden = false;
        ui.leave.hidden = false;
        ui.joinForm.querySelector('button[type="submit"]').textContent = "Switch";
    }
    if (reply.presence) {
        applyPresenceSnapshot(reply.presence);
    }
    renderPresence();
    // Both optional, so not awaited: the room is usable as soon as the join is acknowledged.
    const since = rejoin ? state.lastOffset : null;
    loadHistory(room, since).then((filled) => {
        const behind = since !== null && reply.offset && compareOffsets(reply.offset, since) > 0;
        if (rejoin && !filled && behind) {
            showNotice("Reconnected without recovery: messages sent while you were away may be missing.");
        }
    });
    refreshPresence(room);
}

async function leaveRoom() {
    const room = state.room;
    if (!room) {
        return;
    }
    state.room = null;
    ui.roomView.hidden = true;
    ui.leave.hidden = true;
    ui.joinForm.querySelector('button[type="submit"]').textContent = "Join";
    clearMessages();
    if (state.socket?.connected) {
        await request("leave", { room }).catch(() => {});
    }
}

/** "/roll NdM": the demo backend's custom event; the roll reaches the room as a message. */
async function roll(dice) {
    const reply = await request("roll", { room: state.room, dice: dice ?? "1d6" });
    if (!reply?.ok) {
        const why = reply?.error?.code === "unavailable" ? "the demo backend is not running" : describeError(reply);
        throw new Error(`roll failed: ${why}`);
    }
}

function addNotification(text) {
    const item = document.createElement("li");
    item.textContent = text;
    ui.notificationList.prepend(item);
    while (ui.notificationList.children.length > kMaxNotifications) {
        ui.notificationList.lastElementChild.remove();
    }
    ui.notifications.hidden = false;
}

async function publish(text) {
    const room = state.room;
    const data = { text };
    const reply = await request("publish", { room, event: "message", data });
    if (!reply?.ok) {
        throw new Error(`message not sent: ${describeError(reply)}`);
    }
    if (state.room === room) {
        addMessage({ from: state.user.id, data, offset: reply.offset, own: true });
    }
}

// --- connection ------------------------------------------------------------------------------

function connect() {
    setConnection("connecting");
    // withCredentials keeps the NGINX affinity cookie on every polling request.
    const socket = io({ auth: { token: state.token }, withCredentials: true });
    state.socket = socket;

    socket.io.on("open", () => {
        socket.io.engine.on("upgrade", refreshTransport);
    });
    socket.io.on("reconnect_attempt", (attempt) => setConnection("reconnecting", `attempt ${attempt}`));

    socket.on("connect", async () => {
        showNotice("");
        if (socket.recovered) {
            // Connection state recovery: still in the room, missed events were replayed.
            setConnection("recovered");
            return;
        }
        setConnection("connected");
        if (state.room) {
            try {
                await joinRoom(state.room, { rejoin: true });
            } catch (err) {
                showNotice(err.message);
            }
        }
    });

    socket.on("disconnect", (reason) => {
        if (reason === "io server disconnect" || reason === "io client disconnect") {
            setConnection("disconnected", reason === "io server disconnect" ? "by the server" : "");
        } else {
            setConnection("reconnecting", reason);
        }
    });

    socket.on("connect_error", (err) => {
        if (err.message === "unauthorized") {
            signOut(`Signed out: the server refused the token (${err.data?.code ?? "unauthorized"}).`);
            return;
        }
        setConnection(socket.active ? "reconnecting" : "disconnected", err.message);
    });

    socket.on("message", (data, meta, offset) => {
        if (meta?.room !== state.room) {
            return;
        }
        addMessage({ from: meta.from, data, offset: offset ?? meta.offset });
    });
    socket.on("presence", onPresenceEvent);
    socket.on("notice", (data) => {
        if (data && typeof data.text === "string") {
            addNotification(data.text);
        }
    });
    socket.on("kicked", ({ room, reason } = {}) => {
        if (room === state.room) {
            leaveRoom();
            showNotice(`You were removed from "${room}"${reason ? `: ${reason}` : ""}.`);
        }
    });
}

// --- sign in / out ---------------------------------------------------------------------------

async function signIn(name) {
    const res = await fetch("/roomcast/dev/token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name }),
        credentials: "same-origin",
    });
    if (!res.ok) {
        throw new Error(
            res.status === 404
                ? "Sign-in is not available: the edges run without --dev-tokens."
                : `Sign-in failed (HTTP ${res.status}).`,
        );
    }
    const body = await res.json();
    if (typeof body?.token !== "string" || typeof body?.user?.id !== "string") {
        throw new Error("Sign-in failed: unexpected answer from the server.");
    }
    start(body.token, body.user);
    sessionStorage.setItem(kSessionKey, JSON.stringify({ token: body.token, user: body.user }));
}

function start(token, user) {
    state.token = token;
    state.user = { id: user.id, name: user.name || user.id };
    ui.meName.textContent = state.user.name;
    ui.meId.textContent = state.user.id;
    ui.signin.hidden = true;
    ui.session.hidden = false;
    connect();
    ui.room.focus();
}

function signOut(message = "") {
    sessionStorage.removeItem(kSessionKey);
    state.socket?.disconnect();
    state.socket = null;
    state.room = null;
    state.user = null;
    state.token = null;
    clearMessages();
    ui.roomView.hidden = true;
    ui.leave.hidden = true;
    ui.session.hidden = true;
    ui.notificationList.replaceChildren();
    ui.notifications.hidden = true;
    ui.signin.hidden = false;
    setConnection("offline");
    showNotice(message);
    ui.name.focus();
}

// --- wiring ----------------------------------------------------------------------------------

/** Runs a form's action with its submit button disabled; errors go to the notice. */
function onSubmit(form, action) {
    form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        try {
            showNotice("");
            await action();
        } catch (err) {
            showNotice(err.message);
        } finally {
            button.disabled = false;
        }
    });
}

onSubmit(ui.signinForm, async () => {
    const name = ui.name.value.trim();
    if (name) {
        await signIn(name);
    }
});

onSubmit(ui.joinForm, async () => {
    const room = ui.room.value.trim();
    if (!kRoomPattern.test(room)) {
        throw new Error("Room names use letters, digits and _ : @ - (up to 128 characters).");
    }
    if (room === state.room) {
        return;
    }
    await leaveRoom();
    await joinRoom(room);
    ui.message.focus();
});

onSubmit(ui.publishForm, async () => {
    const text = ui.message.value.trim();
    if (!text || !state.room) {
        return;
    }
    const command = kRollCommand.exec(text);
    if (command) {
        await roll(command[1]);
    } else {
        await publish(text);
    }
    ui.message.value = "";
    ui.message.focus();
});

ui.leave.addEventListener("click", () => {
    leaveRoom();
    ui.room.focus();
});
ui.signout.addEventListener("click", () => signOut());

try {
    const saved = JSON.parse(sessionStorage.getItem(kSessionKey) ?? "null");
    if (saved?.token && saved?.user?.id) {
        start(saved.token, saved.user);
    } else {
        ui.name.focus();
    }
} catch {
    sessionStorage.removeItem(kSessionKey);
}
