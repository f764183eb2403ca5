// gRPC clients of the admin APIs (rooms, presence, auth) for end-to-end tests: @grpc/grpc-js with
// the project's own .proto files, every call bounded by a deadline, the bearer token added unless
// a test asks for none (to check UNAUTHENTICATED).

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import path from "node:path";
import { repoDir } from "./stack.mjs";

const protoDir = path.join(repoDir, "proto");
const definition = protoLoader.loadSync(
    ["roomcast/rooms/v1/rooms.proto", "roomcast/presence/v1/presence.proto", "roomcast/auth/v1/auth.proto"],
    { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
);
const loaded = grpc.loadPackageDefinition(definition);
export const services = {
    rooms: loaded.roomcast.rooms.v1.RoomAdmin,
    presence: loaded.roomcast.presence.v1.Presence,
    auth: loaded.roomcast.auth.v1.Auth,
};

/**
 * A client of `service` ("rooms" | "presence" | "auth") at `address`, whose methods return
 * promises: `await client.call("CreateRoom", {...})`. `token` null sends no authorization.
 */
export function adminClient(service, address, token) {
    const Ctor = services[service];
    const client = new Ctor(address, grpc.credentials.createInsecure());
    const metadata = () => {
        const md = new grpc.Metadata();
        if (token != null) {
            md.add("authorization", `Bearer ${token}`);
        }
        return md;
    };
    return {
        raw: client,
        metadata,
        call(method, request = {}, { timeout = 10_000 } = {}) {
            return new Promise((resolve, reject) => {
                client[method](request, metadata(), { deadline: Date.now() + timeout }, (err, reply) =>
                    err ? reject(err) : resolve(reply),
                );
            });
        },
        close() {
            client.close();
        },
    };
}

/** Resolves with the gRPC status code name of a rejected call ("UNAUTHENTICATED", ...). */
export async function statusOf(promise) {
    try {
        await promise;
        return "OK";
    } catch (err) {
        return grpc.status[err.code] ?? String(err.code);
    }
}
