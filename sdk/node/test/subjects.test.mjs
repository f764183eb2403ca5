// The subject names and id rules, with the golden vectors of libs/contract/src/subjects_test.cpp
// (BackendSubjects.Golden, TokensAreOneTokenAndDistinct, Namespaces.Rule): a change on either
// side is a wire change.
import assert from 'node:assert/strict';
import test from 'node:test';

import {
  ephemeralSubject,
  lifecycleSubject,
  reservedEvent,
  roomSubject,
  rpcSubject,
  subjectToken,
  validEventName,
  validNamespace,
  validRoomId,
  validSocketId,
  validUserId,
} from '../src/index.mjs';
import {
  EMIT_SUBJECT,
  HOOK_CONNECT_SUBJECT,
  HOOK_JOIN_SUBJECT,
  HOOK_PUBLISH_SUBJECT,
  validCustomEventName,
} from '../src/subjects.mjs';

test('golden subjects (libs/contract BackendSubjects.Golden)', () => {
  assert.equal(rpcSubject('/', 'createPost'), 'roomcast.rpc.createPost');
  assert.equal(rpcSubject('/', 'chat message'), 'roomcast.rpc.chat%20message');
  assert.equal(rpcSubject('/', 'post.create'), 'roomcast.rpc.post%2Ecreate');
  assert.equal(rpcSubject('/', 'a>*%'), 'roomcast.rpc.a%3E%2A%25');
  assert.equal(rpcSubject('/admin', 'ban'), 'roomcast.ns.admin.rpc.ban');
  assert.equal(rpcSubject('/a/b', 'x:y@z-1_'), 'roomcast.ns.a%2Fb.rpc.x:y@z-1_');
  assert.equal(rpcSubject('/', '\u00e9'), 'roomcast.rpc.%C3%A9');
  assert.equal(lifecycleSubject('edge-1'), 'roomcast.lifecycle.edge-1');
  // libs/contract RoomSubjects (subjects_test.cpp)
  assert.equal(roomSubject('post:42'), 'roomcast.room.post:42');
  assert.equal(ephemeralSubject('post:42'), 'roomcast.ephemeral.post:42');
  assert.equal(EMIT_SUBJECT, 'roomcast.emit');
  assert.equal(HOOK_CONNECT_SUBJECT, 'roomcast.hook.connect');
  assert.equal(HOOK_JOIN_SUBJECT, 'roomcast.hook.join');
  assert.equal(HOOK_PUBLISH_SUBJECT, 'roomcast.hook.publish');
});

test('tokens are one token each and distinct (TokensAreOneTokenAndDistinct)', () => {
  const names = ['a', 'a.b', 'a%2Eb', 'a b', 'a>b', 'a*', '%', '', '\u00e9'];
  const seen = new Set();
  for (const n of names) {
    const t = subjectToken(n);
    assert.doesNotMatch(t, /[.*> \t\r\n]/, n);
    assert.ok(!seen.has(t), `${n} → ${t} collides`);
    seen.add(t);
  }
  // Every byte outside the alphabet, upper-case hex.
  for (let b = 0; b < 128; b++) {
    const c = String.fromCharCode(b);
    const t = subjectToken(c);
    if (/[A-Za-z0-9_:@-]/.test(c)) assert.equal(t, c);
    else assert.equal(t, '%' + b.toString(16).toUpperCase().padStart(2, '0'));
  }
});

test('namespaces (Namespaces.Rule)', () => {
  assert.ok(validNamespace('/'));
  assert.ok(validNamespace('/admin'));
  assert.ok(validNamespace('/a/b.c'));
  assert.ok(!validNamespace(''));
  assert.ok(!validNamespace('admin'));
  assert.ok(!validNamespace('/a b'));
  assert.ok(!validNamespace('/\u00e9'));
  assert.ok(!validNamespace('/' + 'a'.repeat(128)));
  assert.ok(validNamespace('/' + 'a'.repeat(127)));
});

test('room ids, socket ids, user ids, event names', () => {
  assert.ok(validRoomId('post:42'));
  assert.ok(validRoomId('team@site_1-x'));
  assert.ok(validRoomId('a'.repeat(128)));
  assert.ok(!validRoomId('a'.repeat(129)));
  assert.ok(!validRoomId(''));
  assert.ok(!validRoomId('a.b'));
  assert.ok(!validRoomId('a b'));
  assert.ok(!validRoomId('a>'));
  assert.ok(validSocketId('AbC_-09'));
  assert.ok(!validSocketId('a:b'));
  assert.ok(!validSocketId('a'.repeat(65)));
  assert.ok(validUserId('\u00e9'.repeat(128)));
  assert.ok(!validUserId('\u00e9'.repeat(129)));
  assert.ok(!validUserId(''));
  assert.ok(!validUserId('\ud800'));
  for (const r of ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener',
    'removeListener', 'join', 'leave', 'publish', 'history', 'presence', 'kicked', 'refresh']) {
    assert.ok(reservedEvent(r), r);
    assert.ok(!validEventName(r), r);
  }
  assert.ok(validEventName('comment'));
  assert.ok(validEventName('x'.repeat(128)));
  assert.ok(!validEventName('x'.repeat(129)));
  assert.ok(!validEventName('\u00e9'.repeat(65)));
  assert.ok(!validEventName(''));
  // Custom events: Roomcast's own names are custom events on other namespaces only.
  assert.ok(!validCustomEventName('/', 'join'));
  assert.ok(validCustomEventName('/admin', 'join'));
  assert.ok(!validCustomEventName('/admin', 'disconnect'));
});
