// Connect, join and publish hooks against a real nats-server, the edge played with raw NATS
// requests.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, RoomcastError } from '../src/index.mjs';
import { startNatsServer } from './lib/nats-server.mjs';
import { client, edgeConnection, request, T } from './lib/edge.mjs';

let server;
let edge;
let rc;
const logged = [];
const logger = { error: (msg, err) => logged.push({ msg, err }), warn: (msg) => logged.push({ msg }) };

before(async () => {
  server = await startNatsServer();
  edge = await edgeConnection(server);
  rc = await connect({ servers: server.urlWithCredentials, logger });
});

after(async () => {
  await rc?.close();
  await edge?.close();
  await server?.stop();
});

const soon = () => Date.now() + 5000;

const connectHook = (body) =>
  request(edge, 'roomcast.hook.connect', T.ConnectHook, T.ConnectHookReply, { deadline_ms: soon(), ...body });
const joinHook = (room, c = client()) =>
  request(edge, 'roomcast.hook.join', T.JoinHook, T.JoinHookReply, { client: c, room, deadline_ms: soon() });
const publishHook = (room, data, attachments = [], event = 'msg') =>
  request(edge, 'roomcast.hook.publish', T.PublishHook, T.PublishHookReply, {
    client: client(), room, event, data_json: JSON.stringify(data), attachments, deadline_ms: soon(),
  });

test('connect: map a cookie to a user, deny, throw RoomcastError, internal', async () => {
  let seen;
  rc.onConnect(async (hook) => {
    seen = hook;
    const cookie = hook.headers.cookie ?? '';
    if (cookie === 'sid=good') return { user: { id: 'u-1', name: 'Una', claims: { plan: 'pro' } } };
    if (cookie === 'sid=plain') return true;
    if (cookie === 'sid=banned') throw new RoomcastError('forbidden', 'banned');
    if (cookie === 'sid=bug') throw new Error('oops');
    if (cookie === 'sid=custom') return { deny: 'expired', message: 'log in again' };
    return false;
  });
  assert.throws(() => rc.onConnect(async () => true), /already/);
  await rc.flush();

  const ok = await connectHook({
    namespace: '/',
    auth_json: '{"app":"web"}',
    headers: [{ name: 'cookie', value: 'sid=good' }, { name: 'origin', value: 'https://x.test' }],
    remote_address: '198.51.100.1',
  });
  assert.equal(ok.allow, true);
  assert.equal(ok.user_id, 'u-1');
  assert.equal(ok.user_name, 'Una');
  assert.deepEqual(JSON.parse(ok.claims_json), { plan: 'pro' });
  assert.deepEqual(seen.auth, { app: 'web' });
  assert.equal(seen.headers.origin, 'https://x.test');
  assert.equal(seen.address, '198.51.100.1');
  assert.equal(seen.user, null);
  assert.equal(seen.namespace, '/');
  assert.ok(seen.deadline instanceof Date);

  // Mode "all": the token's user comes along.
  const plain = await connectHook({ headers: [{ name: 'cookie', value: 'sid=plain' }], client: client() });
  assert.equal(plain.allow, true);
  assert.equal(plain.user_id, '');
  assert.equal(seen.user.id, 'alice');

  const denied = await connectHook({ headers: [] });
  assert.equal(denied.allow, false);
  assert.equal(denied.error.code, 'forbidden');

  const banned = await connectHook({ headers: [{ name: 'cookie', value: 'sid=banned' }] });
  assert.deepEqual([banned.allow, banned.error.code, banned.error.message], [false, 'forbidden', 'banned']);

  const custom = await connectHook({ headers: [{ name: 'cookie', value: 'sid=custom' }] });
  assert.deepEqual([custom.allow, custom.error.code, custom.error.message], [false, 'expired', 'log in again']);

  const bug = await connectHook({ headers: [{ name: 'cookie', value: 'sid=bug' }] });
  assert.deepEqual([bug.allow, bug.error.code, bug.error.message], [false, 'internal', '']);
  assert.ok(logged.some((l) => l.err?.message === 'oops'));
});

test('join: longest prefix wins, "*" matches the rest, booleans and deny objects', async () => {
  const seen = [];
  rc.onJoin('team:', async (ctx, room) => {
    seen.push(['team', room]);
    return ctx.user.id.startsWith('staff-');
  });
  rc.onJoin('team:open-', async (_ctx, room) => {
    seen.push(['open', room]);
  });
  rc.onJoin('*', async (_ctx, room) => {
    seen.push(['*', room]);
    return room === 'secret' ? { deny: 'not_found', message: 'no such room' } : true;
  });
  assert.throws(() => rc.onJoin('team:', async () => true), /already/);
  await rc.flush();

  const staff = await joinHook('team:red', client({ user_id: 'staff-1' }));
  assert.equal(staff.allow, true);
  const outsider = await joinHook('team:red');
  assert.equal(outsider.allow, false);
  assert.equal(outsider.error.code, 'forbidden');
  const open = await joinHook('team:open-1');
  assert.equal(open.allow, true); // undefined allows
  const other = await joinHook('lobby');
  assert.equal(other.allow, true);
  const secret = await joinHook('secret');
  assert.deepEqual([secret.allow, secret.error.code, secret.error.message], [false, 'not_found', 'no such room']);
  assert.deepEqual(seen, [
    ['team', 'team:red'], ['team', 'team:red'], ['open', 'team:open-1'], ['*', 'lobby'], ['*', 'secret'],
  ]);
});

test('publish: deny, replace (with binary), allow; unmatched rooms are allowed', async () => {
  rc.onPublish('post:', async (_ctx, msg) => {
    if (msg.data.text.includes('spam')) return { deny: 'forbidden', message: 'no spam' };
    if (msg.data.text === 'shout') return { data: { text: 'SHOUT', by: msg.event, img: msg.data.img } };
    return { data: msg.data };
  });
  await rc.flush();

  const spam = await publishHook('post:1', { text: 'buy spam' });
  assert.deepEqual([spam.allow, spam.error.code, spam.error.message], [false, 'forbidden', 'no spam']);

  const img = Buffer.from([0xff, 0x00, 0x7f]);
  const shout = await publishHook('post:1', { text: 'shout', img: { _placeholder: true, num: 0 } }, [img]);
  assert.equal(shout.allow, true);
  assert.equal(shout.replace, true);
  const data = JSON.parse(shout.data_json);
  assert.equal(data.text, 'SHOUT');
  assert.equal(data.by, 'msg');
  assert.deepEqual(data.img, { _placeholder: true, num: 0 });
  assert.deepEqual(Buffer.from(shout.attachments[0]), img);

  const same = await publishHook('post:2', { text: 'hello' });
  assert.equal(same.allow, true);
  assert.deepEqual(JSON.parse(same.data_json), { text: 'hello' });

  // No handler for this prefix: allowed unchanged (the edge's prefixes decide what is asked).
  const unmatched = await publishHook('chat:1', { text: 'spam' });
  assert.equal(unmatched.allow, true);
  assert.equal(unmatched.replace, false);
});

test('a hook request past its deadline gets no answer', async () => {
  await assert.rejects(
    request(edge, 'roomcast.hook.join', T.JoinHook, T.JoinHookReply,
      { client: client(), room: 'lobby', deadline_ms: Date.now() - 1 }, 1000),
    (err) => /timeout/i.test(err.message) || err.name === 'TimeoutError',
  );
});
