// Plays the edge's side of the contract: raw NATS requests and publishes carrying encoded
// protobufs, decoded replies. Every wait is bounded.
import { connect } from '@nats-io/transport-node';
import { decode, encode, types } from '../../src/proto.mjs';

export const T = types();

export async function edgeConnection(server) {
  return connect({ ...server.edgeAuth, name: 'test-edge' });
}

export function client(overrides = {}) {
  return {
    user_id: 'alice',
    user_name: 'Alice',
    claims_json: '{"role":"staff"}',
    socket_id: 'sock-1',
    edge_id: 'edge-1',
    namespace: '/',
    rooms: ['post:1'],
    remote_address: '203.0.113.7',
    ...overrides,
  };
}

export async function request(nc, subject, Req, Reply, body, timeout = 5000) {
  const msg = await nc.request(subject, encode(Req, body), { timeout });
  return decode(Reply, msg.data);
}

// Resolves with the first message on `subject`, or null when none came within `ms`.
export function firstMessage(nc, subject, ms) {
  return new Promise((resolve) => {
    const sub = nc.subscribe(subject, { max: 1 });
    const timer = setTimeout(() => {
      sub.unsubscribe();
      resolve(null);
    }, ms);
    (async () => {
      for await (const m of sub) {
        clearTimeout(timer);
        resolve(m);
      }
    })();
  });
}

// A promise with its resolve, and a bounded wait on it.
export function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export { decode, encode };
