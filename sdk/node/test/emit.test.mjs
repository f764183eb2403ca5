// Emits: to a room (JetStream publish, offsets, a stored RoomEvent), ephemeral to a room (core
// RoomEvent on roomcast.ephemeral.<room>, nothing stored), to a user and a socket (core Emit on
// roomcast.emit); client-side validation; connect() options.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { jetstreamManager } from '@nats-io/jetstream';

import { connect, parseServers, RoomcastError } from '../src/index.mjs';
import { PASS, startNatsServer } from './lib/nats-server.mjs';
import { decode, edgeConnection, firstMessage, T } from './lib/edge.mjs';

let server;
let edge;
let jsm;
let rc;
const logged = [];
const logger = { error: (msg, err) => logged.push(`${msg} ${err?.message ?? ''}`), warn: (msg) => logged.push(msg) };

before(async () => {
  server = await startNatsServer();
  edge = await edgeConnection(server);
  jsm = await jetstreamManager(edge);
  await jsm.streams.add({ name: 'ROOMCAST_ROOMS', subjects: ['roomcast.room.>'] });
  rc = await connect({ servers: server.urlWithCredentials, logger });
});

after(async () => {
  await rc?.close();
  await edge?.close();
  await server?.stop();
});

async function storedCount() {
  return (await jsm.streams.info('ROOMCAST_ROOMS')).state.messages;
}

test('to(room).emit returns increasing offsets and stores a decodable RoomEvent', async () => {
  const before = Date.now();
  const img = Buffer.from([1, 2, 3]);
  const first = await rc.to('post:42').emit('comment', { text: 'hi', img });
  const second = await rc.to('post:42').emit('comment', { text: 'again' }, { exceptSocket: 'sock-9' });
  const third = await rc.to('post:7').emit('noop');
  assert.equal(typeof first, 'string');
  assert.ok(BigInt(second) > BigInt(first) && BigInt(third) > BigInt(second), `${first} ${second} ${third}`);

  const m1 = await jsm.streams.getMessage('ROOMCAST_ROOMS', { seq: Number(first) });
  assert.equal(m1.subject, 'roomcast.room.post:42');
  const e1 = decode(T.RoomEvent, m1.data);
  assert.equal(e1.room, 'post:42');
  assert.equal(e1.event, 'comment');
  assert.equal(e1.from, 'server');
  assert.equal(e1.exclude_socket, '');
  assert.ok(e1.published_at_ms >= before && e1.published_at_ms <= Date.now());
  assert.deepEqual(JSON.parse(e1.data_json), { text: 'hi', img: { _placeholder: true, num: 0 } });
  assert.deepEqual(Buffer.from(e1.attachments[0]), img);

  const e2 = decode(T.RoomEvent, (await jsm.streams.getMessage('ROOMCAST_ROOMS', { seq: Number(second) })).data);
  assert.equal(e2.exclude_socket, 'sock-9');
  const e3 = decode(T.RoomEvent, (await jsm.streams.getMessage('ROOMCAST_ROOMS', { seq: Number(third) })).data);
  assert.equal(e3.data_json, 'null');
});

test('invalid rooms and events are rejected before anything is published', async () => {
  const count = await storedCount();
  for (const room of ['', 'a.b', 'a b', 'a>', 'x'.repeat(129), 42]) {
    await assert.rejects(rc.to(room).emit('comment', {}), (e) => e instanceof RoomcastError && e.code === 'bad_request', String(room));
  }
  for (const event of ['', 'join', 'publish', 'connect', 'disconnect', 'x'.repeat(129)]) {
    await assert.rejects(rc.to('post:1').emit(event, {}), (e) => e instanceof RoomcastError && e.code === 'bad_request', event);
    await assert.rejects(rc.toUser('alice').emit(event), (e) => e.code === 'bad_request', event);
  }
  await assert.rejects(rc.toSocket('a.b').emit('notice'), (e) => e.code === 'bad_request');
  await assert.rejects(rc.toUser('').emit('notice'), (e) => e.code === 'bad_request');
  await assert.rejects(rc.to('post:1').emit('x', {}, { exceptSocket: 'a b' }), (e) => e.code === 'bad_request');
  assert.equal(await storedCount(), count);
});

test('a room no stream covers is unavailable', async () => {
  await jsm.streams.delete('ROOMCAST_ROOMS');
  try {
    await assert.rejects(rc.to('post:1').emit('x', {}, { timeout: 1000 }), (e) => e.code === 'unavailable');
  } finally {
    await jsm.streams.add({ name: 'ROOMCAST_ROOMS', subjects: ['roomcast.room.>'] });
  }
});

