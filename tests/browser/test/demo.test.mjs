// The demo app in headless Chromium against the real stack (tests/e2e/lib/stack.mjs): NATS, two
// edges and NGINX serving web/dist. Two users, each in a browser of their own (fresh profile,
// own cookies), pinned to different edges through the affinity cookie so that the message has to
// cross NATS: both sign in, join the same room, one sends, the other sees it. The demo backend
// (examples/demo-backend, on @roomcast/backend) runs beside them as the NATS role "backend", as
// scripts/up runs it: /roll (a custom event), moderation (the publish hook) and the welcome
// notice (a lifecycle event answered with an emit to the user) are driven from the pages.
//
// Needs the edge binary (${ROOMCAST_BUILD_DIR:-build}/services/edge/roomcast_edge), web/dist
// (npm run build in web/), Chromium (/usr/bin/chromium, or ROOMCAST_CHROMIUM) and the npm
// packages of sdk/node and examples/demo-backend; scripts/test provides them all. ROOMCAST_E2E_SERVER_LOG=1 shows the services' output.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { edgeBinaryPath, repoDir, startStack } from "../../e2e/lib/stack.mjs";

const webRoot = path.join(repoDir, "web", "dist");
const demoBackendDir = path.join(repoDir, "examples", "demo-backend");
const chromiumPath = process.env.ROOMCAST_CHROMIUM || "/usr/bin/chromium";
const kChromiumArgs = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
// Every wait on the page; generous for a loaded CI machine, far below the test timeout.
const kUiTimeoutMs = 15_000;

let stack;
const browsers = []; // { context, dir }
const pageErrors = [];
const room = `demo-e2e-${process.pid}-${Date.now().toString(36)}`;
let alice;
let bob;
let demoBackend; // { child, output: string[] }

before(async () => {
    const edge = edgeBinaryPath();
    if (!existsSync(edge)) {
        throw new Error(
            `browser test: the Roomcast edge binary is missing (${edge}). It runs the real stack, ` +
                "so it passes only once services/edge builds roomcast_edge (scripts/test builds it).",
        );
    }
    if (!existsSync(path.join(webRoot, "index.html"))) {
        throw new Error(`browser test: ${webRoot} is missing: run "npm ci && npm run build" in web/ (scripts/test does)`);
    }
    if (!existsSync(chromiumPath)) {
        throw new Error(
            `browser test: Chromium not found at ${chromiumPath}: apt-get install chromium (scripts/test does) ` +
                "or set ROOMCAST_CHROMIUM",
        );
    }
    if (!existsSync(path.join(demoBackendDir, "node_modules", "@roomcast", "backend"))) {
        throw new Error(`browser test: run "npm ci" in sdk/node and in ${demoBackendDir} (scripts/test does)`);
    }
    // As scripts/up starts the edges when the demo backend runs.
    stack = await startStack({
        edges: ["edge-1", "edge-2"],
        services: ["presence"],
        webRoot,
        edgeArgs: ["--hook-publish-prefixes", "*", "--hook-publish-fail", "open"],
    });
    demoBackend = await startDemoBackend();
    alice = await openUser("Alice", "edge-1");
    bob = await openUser("Bob", "edge-2");
});

