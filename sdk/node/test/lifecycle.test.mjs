// Lifecycle batches published as an edge would, dispatched to rc.on(kind) listeners.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, RoomcastError } from '../src/index.mjs';
import { startNatsServer } from './lib/nats-server.mjs';
import { deferred, edgeConnection, encode, T, within } from './lib/edge.mjs';

let server;
let edge;
const logger = { error() {}, warn() {} };

before(async () => {
  server = await startNatsServer();
  edge = await edgeConnection(server);
});

after(async () => {
  await edge?.close();
  await server?.stop();
});

const ev = (kind, extra = {}) => ({
  kind, at_ms: 1700000000000, user_id: 'alice', user_name: 'Alice', socket_id: 's1', namespace: '/', ...extra,
});

test('each event of each batch reaches the listeners of its kind, in order; dropped is reported', async () => {
  const rc = await connect({ ...server.auth, logger });
  try {
    const got = [];
    const dropped = [];
    const done = deferred();
    for (const kind of ['connect', 'disconnect', 'join', 'leave', 'kicked']) {
      rc.on(kind, async (evt) => {
        got.push(evt);
        if (evt.kind === 'disconnect') done.resolve();
      });
    }
    rc.on('dropped', (n, info) => dropped.push([n, info]));
    assert.throws(() => rc.on('nonsense', () => {}), RoomcastError);
    await rc.flush();
    edge.publish('roomcast.lifecycle.edge-1', encode(T.LifecycleBatch, {
      edge_id: 'edge-1',
      dropped: 3,
      events: [
        ev('KIND_CONNECT', { recovered: true }),
        ev('KIND_JOIN', { room: 'post:1' }),
        ev('KIND_LEAVE', { room: 'post:1' }),
      ],
    }));
    edge.publish('roomcast.lifecycle.edge-2', encode(T.LifecycleBatch, {
      edge_id: 'edge-2',
      events: [ev('KIND_KICKED', { room: 'post:2', reason: 'spam' }), ev('KIND_DISCONNECT', { reason: 'transport close' })],
    }));
    await within(done.promise, 5000, 'lifecycle events');
    assert.deepEqual(got.map((e) => [e.kind, e.edge]), [
      ['connect', 'edge-1'], ['join', 'edge-1'], ['leave', 'edge-1'], ['kicked', 'edge-2'], ['disconnect', 'edge-2'],
    ]);
    assert.deepEqual(got[0], {
      kind: 'connect',
      at: new Date(1700000000000),
      user: { id: 'alice', name: 'Alice' },
      socketId: 's1',
      namespace: '/',
      room: '',
      reason: '',
      recovered: true,
      edge: 'edge-1',
    });
    assert.equal(got[1].room, 'post:1');
    assert.equal(got[3].reason, 'spam');
    assert.equal(got[4].reason, 'transport close');
    assert.deepEqual(dropped, [[3, { edge: 'edge-1', source: 'edge' }]]);
  } finally {
    await rc.close();
  }
});

test('without a queue every instance sees every batch; with one they share them', async () => {
  const instances = await Promise.all([0, 1, 2, 3].map(() => connect({ ...server.auth, logger })));
  try {
    const all = [0, 0];
    const shared = [0, 0];
    const n = 30;
    const finished = deferred();
    const check = () => {
      if (all[0] === n && all[1] === n && shared[0] + shared[1] === n) finished.resolve();
    };
    instances[0].on('join', () => { all[0]++; check(); });
    instances[1].on('join', () => { all[1]++; check(); });
    instances[2].on('join', () => { shared[0]++; check(); }, { queue: 'analytics' });
    instances[3].on('join', () => { shared[1]++; check(); }, { queue: 'analytics' });
    await Promise.all(instances.map((i) => i.flush()));
    for (let i = 0; i < n; i++) {
      edge.publish('roomcast.lifecycle.edge-1', encode(T.LifecycleBatch, {
        edge_id: 'edge-1', events: [ev('KIND_JOIN', { room: `r${i}` })],
      }));
    }
    await within(finished.promise, 5000, `lifecycle counts ${all} ${shared}`);
    // Give a duplicate delivery a chance to show: one more round trip through the server.
    await Promise.all(instances.map((i) => i.flush()));
    assert.deepEqual(all, [n, n]);
    assert.equal(shared[0] + shared[1], n);
    assert.ok(shared[0] > 0 && shared[1] > 0, `queue shared: ${shared}`);
  } finally {
    await Promise.all(instances.map((i) => i.close()));
  }
});

test('a listener that throws does not stop the others', async () => {
  const rc = await connect({ ...server.auth, logger });
  try {
    const got = deferred();
    rc.on('leave', () => { throw new Error('listener bug'); });
    rc.on('leave', (evt) => got.resolve(evt.room));
    await rc.flush();
    edge.publish('roomcast.lifecycle.edge-9', encode(T.LifecycleBatch, {
      edge_id: 'edge-9', events: [ev('KIND_LEAVE', { room: 'x' })],
    }));
    assert.equal(await within(got.promise, 5000, 'second listener'), 'x');
  } finally {
    await rc.close();
  }
});
