// Custom events (RPC) against a real nats-server, the edge played with raw NATS requests.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, RoomcastError } from '../src/index.mjs';
import { startNatsServer } from './lib/nats-server.mjs';
import { client, decode, deferred, edgeConnection, encode, firstMessage, request, T, within } from './lib/edge.mjs';

let server;
let edge;
let rc;
const logged = [];
const logger = { error: (msg, err) => logged.push({ msg, err }), warn: (msg) => logged.push({ msg }) };

before(async () => {
  server = await startNatsServer();
  edge = await edgeConnection(server);
  // The local stack's form: one URL with the backend role's credentials inside.
  process.env.ROOMCAST_BACKEND_NATS_URL = server.urlWithCredentials;
  rc = await connect({ logger });
  delete process.env.ROOMCAST_BACKEND_NATS_URL;
});

after(async () => {
  await rc?.close();
  await edge?.close();
  await server?.stop();
});

const soon = () => Date.now() + 5000;

function call(subject, args, { attachments = [], deadline = soon(), c = client() } = {}) {
  return request(edge, subject, T.CustomEvent, T.CustomEventReply, {
    client: c,
    event: subject.split('.').pop(),
    args_json: JSON.stringify(args),
    attachments,
    deadline_ms: deadline,
  });
}

test('a result becomes {ok: true, result}; ctx carries user, socket, event, deadline', async () => {
  let seen;
  rc.handle('createPost', async (ctx, data, n) => {
    seen = { ctx, data, n };
    return { id: 42, title: data.title };
  });
  await rc.flush();
  const deadline = soon();
  const reply = await call('roomcast.rpc.createPost', [{ title: 'hi' }, 7], { deadline });
  assert.equal(reply.ok, true);
  assert.deepEqual(JSON.parse(reply.result_json), { id: 42, title: 'hi' });
  assert.deepEqual(seen.data, { title: 'hi' });
  assert.equal(seen.n, 7);
  assert.deepEqual(seen.ctx.user, { id: 'alice', name: 'Alice', claims: { role: 'staff' } });
  assert.deepEqual(seen.ctx.socket, {
    id: 'sock-1', edge: 'edge-1', namespace: '/', rooms: ['post:1'], address: '203.0.113.7',
  });
  assert.equal(seen.ctx.event, 'createPost');
  assert.equal(seen.ctx.deadline.getTime(), deadline);
  assert.equal(seen.ctx.signal.aborted, false);
});

test('undefined result is JSON null ("")', async () => {
  rc.handle('nothing', async () => undefined);
  await rc.flush();
  const reply = await call('roomcast.rpc.nothing', []);
  assert.equal(reply.ok, true);
  assert.equal(reply.result_json, '');
});

test('RoomcastError becomes {ok: false, error: {code, message}}', async () => {
  rc.handle('chat message', async () => {
    throw new RoomcastError('not_found', 'no such post');
  });
  await rc.flush();
  const reply = await call('roomcast.rpc.chat%20message', []);
  assert.equal(reply.ok, false);
  assert.deepEqual(reply.error, { code: 'not_found', message: 'no such post' });
});

test('any other throw is internal, message not leaked, and logged', async () => {
  rc.handle('boom', async () => {
    throw new Error('db password is hunter2');
  });
  await rc.flush();
  const reply = await call('roomcast.rpc.boom', []);
  assert.equal(reply.ok, false);
  assert.deepEqual(reply.error, { code: 'internal', message: '' });
  assert.doesNotMatch(JSON.stringify(reply), /hunter2/);
  const entry = logged.find((l) => l.err?.message === 'db password is hunter2');
  assert.ok(entry, 'logged');
  assert.match(entry.msg, /boom/);
});

test('binary arguments arrive as Buffers; Buffers in the result become attachments', async () => {
  rc.handle('upload', async (_ctx, meta, file) => {
    assert.ok(Buffer.isBuffer(file));
    assert.ok(Buffer.isBuffer(meta.thumb));
    return { size: file.length, echo: file, parts: [meta.thumb, Uint8Array.of(9, 8)] };
  });
  await rc.flush();
  const file = Buffer.from([1, 2, 3, 4]);
  const thumb = Buffer.from('thumb');
  const reply = await call(
    'roomcast.rpc.upload',
    [{ name: 'x', thumb: { _placeholder: true, num: 1 } }, { _placeholder: true, num: 0 }],
    { attachments: [file, thumb] },
  );
  assert.equal(reply.ok, true);
  const result = JSON.parse(reply.result_json);
  assert.equal(result.size, 4);
  assert.equal(reply.attachments.length, 3);
  const at = (p) => Buffer.from(reply.attachments[p.num]);
  assert.equal(result.echo._placeholder, true);
  assert.deepEqual(at(result.echo), file);
  assert.deepEqual(at(result.parts[0]), thumb);
  assert.deepEqual(at(result.parts[1]), Buffer.from([9, 8]));
});

test('a placeholder without its attachment is bad_request', async () => {
  rc.handle('badbin', async () => 'unreached');
  await rc.flush();
  const reply = await call('roomcast.rpc.badbin', [{ _placeholder: true, num: 3 }]);
  assert.equal(reply.ok, false);
  assert.equal(reply.error.code, 'bad_request');
});

