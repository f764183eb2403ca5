// What the nats-server monitoring endpoint says about a JetStream cluster: whether it is ready
// (every node answers, JetStream is healthy, all see the same meta leader) and which node leads
// a stream. Used by scripts/bench (bench.sh waits for a cluster, bench_measure.mjs kills the
// room stream's leader) and by the e2e harness (tests/e2e/lib/stack.mjs).
//
//   node scripts/lib/nats_cluster.mjs ready PORT[,PORT...]
//     exits 0 when the nodes whose monitoring ports are given are ready as a cluster of that
//     many (one check, no waiting: the caller polls with its own deadline), else 1 with why.
//   node scripts/lib/nats_cluster.mjs leader PORT[,PORT...] STREAM
//     prints the server_name of STREAM's leader and of the meta leader ("<stream> <meta>").
//
// Each request is bounded (kRequestMs); a node that does not answer is "not ready", and a
// leader is taken from the first node that reports one.
import process from "node:process";
import { fileURLToPath } from "node:url";

const kRequestMs = 2_000;

async function getJson(port, pathAndQuery) {
    const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { signal: AbortSignal.timeout(kRequestMs) });
    return { status: res.status, body: await res.json().catch(() => undefined) };
}

/**
 * Why the nodes at `monitorPorts` are not (yet) a ready JetStream cluster, or "" when they are:
 * every node's /healthz is 200 and every node's /jsz names the same meta leader in a meta group
 * of all of them (a single node: /healthz alone).
 */
export async function clusterNotReady(monitorPorts) {
    const leaders = new Set();
    for (const port of monitorPorts) {
        let health;
        let jsz;
        try {
            health = await getJson(port, "/healthz");
            jsz = monitorPorts.length > 1 ? await getJson(port, "/jsz") : undefined;
        } catch (err) {
            return `node with monitor port ${port} does not answer (${err.name})`;
        }
        if (health.status !== 200) {
            return `node with monitor port ${port}: /healthz ${health.status} ${JSON.stringify(health.body)}`;
        }
        if (jsz) {
            const meta = jsz.body?.meta_cluster;
            if (!meta?.leader) {
                return `node with monitor port ${port} sees no JetStream meta leader`;
            }
            if (meta.cluster_size !== monitorPorts.length) {
                return `node with monitor port ${port}: meta group of ${meta.cluster_size}, expected ${monitorPorts.length}`;
            }
            leaders.add(meta.leader);
        }
    }
    return leaders.size > 1 ? `the nodes disagree on the meta leader (${[...leaders].join(", ")})` : "";
}

/**
 * {stream, meta}: the server_name of `stream`'s leader (undefined while it has none, or when
 * the stream does not exist) and of the JetStream meta leader, from the first node of
 * `monitorPorts` that answers with both (the others are asked in turn).
 */
export async function leaders(monitorPorts, stream) {
    let last = {};
    for (const port of monitorPorts) {
        try {
            const { body } = await getJson(port, "/jsz?accounts=true&streams=true");
            let streamLeader;
            for (const account of body?.account_details ?? []) {
                for (const s of account.stream_detail ?? []) {
                    if (s.name === stream) {
                        streamLeader = s.cluster?.leader;
                    }
                }
            }
            last = { stream: streamLeader, meta: body?.meta_cluster?.leader };
            if (last.stream && last.meta) {
                return last;
            }
        } catch {
            // a dead or slow node: ask the next one
        }
    }
    return last;
}

async function main(argv) {
    const [cmd, portList, stream] = argv;
    const ports = (portList ?? "").split(",").filter(Boolean).map(Number);
    if (!ports.length || ports.some((p) => !Number.isInteger(p) || p <= 0)) {
        process.stderr.write("usage: nats_cluster.mjs ready PORT[,PORT...] | leader PORT[,PORT...] STREAM\n");
        return 2;
    }
    if (cmd === "ready") {
        const why = await clusterNotReady(ports);
        if (why) {
            process.stderr.write(`${why}\n`);
            return 1;
        }
        return 0;
    }
    if (cmd === "leader" && stream) {
        const l = await leaders(ports, stream);
        process.stdout.write(`${l.stream ?? "-"} ${l.meta ?? "-"}\n`);
        return l.stream ? 0 : 1;
    }
    process.stderr.write(`nats_cluster.mjs: unknown command ${cmd}\n`);
    return 2;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    process.exitCode = await main(process.argv.slice(2));
}
