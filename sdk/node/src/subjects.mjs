// Subject names and id rules of the Roomcast wire contract, spelled as libs/contract does
// (subjects.hpp, ids.hpp). A change here is a wire change: test/subjects.test.mjs pins the same
// golden vectors as libs/contract/src/subjects_test.cpp.

export const RPC_SUBJECT_PREFIX = 'roomcast.rpc.';
export const NAMESPACE_SUBJECT_PREFIX = 'roomcast.ns.';
export const HOOK_CONNECT_SUBJECT = 'roomcast.hook.connect';
export const HOOK_JOIN_SUBJECT = 'roomcast.hook.join';
export const HOOK_PUBLISH_SUBJECT = 'roomcast.hook.publish';
export const LIFECYCLE_SUBJECT_PREFIX = 'roomcast.lifecycle.';
export const LIFECYCLE_SUBJECTS = 'roomcast.lifecycle.>';
export const EMIT_SUBJECT = 'roomcast.emit';
export const ROOM_SUBJECT_PREFIX = 'roomcast.room.';
// Ephemeral room events: core NATS beside the stream's subjects, so nothing stores them.
export const EPHEMERAL_SUBJECT_PREFIX = 'roomcast.ephemeral.';

export const MAX_ROOM_ID_BYTES = 128;
export const MAX_USER_ID_BYTES = 256;
export const MAX_SOCKET_ID_BYTES = 64;
export const MAX_EVENT_NAME_BYTES = 128;
export const MAX_NAMESPACE_BYTES = 128;

// Socket.IO's reserved event names (protocol::sio::is_reserved_event).
export const SOCKETIO_RESERVED_EVENTS = Object.freeze([
  'connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener',
]);
// Roomcast's own events (contract::kProtocolEvents).
export const PROTOCOL_EVENTS = Object.freeze([
  'join', 'leave', 'publish', 'history', 'presence', 'kicked', 'refresh',
]);

const TOKEN_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:@-') {
  TOKEN_BYTE[c.charCodeAt(0)] = 1;
}
const HEX = '0123456789ABCDEF';

// A name as one subject token: bytes of its UTF-8 in [A-Za-z0-9_:@-] as they are, every other
// byte as %XX (upper-case hex). "" for "".
export function subjectToken(name) {
  const bytes = Buffer.from(String(name), 'utf8');
  let out = '';
  for (const b of bytes) {
    out += TOKEN_BYTE[b] ? String.fromCharCode(b) : '%' + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

// roomcast.rpc.<event> for "/", roomcast.ns.<namespace without its leading "/">.rpc.<event>
// otherwise.
export function rpcSubject(nsp, event) {
  if (nsp === '/' || nsp === '') {
    return RPC_SUBJECT_PREFIX + subjectToken(event);
  }
  const name = nsp.startsWith('/') ? nsp.slice(1) : nsp;
  return NAMESPACE_SUBJECT_PREFIX + subjectToken(name) + '.rpc.' + subjectToken(event);
}

export function lifecycleSubject(edge) {
  return LIFECYCLE_SUBJECT_PREFIX + edge;
}

export function roomSubject(room) {
  return ROOM_SUBJECT_PREFIX + room;
}

export function ephemeralSubject(room) {
  return EPHEMERAL_SUBJECT_PREFIX + room;
}

const ROOM_ID_RE = /^[A-Za-z0-9_:@-]{1,128}$/;
const SOCKET_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function validRoomId(room) {
  return typeof room === 'string' && ROOM_ID_RE.test(room);
}

export function validSocketId(id) {
  return typeof id === 'string' && SOCKET_ID_RE.test(id);
}

// 1..256 bytes of UTF-8: a string with a lone surrogate has no UTF-8 spelling.
export function validUserId(id) {
  if (typeof id !== 'string' || id.length === 0 || !id.isWellFormed()) {
    return false;
  }
  return Buffer.byteLength(id, 'utf8') <= MAX_USER_ID_BYTES;
}

export function reservedEvent(name) {
  return SOCKETIO_RESERVED_EVENTS.includes(name) || PROTOCOL_EVENTS.includes(name);
}

// Event names a server may emit (to a room, a user or a socket): 1..128 bytes, not reserved.
export function validEventName(name) {
  if (typeof name !== 'string' || name.length === 0 || !name.isWellFormed()) {
    return false;
  }
  return Buffer.byteLength(name, 'utf8') <= MAX_EVENT_NAME_BYTES && !reservedEvent(name);
}

// "/" or "/" followed by 1..127 bytes of printable ASCII other than space.
export function validNamespace(nsp) {
  if (typeof nsp !== 'string' || nsp.length === 0 || nsp.length > MAX_NAMESPACE_BYTES ||
      nsp[0] !== '/') {
    return false;
  }
  for (let i = 0; i < nsp.length; i++) {
    const c = nsp.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

// Names a backend may handle as custom events: what an edge can send as a CustomEvent.
// Socket.IO's reserved names never are; Roomcast's own events are not custom on "/" only
// (other namespaces carry every event but Socket.IO's as custom events, docs/backends.md).
export function validCustomEventName(nsp, name) {
  if (typeof name !== 'string' || name.length === 0 || !name.isWellFormed() ||
      Buffer.byteLength(name, 'utf8') > MAX_EVENT_NAME_BYTES) {
    return false;
  }
  if (SOCKETIO_RESERVED_EVENTS.includes(name)) {
    return false;
  }
  return nsp !== '/' || !PROTOCOL_EVENTS.includes(name);
}
