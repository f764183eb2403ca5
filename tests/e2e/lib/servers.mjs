// Starts the server under test as a child process and hands back how to reach and stop it.
//
// Target (env ROOMCAST_E2E_TARGET):
//   cpp (default)  the C++ conformance server at
//                  ${ROOMCAST_BUILD_DIR:-<repo>/build}/tests/conformance/roomcast_conformance_server
//   reference      fixtures/reference-server.mjs (socket.io from npm), same flags, same log line
//
// Both are started with --host 127.0.0.1 --port 0 and we read the bound port from the JSON
// "listening" line they print on stderr. Every started server is remembered until it has exited,
// and killed from a process "exit" hook, so a failing or interrupted test never leaks a process.
// Set ROOMCAST_E2E_SERVER_LOG=1 to copy the server's stdout/stderr to ours.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const e2eDir = path.resolve(here, "..");
const repoDir = path.resolve(e2eDir, "..", "..");

// Deadline for the "listening" line; a server that needs longer is broken for our purposes.
const kStartDeadlineMs = 10_000;
// SIGTERM grace period before SIGKILL.
const kStopGraceMs = 5_000;
// How many of the server's last output lines we keep to explain a failure.
const kLogTailLines = 60;

export const target = (process.env.ROOMCAST_E2E_TARGET || "cpp").toLowerCase();
if (target !== "cpp" && target !== "reference") {
    throw new Error(`ROOMCAST_E2E_TARGET must be "cpp" or "reference", got "${target}"`);
}
export const isReference = target === "reference";

export function conformanceBinaryPath() {
    const buildDir = process.env.ROOMCAST_BUILD_DIR
        ? path.resolve(process.env.ROOMCAST_BUILD_DIR)
        : path.join(repoDir, "build");
    return path.join(buildDir, "tests", "conformance", "roomcast_conformance_server");
}

export const referenceServerPath = path.join(e2eDir, "fixtures", "reference-server.mjs");

const live = new Set();

function killAllNow() {
    for (const child of live) {
        try {
            child.kill("SIGKILL");
        } catch {
            // already gone
        }
    }
}

process.on("exit", killAllNow);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(signal, () => {
        killAllNow();
        process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 })[signal]);
    });
}

function commandFor(args) {
    if (isReference) {
        return { file: process.execPath, argv: [referenceServerPath, ...args] };
    }
    const bin = conformanceBinaryPath();
    if (!existsSync(bin)) {
        throw new Error(
            `conformance server not found at ${bin}: build it (target roomcast_conformance_server), ` +
                "point ROOMCAST_BUILD_DIR at the build directory, " +
                "or run against the Node reference with ROOMCAST_E2E_TARGET=reference",
        );
    }
    return { file: bin, argv: args };
}

function parseListening(line) {
    if (!line.includes('"listening"')) {
        return undefined;
    }
    try {
        const rec = JSON.parse(line);
        if (rec && rec.msg === "listening" && Number.isInteger(rec.port) && rec.port > 0) {
            return rec.port;
        }
    } catch {
        const m = /"msg"\s*:\s*"listening"/.test(line) && /"port"\s*:\s*(\d+)/.exec(line);
        if (m) {
            return Number(m[1]);
        }
    }
    return undefined;
}

/**
 * Starts the selected server.
 * @param {object} [options]
 * @param {string[]} [options.args] extra flags, e.g. ["--ping-interval", "25s"]
 * @returns {Promise<{port:number,url:string,pid:number,target:string,logTail:()=>string,
 *                    stop:()=>Promise<{code:number|null,signal:string|null}>}>}
 */
export async function startServer({ args = [] } = {}) {
    const { file, argv } = commandFor(["--host", "127.0.0.1", "--port", "0", ...args]);
    const child = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);

    const tail = [];
    const echo = process.env.ROOMCAST_E2E_SERVER_LOG === "1";
    let exitInfo;
    let stopping = false;
    const exited = new Promise((resolve) => {
        child.once("exit", (code, signal) => {
            exitInfo = { code, signal };
            live.delete(child);
            resolve(exitInfo);
        });
    });
    let spawnError;
    child.once("error", (err) => {
        spawnError = err;
        live.delete(child);
    });

    let onListening;
    const listening = new Promise((resolve) => {
        onListening = resolve;
    });
    // Both pipes are drained for the whole life of the server: a full pipe would block its logger.
    const drain = (stream, name) => {
        let partial = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => {
            if (echo) {
                process.stderr.write(chunk);
            }
            partial += chunk;
            let nl;
            while ((nl = partial.indexOf("\n")) >= 0) {
                const line = partial.slice(0, nl);
                partial = partial.slice(nl + 1);
                tail.push(`[${name}] ${line}`);
                if (tail.length > kLogTailLines) {
                    tail.shift();
                }
                const port = name === "stderr" ? parseListening(line) : undefined;
                if (port !== undefined) {
                    onListening(port);
                }
            }
        });
    };
    drain(child.stdout, "stdout");
    drain(child.stderr, "stderr");

    const logTail = () => (tail.length ? tail.join("\n") : "(no output)");
    const describe = `${target} server (pid ${child.pid}, ${path.basename(file)} ${argv.join(" ")})`;

    let timer;
    const deadline = new Promise((resolve) => {
        timer = setTimeout(() => resolve("deadline"), kStartDeadlineMs);
    });
    const first = await Promise.race([
        listening.then((port) => ({ port })),
        exited.then((info) => ({ exit: info })),
        deadline.then(() => ({ deadline: true })),
    ]);
    clearTimeout(timer);
    if (first.port === undefined) {
        child.kill("SIGKILL");
        await exited;
        const why = spawnError
            ? `failed to spawn: ${spawnError.message}`
            : first.exit
              ? `exited (code ${first.exit.code}, signal ${first.exit.signal}) before logging "listening"`
              : `did not log a "listening" line with a port within ${kStartDeadlineMs} ms`;
        throw new Error(`${describe} ${why}\n--- server output ---\n${logTail()}`);
    }

    const port = first.port;
    return {
        port,
        url: `http://127.0.0.1:${port}`,
        pid: child.pid,
        target,
        logTail,
        /** Exit status if the server already exited on its own (a crash), else undefined. */
        crashed: () => (!stopping && exitInfo ? exitInfo : undefined),
        /**
         * SIGTERM, up to 5 s grace, then SIGKILL. Throws if the server had already died on its own,
         * so a crash during a test is reported even when the test itself passed.
         */
        async stop() {
            if (exitInfo && !stopping) {
                throw new Error(
                    `${describe} exited during the test (code ${exitInfo.code}, signal ${exitInfo.signal})` +
                        `\n--- server output ---\n${logTail()}`,
                );
            }
            if (exitInfo) {
                return exitInfo;
            }
            stopping = true;
            child.kill("SIGTERM");
            let graceTimer;
            const graceOver = new Promise((resolve) => {
                graceTimer = setTimeout(() => resolve(undefined), kStopGraceMs);
            });
            const info = await Promise.race([exited, graceOver]);
            clearTimeout(graceTimer);
            if (info) {
                return info;
            }
            child.kill("SIGKILL");
            await exited;
            throw new Error(
                `${describe} did not exit within ${kStopGraceMs} ms of SIGTERM and was killed` +
                    `\n--- server output ---\n${logTail()}`,
            );
        },
    };
}