test('namespaces: rc.of("/admin") handles roomcast.ns.admin.rpc.<event>', async () => {
  let ns;
  rc.of('/admin').handle('ban', async (ctx, userId) => {
    ns = ctx.socket.namespace;
    return `banned ${userId}`;
  });
  rc.of('/a/b').handle('join', async () => 'custom join'); // "join" is custom off "/"
  await rc.flush();
  const reply = await call('roomcast.ns.admin.rpc.ban', ['bob'], { c: client({ namespace: '/admin' }) });
  assert.deepEqual(JSON.parse(reply.result_json), 'banned bob');
  assert.equal(ns, '/admin');
  const r2 = await call('roomcast.ns.a%2Fb.rpc.join', []);
  assert.equal(JSON.parse(r2.result_json), 'custom join');
  assert.throws(() => rc.handle('join', async () => {}), RoomcastError);
  assert.throws(() => rc.of('/admin').handle('disconnect', async () => {}), RoomcastError);
  assert.throws(() => rc.of('admin'), RoomcastError);
  assert.throws(() => rc.handle('createPost', async () => {}), /already has a handler/);
});

test('fire-and-forget (deadline 0): the handler runs, nothing is answered', async () => {
  const ran = deferred();
  rc.handle('track', async (ctx, what) => {
    ran.resolve({ what, deadline: ctx.deadline });
    return 'no one reads this';
  });
  await rc.flush();
  // Even with a reply subject, deadline_ms 0 means nobody waits.
  const inbox = edge.createInbox ? edge.createInbox() : `_INBOX.ff.${Date.now()}`;
  const replied = firstMessage(edge, inbox, 1000);
  await edge.flush();
  edge.publish('roomcast.rpc.track', encode(T.CustomEvent, {
    client: client(), event: 'track', args_json: '["click"]', deadline_ms: 0,
  }), { reply: inbox });
  const got = await within(ran.promise, 5000, 'fire-and-forget handler');
  assert.deepEqual(got, { what: 'click', deadline: null });
  assert.equal(await replied, null, 'no reply to a fire-and-forget event');
});

test('a request past its deadline is skipped: no handler call, no reply', async () => {
  const calls = [];
  rc.handle('late', async (_ctx, tag) => {
    calls.push(tag);
    return tag;
  });
  await rc.flush();
  const inbox = `_INBOX.late.${Date.now()}`;
  const replied = firstMessage(edge, inbox, 1500);
  await edge.flush();
  edge.publish('roomcast.rpc.late', encode(T.CustomEvent, {
    client: client(), event: 'late', args_json: '["expired"]', deadline_ms: Date.now() - 1000,
  }), { reply: inbox });
  // Messages of one subscription are taken in order: once the later one is answered, the
  // expired one was decided.
  const reply = await call('roomcast.rpc.late', ['fresh']);
  assert.equal(JSON.parse(reply.result_json), 'fresh');
  assert.deepEqual(calls, ['fresh']);
  assert.equal(await replied, null);
});

test('queue group: two instances share the requests, each answered once', async () => {
  const a = await connect({ ...server.auth, queue: 'shared', logger });
  const b = await connect({ ...server.auth, queue: 'shared', logger });
  try {
    const counts = { a: 0, b: 0 };
    a.handle('work', async () => {
      counts.a++;
      return 'a';
    });
    b.handle('work', async () => {
      counts.b++;
      return 'b';
    });
    await Promise.all([a.flush(), b.flush()]);
    const n = 40;
    const replies = await Promise.all(Array.from({ length: n }, () => call('roomcast.rpc.work', [])));
    assert.equal(replies.length, n);
    assert.ok(replies.every((r) => r.ok));
    assert.equal(counts.a + counts.b, n, 'each request handled once');
    assert.ok(counts.a > 0 && counts.b > 0, `both replicas took requests: ${JSON.stringify(counts)}`);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('maxConcurrent bounds handlers; beyond maxPending requests get unavailable at once', async () => {
  const c = await connect({ ...server.auth, queue: 'bounded', maxConcurrent: 2, maxPending: 1, logger });
  try {
    let running = 0;
    let peak = 0;
    const gate = deferred();
    const started = [];
    c.handle('slow', async (_ctx, i) => {
      running++;
      peak = Math.max(peak, running);
      started.push(i);
      await gate.promise;
      running--;
      return i;
    });
    await c.flush();
    const pending = [0, 1, 2].map((i) => call('roomcast.rpc.slow', [i]));
    await edge.flush();
    // The fourth finds two running and one waiting: answered unavailable without waiting.
    const t0 = Date.now();
    const rejected = await call('roomcast.rpc.slow', [3]);
    assert.equal(rejected.ok, false);
    assert.equal(rejected.error.code, 'unavailable');
    assert.ok(Date.now() - t0 < 4000);
    assert.deepEqual(started.sort(), [0, 1]);
    gate.resolve();
    const done = await Promise.all(pending);
    assert.deepEqual(done.map((r) => JSON.parse(r.result_json)), [0, 1, 2]);
    assert.equal(peak, 2);
  } finally {
    await c.close();
  }
});

test('close() lets a handler in flight finish and answer', async () => {
  const c = await connect({ ...server.auth, queue: 'closing', logger });
  const started = deferred();
  const gate = deferred();
  c.handle('inflight', async () => {
    started.resolve();
    await gate.promise;
    return 'finished';
  });
  await c.flush();
  const pending = call('roomcast.rpc.inflight', []);
  await within(started.promise, 5000, 'handler start');
  const closed = c.close();
  assert.throws(() => c.handle('more', async () => {}), RoomcastError);
  gate.resolve();
  const reply = await pending;
  assert.equal(JSON.parse(reply.result_json), 'finished');
  await within(closed, 5000, 'close');
  assert.ok(c.nats.isClosed());
});
