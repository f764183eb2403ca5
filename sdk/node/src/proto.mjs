// The wire messages (proto/roomcast/backend/v1/backend.proto, proto/roomcast/bus/v1/bus.proto),
// loaded at run time with protobufjs from the repository's proto/ (one source of truth), or
// from the copy `npm pack` puts into the package (scripts/copy-proto.mjs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import protobuf from 'protobufjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PROTO_FILES = ['roomcast/backend/v1/backend.proto', 'roomcast/bus/v1/bus.proto'];
export const PROTO_DIRS = [
  path.resolve(here, '../../../proto'), // the repository: sdk/node/src → proto/
  path.resolve(here, '../proto'), // the packed package
];

export function findProtoDir(dirs = PROTO_DIRS) {
  for (const dir of dirs) {
    if (PROTO_FILES.every((f) => existsSync(path.join(dir, f)))) return dir;
  }
  throw new Error(`roomcast proto files not found in ${dirs.join(' or ')}`);
}

export function loadTypes(dirs = PROTO_DIRS) {
  const dir = findProtoDir(dirs);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(dir, target);
  // keepCase: fields are the proto's snake_case names, as docs/backends.md spells them.
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  const b = 'roomcast.backend.v1.';
  return {
    dir,
    CustomEvent: root.lookupType(b + 'CustomEvent'),
    CustomEventReply: root.lookupType(b + 'CustomEventReply'),
    ConnectHook: root.lookupType(b + 'ConnectHook'),
    ConnectHookReply: root.lookupType(b + 'ConnectHookReply'),
    JoinHook: root.lookupType(b + 'JoinHook'),
    JoinHookReply: root.lookupType(b + 'JoinHookReply'),
    PublishHook: root.lookupType(b + 'PublishHook'),
    PublishHookReply: root.lookupType(b + 'PublishHookReply'),
    LifecycleBatch: root.lookupType(b + 'LifecycleBatch'),
    LifecycleEvent: root.lookupType(b + 'LifecycleEvent'),
    Emit: root.lookupType(b + 'Emit'),
    RoomEvent: root.lookupType('roomcast.bus.v1.RoomEvent'),
  };
}

let cached;
export function types() {
  cached ??= loadTypes();
  return cached;
}

const TO_OBJECT = { longs: Number, enums: String, defaults: true, arrays: true, oneofs: true };

// Decodes `data` as `type` into a plain object (int64 as numbers, enums as names, defaults
// filled in). Throws on bytes that are not the message.
export function decode(type, data) {
  return type.toObject(type.decode(data), TO_OBJECT);
}

export function encode(type, object) {
  return type.encode(type.fromObject(object)).finish();
}