// Every message on roomcast.ephemeral.> the edge side receives, in order; stop() ends it.
function collect(nc, subject) {
  const got = [];
  const sub = nc.subscribe(subject, { callback: (err, m) => err || got.push(m) });
  return { got, stop: () => sub.unsubscribe() };
}

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('to(room).emit with ephemeral: true publishes a RoomEvent on roomcast.ephemeral.<room>, stores nothing', async () => {
  const eph = collect(edge, 'roomcast.ephemeral.>');
  const stored = collect(edge, 'roomcast.room.>');
  try {
    await edge.flush();
    const count = await storedCount();
    const before = Date.now();
    const img = Buffer.from([7, 8, 9]);
    const r1 = await rc.to('doc:7').emit('cursor', { x: 1, y: 2, img }, { ephemeral: true });
    const r2 = await rc.to('doc:7').emit('typing', true, { ephemeral: true, exceptSocket: 'sock-9' });
    assert.equal(r1, undefined, 'no offset');
    assert.equal(r2, undefined, 'no offset');
    await until(() => eph.got.length >= 2, 5000, 'two ephemeral events');
    assert.equal(eph.got.length, 2);

    const [m1, m2] = eph.got;
    assert.equal(m1.subject, 'roomcast.ephemeral.doc:7');
    assert.equal(m1.headers, undefined, 'a plain core message: no JetStream headers');
    const e1 = decode(T.RoomEvent, m1.data);
    assert.equal(e1.room, 'doc:7');
    assert.equal(e1.event, 'cursor');
    assert.equal(e1.from, 'server');
    assert.equal(e1.exclude_socket, '');
    assert.ok(e1.published_at_ms >= before && e1.published_at_ms <= Date.now());
    assert.deepEqual(JSON.parse(e1.data_json), { x: 1, y: 2, img: { _placeholder: true, num: 0 } });
    assert.deepEqual(Buffer.from(e1.attachments[0]), img);
    const e2 = decode(T.RoomEvent, m2.data);
    assert.equal(m2.subject, 'roomcast.ephemeral.doc:7');
    assert.equal(e2.event, 'typing');
    assert.equal(e2.data_json, 'true');
    assert.equal(e2.exclude_socket, 'sock-9');

    // Nothing went to the stream: not stored, not on its subjects.
    assert.equal(await storedCount(), count);
    assert.equal(stored.got.length, 0);
  } finally {
    eph.stop();
    stored.stop();
  }
});

test('ephemeral: invalid rooms and events are refused as for stored ones, nothing is published', async () => {
  const eph = collect(edge, 'roomcast.ephemeral.>');
  try {
    await edge.flush();
    for (const room of ['', 'a.b', 'a b', 'a>', 'x'.repeat(129), 42]) {
      await assert.rejects(
        rc.to(room).emit('cursor', {}, { ephemeral: true }),
        (e) => e instanceof RoomcastError && e.code === 'bad_request' && /room ids match/.test(e.message),
        String(room),
      );
    }
    for (const event of ['', 'join', 'publish', 'disconnect', 'x'.repeat(129)]) {
      await assert.rejects(rc.to('doc:1').emit(event, {}, { ephemeral: true }), (e) => e.code === 'bad_request', event);
    }
    await assert.rejects(rc.to('doc:1').emit('x', {}, { ephemeral: true, exceptSocket: 'a b' }), (e) => e.code === 'bad_request');
    // One connection's messages arrive in order: had a refused one been sent, it would be here
    // before this one.
    await rc.to('doc:1').emit('last', null, { ephemeral: true });
    await until(() => eph.got.length >= 1, 5000, 'the valid ephemeral event');
    await edge.flush();
    assert.deepEqual(eph.got.map((m) => m.subject), ['roomcast.ephemeral.doc:1']);
    assert.equal(decode(T.RoomEvent, eph.got[0].data).event, 'last');
  } finally {
    eph.stop();
  }
});

test('ephemeral events need no stream; over max_payload they are payload_too_large', async () => {
  const got = firstMessage(edge, 'roomcast.ephemeral.doc:2', 5000);
  await edge.flush();
  await jsm.streams.delete('ROOMCAST_ROOMS');
  try {
    assert.equal(await rc.to('doc:2').emit('cursor', 1, { ephemeral: true }), undefined);
    const m = await got;
    assert.ok(m, 'ephemeral event received without a stream');
    assert.equal(decode(T.RoomEvent, m.data).data_json, '1');
  } finally {
    await jsm.streams.add({ name: 'ROOMCAST_ROOMS', subjects: ['roomcast.room.>'] });
  }
  const big = Buffer.alloc(2 * 1024 * 1024);
  await assert.rejects(rc.to('doc:2').emit('x', big, { ephemeral: true }), (e) => e.code === 'payload_too_large');
  assert.equal(await rc.to('doc:2').emit('x', 'small', { ephemeral: true }), undefined);
});