after(async () => {
    for (const { context, dir } of browsers) {
        await context.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
    }
    if (demoBackend && demoBackend.child.exitCode === null && demoBackend.child.signalCode === null) {
        const exited = new Promise((resolve) => demoBackend.child.once("exit", resolve));
        demoBackend.child.kill("SIGTERM");
        const timer = setTimeout(() => demoBackend.child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
    }
    await stack?.stop();
});

/** examples/demo-backend as scripts/up runs it: the backend role's URL; resolves once ready. */
async function startDemoBackend() {
    const { user, pass } = stack.natsCredentials("backend");
    const url = new URL(stack.natsUrl);
    url.username = encodeURIComponent(user);
    url.password = encodeURIComponent(pass);
    const child = spawn(process.execPath, [path.join(demoBackendDir, "index.mjs")], {
        env: { PATH: process.env.PATH, ROOMCAST_BACKEND_NATS_URL: url.toString() },
        stdio: ["ignore", "pipe", "pipe"],
    });
    const output = [];
    const ready = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo backend not ready in 15 s:\n${output.join("")}`)), 15_000);
        const onData = (chunk) => {
            output.push(chunk.toString());
            if (output.join("").includes('"msg":"demo backend ready"')) {
                clearTimeout(timer);
                resolve();
            }
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", (chunk) => output.push(chunk.toString()));
        child.once("exit", (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`demo backend exited (${code ?? signal}) before it was ready:\n${output.join("")}`));
        });
    });
    await ready;
    return { child, output };
}

/** A browser of its own (fresh profile) on the demo page, its affinity cookie set to `edgeId`. */
async function openUser(name, edgeId) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "roomcast-chromium-"));
    const context = await chromium.launchPersistentContext(dir, {
        executablePath: chromiumPath,
        headless: true,
        args: kChromiumArgs,
        timeout: 30_000,
    });
    browsers.push({ context, dir });
    await context.addCookies([{ name: "roomcast_affinity", value: edgeId, url: stack.nginxUrl }]);
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(kUiTimeoutMs);
    page.on("pageerror", (err) => pageErrors.push(`${name}: ${err.message}`));
    await page.goto(stack.nginxUrl);
    return { name, edgeId, context, page };
}

async function affinityOf(user) {
    const cookies = await user.context.cookies(stack.nginxUrl);
    return cookies.find((c) => c.name === "roomcast_affinity")?.value;
}

async function signInAndJoin({ page, name }) {
    await page.getByLabel("Your name", { exact: true }).fill(name);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.locator('#connection[data-state="connected"]').waitFor();
    await page.getByLabel("Room", { exact: true }).fill(room);
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await page.getByRole("heading", { name: `Messages in ${room}` }).waitFor();
    await page.getByLabel("Message", { exact: true }).waitFor();
}

async function send({ page }, text) {
    await page.getByLabel("Message", { exact: true }).fill(text);
    await page.getByRole("button", { name: "Send", exact: true }).click();
    // Our own message appears once the publish ack (with its offset) is back.
    const own = page.locator("#messages li.own", { hasText: text });
    await own.waitFor();
    return own.getAttribute("data-offset");
}

test("two users sign in, join the same room and see each other's messages across edges", async () => {
    await signInAndJoin(alice);
    await signInAndJoin(bob);
    assert.equal(await alice.page.locator("#me-name").textContent(), "Alice");

    const offset = await send(alice, "Hello from Alice");
    assert.match(offset, /^\d+$/, "the publish ack's offset is a decimal string");
    const atBob = bob.page.locator("#messages li", { hasText: "Hello from Alice" });
    await atBob.waitFor();
    assert.equal(await atBob.getAttribute("data-offset"), offset, "the receiver sees the publisher's offset");
    assert.equal(await atBob.getAttribute("data-from"), await alice.page.locator("#me-id").textContent());

    const reply = await send(bob, "Hi Alice, Bob here");
    await alice.page.locator("#messages li", { hasText: "Hi Alice, Bob here" }).waitFor();
    assert.ok(BigInt(reply) > BigInt(offset), `offsets increase within the room: ${offset} then ${reply}`);

    // The publisher does not get its own message twice (no echo unless asked for).
    assert.equal(await alice.page.locator("#messages li", { hasText: "Hello from Alice" }).count(), 1);

    // Each user stayed on its edge: NATS carried the messages between them.
    assert.equal(await affinityOf(alice), "edge-1");
    assert.equal(await affinityOf(bob), "edge-2");
    assert.deepEqual(pageErrors, [], "no uncaught errors in the pages");
});

test("the connection status shows the live transport", async () => {
    for (const user of [alice, bob]) {
        const status = user.page.locator("#connection");
        await user.page.locator('#connection[data-state="connected"][data-transport="websocket"]').waitFor();
        assert.match(await status.textContent(), /Connected · via websocket/);
    }
});

// Both users see each other in "Who is here": the presence service aggregates both edges.
test("both users see each other in 'Who is here'", async () => {
    // The page marks the panel data-live="true" or "false" once "presence" was answered or timed out.
    await alice.page.locator('#presence:not([data-live="pending"])').waitFor();
    assert.equal(await alice.page.locator("#presence").getAttribute("data-live"), "true",
        "the presence request must be answered");
    for (const [user, other] of [[alice, bob], [bob, alice]]) {
        await user.page.locator("#presence-list li", { hasText: other.name }).waitFor();
    }
});

// The demo backend's features, driven from the pages.
test("the demo backend welcomes each user with a notice sent to that user only", async () => {
    // Both joined the room in the first test: each got its own welcome (lifecycle join → toUser).
    for (const user of [alice, bob]) {
        await user.page
            .locator("#notification-list li", { hasText: `Welcome to ${room}, ${user.name}!` })
            .waitFor();
    }
    for (const [user, other] of [[alice, bob], [bob, alice]]) {
        assert.equal(
            await user.page.locator("#notification-list li", { hasText: `${other.name}!` }).count(),
            0,
            `${user.name} does not get ${other.name}'s welcome`,
        );
    }
});

test("/roll is answered by the demo backend and the roll reaches everyone in the room", async () => {
    await alice.page.getByLabel("Message", { exact: true }).fill("/roll 3d6");
    await alice.page.getByRole("button", { name: "Send", exact: true }).click();
    const rolled = /Alice rolled 3d6: \d \+ \d \+ \d = \d+/;
    for (const user of [alice, bob]) {
        const item = user.page.locator("#messages li", { hasText: rolled });
        await item.waitFor();
        assert.equal(await item.getAttribute("data-from"), "server", "the roll is a server event");
        assert.match(await item.getAttribute("data-offset"), /^\d+$/, "stored: it has an offset");
    }
    // A malformed roll is refused with the backend's message, and nothing is posted.
    await alice.page.getByLabel("Message", { exact: true }).fill("/roll 99d1000");
    await alice.page.getByRole("button", { name: "Send", exact: true }).click();
    await alice.page.locator("#notice", { hasText: "roll failed: bad_request" }).waitFor();
});

test("the demo backend's moderation refuses a message with a listed word, visibly", async () => {
    await alice.page.getByLabel("Message", { exact: true }).fill("buy cheap spam now");
    await alice.page.getByRole("button", { name: "Send", exact: true }).click();
    await alice.page.locator("#notice", { hasText: "message not sent: forbidden" }).waitFor();
    assert.match(await alice.page.locator("#notice").textContent(), /moderation/);
    // A clean message after it goes through; the refused one never reached Bob.
    const offset = await send(alice, "a clean message");
    await bob.page.locator("#messages li", { hasText: "a clean message" }).waitFor();
    assert.match(offset, /^\d+$/);
    assert.equal(await bob.page.locator("#messages li", { hasText: "spam" }).count(), 0);
    assert.deepEqual(pageErrors, [], "no uncaught errors in the pages");
});
