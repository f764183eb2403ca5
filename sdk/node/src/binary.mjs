// Socket.IO's binary convention on the wire: JSON text with {"_placeholder":true,"num":i}
// where attachments[i] belongs (docs/backends.md, "Wire format").
import { RoomcastError } from './errors.mjs';

function isBinary(v) {
  return Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof ArrayBuffer ||
    ArrayBuffer.isView(v);
}

function toBuffer(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

// A value as {json, attachments}: every Buffer, Uint8Array, typed array or ArrayBuffer becomes a
// placeholder. `undefined` is JSON null (the wire has no undefined). Throws a TypeError for what
// JSON cannot carry (cycles, BigInt).
export function deconstruct(value) {
  const attachments = [];
  const seen = new Set();
  const walk = (v) => {
    if (isBinary(v)) {
      attachments.push(toBuffer(v));
      return { _placeholder: true, num: attachments.length - 1 };
    }
    if (v === null || typeof v !== 'object') return v;
    if (typeof v.toJSON === 'function') return walk(v.toJSON());
    if (seen.has(v)) throw new TypeError('cyclic value cannot be sent as JSON');
    seen.add(v);
    let out;
    if (Array.isArray(v)) {
      out = v.map((x) => {
        const w = walk(x);
        // JSON.stringify writes null for these inside arrays; keep the index.
        return w === undefined || typeof w === 'function' || typeof w === 'symbol' ? null : w;
      });
    } else {
      out = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
    }
    seen.delete(v);
    return out;
  };
  const json = JSON.stringify(walk(value === undefined ? null : value));
  return { json: json === undefined ? 'null' : json, attachments };
}

// The arguments of a call as a JSON array with attachments.
export function deconstructArgs(args) {
  return deconstruct(args.map((a) => (a === undefined ? null : a)));
}

// JSON text with attachments back to a value: placeholders become the Buffers. "" is `empty`.
// Throws RoomcastError('bad_request') for text that is not JSON or a placeholder with no
// attachment.
export function reconstruct(json, attachments, empty = null) {
  if (json === '' || json === undefined || json === null) return empty;
  let value;
  try {
    value = JSON.parse(json);
  } catch {
    throw new RoomcastError('bad_request', 'malformed JSON');
  }
  attachments ??= [];
  const walk = (v) => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = walk(v[i]);
      return v;
    }
    if (v._placeholder === true && typeof v.num === 'number') {
      if (!Number.isInteger(v.num) || v.num < 0 || v.num >= attachments.length) {
        throw new RoomcastError('bad_request', 'placeholder without attachment');
      }
      return attachments[v.num];
    }
    for (const k of Object.keys(v)) v[k] = walk(v[k]);
    return v;
  };
  return walk(value);
}