test('toUser / toSocket publish decodable Emits on roomcast.emit', async () => {
  let got = firstMessage(edge, 'roomcast.emit', 5000);
  await edge.flush();
  await rc.toUser('alice').emit('notice', { text: 'you have mail' }, 2, Buffer.from('b'));
  let m = await got;
  assert.ok(m, 'emit received');
  let e = decode(T.Emit, m.data);
  assert.equal(e.target, 'user_id');
  assert.equal(e.user_id, 'alice');
  assert.equal(e.namespace, '/');
  assert.equal(e.event, 'notice');
  assert.deepEqual(JSON.parse(e.args_json), [{ text: 'you have mail' }, 2, { _placeholder: true, num: 0 }]);
  assert.deepEqual(Buffer.from(e.attachments[0]), Buffer.from('b'));

  got = firstMessage(edge, 'roomcast.emit', 5000);
  await edge.flush();
  await rc.of('/admin').toSocket('sock_A-1').emit('ping');
  m = await got;
  e = decode(T.Emit, m.data);
  assert.equal(e.target, 'socket_id');
  assert.equal(e.socket_id, 'sock_A-1');
  assert.equal(e.namespace, '/admin');
  assert.equal(e.args_json, '[]');
});

test('connect: servers required; URL credentials parsed, never logged; wrong ones fail', async () => {
  const saved = process.env.ROOMCAST_BACKEND_NATS_URL;
  delete process.env.ROOMCAST_BACKEND_NATS_URL;
  try {
    await assert.rejects(connect({ logger }), /ROOMCAST_BACKEND_NATS_URL/);
  } finally {
    if (saved !== undefined) process.env.ROOMCAST_BACKEND_NATS_URL = saved;
  }
  assert.deepEqual(parseServers('nats://u%40x:p%3Aw@h1:4222, nats://u%40x:p%3Aw@h2:4223'), {
    servers: ['nats://h1:4222', 'nats://h2:4223'],
    auth: { user: 'u@x', pass: 'p:w' },
  });
  assert.deepEqual(parseServers('nats://s3cr3t@h:1').auth, { token: 's3cr3t' });
  assert.deepEqual(parseServers('127.0.0.1:4222'), { servers: ['nats://127.0.0.1:4222'], auth: null });
  assert.throws(() => parseServers('nats://a:b@h:1,nats://c:d@h:2'), /different credentials/);

  const wrong = server.urlWithCredentials.replace(encodeURIComponent(PASS), 'nope');
  const err = await connect({ servers: wrong, logger, nats: { maxReconnectAttempts: 0 } }).catch((e) => e);
  assert.ok(err instanceof RoomcastError && err.code === 'unavailable', String(err));
  assert.doesNotMatch(err.message, /nope/);
  for (const line of logged) {
    assert.ok(!line.includes(PASS) && !line.includes(encodeURIComponent(PASS)), line);
  }
  // Explicit user/pass beat the URL's.
  const ok = await connect({ servers: wrong, user: 'backend', pass: PASS, logger });
  await ok.close();
});

test('the SDK runs as the closed bus backend role: everything above passed under it', async () => {
  // The role (k8s/helm/roomcast/files/nats-roles.json) is in force: what it does not allow fails.
  const err = await rc.nats.request('roomcast.control', new Uint8Array(), { timeout: 2000 }).catch((e) => e);
  assert.match(String(err?.message), /Permissions Violation for Publish to "roomcast.control"/);
  // A plain publish learns of it only after the fact: the SDK logs the server's report.
  await until(
    () => logged.some((l) => /^NATS: .*Permissions Violation for Publish to "roomcast.control"/.test(l)),
    5000,
    'the permission violation logged',
  );
});

test('a payload over the server max_payload is payload_too_large; the connection stays usable', async () => {
  const big = Buffer.alloc(2 * 1024 * 1024);
  await assert.rejects(rc.to('post:1').emit('x', big), (e) => e.code === 'payload_too_large');
  await assert.rejects(rc.toUser('alice').emit('x', big), (e) => e.code === 'payload_too_large');
  assert.match(await rc.to('post:1').emit('x', 'small'), /^\d+$/);
});
