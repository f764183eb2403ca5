// @roomcast/backend: application backends for Roomcast over NATS (PRODUCT.md §6,
// docs/backends.md). One connection per process; handlers, hooks and lifecycle listeners are
// NATS subscriptions on it, emits are publishes.
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

import { deconstruct, deconstructArgs, reconstruct } from './binary.mjs';
import { RoomcastError } from './errors.mjs';
import { decode, encode, types } from './proto.mjs';
import {
  EMIT_SUBJECT,
  HOOK_CONNECT_SUBJECT,
  HOOK_JOIN_SUBJECT,
  HOOK_PUBLISH_SUBJECT,
  LIFECYCLE_SUBJECTS,
  ephemeralSubject,
  roomSubject,
  rpcSubject,
  validCustomEventName,
  validEventName,
  validNamespace,
  validRoomId,
  validSocketId,
  validUserId,
} from './subjects.mjs';
import { Worker } from './worker.mjs';

export { RoomcastError } from './errors.mjs';
export {
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
} from './subjects.mjs';

export const DEFAULT_QUEUE = 'roomcast-backend';
const DEFAULTS = {
  queue: DEFAULT_QUEUE,
  maxConcurrent: 64,
  maxPending: 256,
  emitTimeout: 5000,
  closeTimeout: 10000,
};

const LIFECYCLE_KINDS = {
  KIND_CONNECT: 'connect',
  KIND_DISCONNECT: 'disconnect',
  KIND_JOIN: 'join',
  KIND_LEAVE: 'leave',
  KIND_KICKED: 'kicked',
};
const LISTENER_KINDS = new Set([...Object.values(LIFECYCLE_KINDS), 'dropped']);

// The default logger: errors and warnings on stderr. Messages never carry credentials.
const consoleLogger = {
  error: (msg, err) => console.error(`[roomcast] ${msg}`, err ?? ''),
  warn: (msg) => console.warn(`[roomcast] ${msg}`),
};
const silentLogger = { error() {}, warn() {} };

// "nats://user:pass@host:port[,nats://…]" → servers without credentials, and the credentials
// (URL-decoded; a user without a password is a token, as in NATS URLs).
export function parseServers(spec) {
  const entries = (Array.isArray(spec) ? spec : String(spec).split(','))
    .map((s) => String(s).trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) throw new RoomcastError('bad_request', 'no NATS server given');
  const servers = [];
  let auth = null;
  for (const entry of entries) {
    let url;
    try {
      url = new URL(entry.includes('://') ? entry : `nats://${entry}`);
    } catch {
      // The entry may hold a password: never echo it.
      throw new RoomcastError('bad_request', 'malformed NATS server URL');
    }
    servers.push(`${url.protocol}//${url.host}`);
    if (url.username || url.password) {
      const a = url.password
        ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
        : { token: decodeURIComponent(url.username) };
      if (auth && JSON.stringify(auth) !== JSON.stringify(a)) {
        throw new RoomcastError('bad_request', 'NATS server URLs carry different credentials');
      }
      auth = a;
    }
  }
  return { servers, auth };
}

// Connects to NATS and returns the backend. Options: servers (string or list, credentials in
// the URL allowed; else ROOMCAST_BACKEND_NATS_URL), user, pass, token, name, queue,
// maxConcurrent, maxPending, emitTimeout, closeTimeout, logger, tls, nats (more options for
// the NATS client).
export async function connect(options = {}) {
  const spec = options.servers ?? process.env.ROOMCAST_BACKEND_NATS_URL;
  if (spec === undefined || spec === '') {
    throw new RoomcastError(
      'bad_request',
      'no NATS server: pass servers or set ROOMCAST_BACKEND_NATS_URL',
    );
  }
  const { servers, auth } = parseServers(spec);
  const natsOptions = {
    // A backend outlives NATS restarts: reconnect for ever (requests meanwhile fail on the
    // edges' side as `unavailable`).
    maxReconnectAttempts: -1,
    ...(options.nats ?? {}),
    servers,
    name: options.name ?? 'roomcast-backend',
  };
  if (auth) Object.assign(natsOptions, auth);
  if (options.user !== undefined) natsOptions.user = options.user;
  if (options.pass !== undefined) natsOptions.pass = options.pass;
  if (options.token !== undefined) natsOptions.token = options.token;
  if (options.tls !== undefined) natsOptions.tls = options.tls;
  types(); // fail here, not on the first message, if the proto files are missing
  let nc;
  try {
    nc = await natsConnect(natsOptions);
  } catch (err) {
    // The client's errors name the server, not the credentials.
    throw new RoomcastError('unavailable', `cannot connect to NATS (${servers.join(',')}): ${err.message}`, {
      cause: err,
    });
  }
  return new Roomcast(nc, options);
}

function parseObject(json) {
  if (!json) return {};
  try {
    const v = JSON.parse(json);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

function clientContext(c) {
  c ??= {};
  return {
    user: c.user_id
      ? { id: c.user_id, name: c.user_name || c.user_id, claims: parseObject(c.claims_json) }
      : null,
    socket: {
      id: c.socket_id ?? '',
      edge: c.edge_id ?? '',
      namespace: c.namespace || '/',
      rooms: c.rooms ?? [],
      address: c.remote_address ?? '',
    },
  };
}

const NEVER = new AbortController().signal;

function deadlineOf(ms) {
  const deadline = ms > 0 ? new Date(ms) : null;
  const signal = deadline ? AbortSignal.timeout(Math.max(0, ms - Date.now())) : NEVER;
  return { deadline, signal };
}

function errorOf(err) {
  return { code: err.code, message: err.clientMessage ?? '' };
}

// A hook's answer: undefined/null/true allow, false denies (forbidden), {deny: code, message}
// denies, {data} (publish only) replaces, any other object allows.
function decision(result, { data }) {
  if (result === undefined || result === null || result === true) return { allow: true };
  if (result === false) return { allow: false, error: { code: 'forbidden', message: '' } };
  if (typeof result !== 'object') {
    throw new TypeError(`a hook returned ${typeof result}; expected boolean or object`);
  }
  if ('deny' in result) {
    return {
      allow: false,
      error: {
        code: typeof result.deny === 'string' && result.deny ? result.deny : 'forbidden',
        message: result.message ? String(result.message) : '',
      },
    };
  }
  if (data && 'data' in result) {
    const d = deconstruct(result.data);
    return { allow: true, replace: true, data_json: d.json, attachments: d.attachments };
  }
  return { allow: true };
}

function longestPrefix(handlers, room) {
  let best = null;
  for (const h of handlers) {
    if (room.startsWith(h.prefix) && (best === null || h.prefix.length > best.prefix.length)) {
      best = h;
    }
  }
  return best;
}

function wrapPublishError(err, what) {
  if (err instanceof RoomcastError) return err;
  const code = /max(imum)?[ _]?payload/i.test(String(err?.message ?? err))
    ? 'payload_too_large'
    : 'unavailable';
  return new RoomcastError(code, `${what} failed: ${err?.message ?? err}`, { cause: err });
}

export class Roomcast {
  constructor(nc, options = {}) {
    this.nc = nc;
    this.options = { ...DEFAULTS, ...options };
    this.logger = options.logger === null ? silentLogger : (options.logger ?? consoleLogger);
    this.js = jetstream(nc, { timeout: this.options.emitTimeout });
    this.subscriptions = [];
    this.rpcSubjects = new Set();
    this.connectHook = null;
    this.joinHooks = null;
    this.publishHooks = null;
    this.lifecycle = new Map();
    this.closing = null;
    this.overflowLogged = 0;
    this.asyncErrorLogged = 0;
    this.watchStatus();
  }

  // The NATS connection, for what the SDK does not wrap.
  get nats() {
    return this.nc;
  }

  // Resolves once the server has every subscription made so far (and every publish).
  async flush() {
    await this.nc.flush();
  }

  async watchStatus() {
    try {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect') this.logger.warn(`disconnected from NATS ${s.server ?? ''}`);
        else if (s.type === 'reconnect') this.logger.warn(`reconnected to NATS ${s.server ?? ''}`);
        else if (s.type === 'error') this.warnAsyncError(s.error);
      }
    } catch {
      // The iterator ends with the connection.
    }
  }

  // The server reports some failures after the fact, not to the call that caused them: a
  // publish the NATS role does not allow (an ephemeral event or emit is then dropped while its
  // promise resolved). Logged at most every 10 s, since each such publish reports one.
  warnAsyncError(err) {
    const now = Date.now();
    if (now - this.asyncErrorLogged > 10000) {
      this.asyncErrorLogged = now;
      this.logger.warn(`NATS: ${err?.message ?? err}`);
    }
  }

  ensureOpen() {
    if (this.closing) throw new RoomcastError('unavailable', 'the backend is closed');
  }

  subscribe(subject, { queue, max, maxPending, run, overflow }) {
    const worker = new Worker({
      max,
      maxPending,
      run,
      overflow: (msg) => {
        const now = Date.now();
        if (now - this.overflowLogged > 10000) {
          this.overflowLogged = now;
          this.logger.warn(`${subject}: ${max} running and ${maxPending} waiting; dropping`);
        }
        overflow?.(msg);
      },
    });
    const sub = this.nc.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (err, msg) => {
        if (err) {
          this.logger.error(`subscription ${subject} failed`, err);
          return;
        }
        worker.push(msg);
      },
    });
    this.subscriptions.push({ sub, worker });
    return sub;
  }

  // --- custom events ----------------------------------------------------------------------------

  of(nsp) {
    if (!validNamespace(nsp)) {
      throw new RoomcastError('bad_request', `invalid namespace ${JSON.stringify(nsp)}`);
    }
    return new Namespace(this, nsp);
  }

  handle(event, fn, options) {
    return this.of('/').handle(event, fn, options);
  }

  handleIn(nsp, event, fn, options = {}) {
    this.ensureOpen();
    if (!validCustomEventName(nsp, event)) {
      throw new RoomcastError('bad_request', `${JSON.stringify(event)} cannot be a custom event of ${nsp}`);
    }
    if (typeof fn !== 'function') throw new TypeError('handler must be a function');
    const subject = rpcSubject(nsp, event);
    const queue = options.queue ?? this.options.queue;
    const key = `${queue}\u0000${subject}`;
    if (this.rpcSubjects.has(key)) {
      throw new RoomcastError('bad_request', `${event} on ${nsp} already has a handler`);
    }
    this.rpcSubjects.add(key);
    const T = types();
    this.subscribe(subject, {
      queue,
      max: options.maxConcurrent ?? this.options.maxConcurrent,
      maxPending: options.maxPending ?? this.options.maxPending,
      run: (msg) => this.runCustomEvent(msg, nsp, event, fn),
      // A request this replica cannot take is answered at once: the edge would only report
      // `unavailable` after its deadline.
      overflow: (msg) => {
        if (msg.reply) {
          msg.respond(
            encode(T.CustomEventReply, {
              ok: false,
              error: { code: 'unavailable', message: 'backend overloaded' },
            }),
          );
        }
      },
    });
    return this;
  }

  async runCustomEvent(msg, nsp, event, fn) {
    const T = types();
    const reply = (r) => {
      if (msg.reply) msg.respond(encode(T.CustomEventReply, r));
    };
    let req;
    try {
      req = decode(T.CustomEvent, msg.data);
    } catch (err) {
      this.logger.warn(`${msg.subject}: undecodable CustomEvent (${err.message})`);
      reply({ ok: false, error: { code: 'bad_request', message: 'malformed request' } });
      return;
    }
    // Fire-and-forget: the edge sent no ack callback; nobody reads an answer.
    const wantsReply = Boolean(msg.reply) && req.deadline_ms > 0;
    if (wantsReply && req.deadline_ms <= Date.now()) return; // the edge stopped waiting
    const answer = wantsReply ? reply : () => {};
    const ctx = { ...clientContext(req.client), event, ...deadlineOf(req.deadline_ms) };
    try {
      const args = reconstruct(req.args_json, req.attachments, []);
      if (!Array.isArray(args)) throw new RoomcastError('bad_request', 'arguments are not an array');
      const result = await fn(ctx, ...args);
      const out = deconstruct(result);
      answer({
        ok: true,
        result_json: result === undefined ? '' : out.json,
        attachments: out.attachments,
      });
    } catch (err) {
      if (err instanceof RoomcastError) {
        answer({ ok: false, error: errorOf(err) });
      } else {
        this.logger.error(`handler of ${JSON.stringify(event)} on ${nsp} failed`, err);
        answer({ ok: false, error: { code: 'internal', message: '' } });
      }
    }
  }

  // --- hooks ------------------------------------------------------------------------------------

  hookSubscription(subject, run) {
    this.subscribe(subject, {
      queue: this.options.queue,
      max: this.options.maxConcurrent,
      maxPending: this.options.maxPending,
      run,
      // No answer: the edge applies its failure mode (--hook-*-fail open/closed) at its
      // deadline, as for a backend that is down.
    });
  }

  onConnect(fn) {
    this.ensureOpen();
    if (typeof fn !== 'function') throw new TypeError('hook must be a function');
    if (this.connectHook) throw new RoomcastError('bad_request', 'onConnect already has a hook');
    this.connectHook = fn;
    this.hookSubscription(HOOK_CONNECT_SUBJECT, (msg) => this.runConnectHook(msg));
    return this;
  }

  onJoin(prefix, fn) {
    this.ensureOpen();
    this.joinHooks = this.addPrefixHook(this.joinHooks, prefix, fn, HOOK_JOIN_SUBJECT, (msg) =>
      this.runJoinHook(msg),
    );
    return this;
  }

  onPublish(prefix, fn) {
    this.ensureOpen();
    this.publishHooks = this.addPrefixHook(this.publishHooks, prefix, fn, HOOK_PUBLISH_SUBJECT, (msg) =>
      this.runPublishHook(msg),
    );
    return this;
  }

  addPrefixHook(list, prefix, fn, subject, run) {
    if (typeof fn !== 'function') throw new TypeError('hook must be a function');
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
    const p = prefix === '*' ? '' : prefix;
    if (list?.some((h) => h.prefix === p)) {
      throw new RoomcastError('bad_request', `prefix ${JSON.stringify(prefix)} already has a hook`);
    }
    if (!list) {
      list = [];
      this.hookSubscription(subject, run);
    }
    list.push({ prefix: p, fn });
    return list;
  }

  // Decodes a hook request, skips it past its deadline, runs `decide` and answers with its
  // result; a RoomcastError denies with its code, any other error denies `internal`.
  async runHook(msg, Req, Reply, name, decide) {
    let req;
    try {
      req = decode(Req, msg.data);
    } catch (err) {
      this.logger.warn(`${msg.subject}: undecodable request (${err.message})`);
      return;
    }
    if (req.deadline_ms > 0 && req.deadline_ms <= Date.now()) return;
    let out;
    try {
      out = await decide(req);
    } catch (err) {
      if (err instanceof RoomcastError) {
        out = { allow: false, error: errorOf(err) };
      } else {
        this.logger.error(`${name} hook failed`, err);
        out = { allow: false, error: { code: 'internal', message: '' } };
      }
    }
    if (msg.reply) msg.respond(encode(Reply, out));
  }

  runConnectHook(msg) {
    const T = types();
    return this.runHook(msg, T.ConnectHook, T.ConnectHookReply, 'connect', async (req) => {
      const client = clientContext(req.client);
      const hook = {
        namespace: req.namespace || '/',
        auth: parseObject(req.auth_json),
        headers: Object.fromEntries(req.headers.map((h) => [h.name.toLowerCase(), h.value])),
        address: req.remote_address,
        user: client.user,
        socket: req.client ? client.socket : null,
        ...deadlineOf(req.deadline_ms),
      };
      const result = await this.connectHook(hook);
      if (result !== null && typeof result === 'object' && 'user' in result && !('deny' in result)) {
        const u = result.user ?? {};
        if (!validUserId(u.id)) throw new TypeError('onConnect: user.id must be 1..256 bytes of text');
        const claims = u.claims ?? {};
        if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
          throw new TypeError('onConnect: user.claims must be an object');
        }
        return {
          allow: true,
          user_id: u.id,
          user_name: u.name ? String(u.name) : '',
          claims_json: JSON.stringify(claims),
        };
      }
      return decision(result, { data: false });
    });
  }

  runJoinHook(msg) {
    const T = types();
    return this.runHook(msg, T.JoinHook, T.JoinHookReply, 'join', async (req) => {
      const h = longestPrefix(this.joinHooks, req.room);
      if (!h) return { allow: true };
      const ctx = { ...clientContext(req.client), ...deadlineOf(req.deadline_ms) };
      return decision(await h.fn(ctx, req.room), { data: false });
    });
  }

  runPublishHook(msg) {
    const T = types();
    return this.runHook(msg, T.PublishHook, T.PublishHookReply, 'publish', async (req) => {
      const h = longestPrefix(this.publishHooks, req.room);
      if (!h) return { allow: true };
      const ctx = { ...clientContext(req.client), ...deadlineOf(req.deadline_ms) };
      const message = {
        room: req.room,
        event: req.event,
        data: reconstruct(req.data_json, req.attachments, null),
      };
      return decision(await h.fn(ctx, message), { data: true });
    });
  }

  // --- lifecycle events -------------------------------------------------------------------------

  // kind: connect, disconnect, join, leave, kicked, or dropped (events the edges or this
  // process dropped: fn(count, {edge, source})). options.queue shares the events among the
  // replicas that use the same queue; without it every replica sees every event.
  on(kind, fn, options = {}) {
    this.ensureOpen();
    if (!LISTENER_KINDS.has(kind)) {
      throw new RoomcastError('bad_request', `unknown lifecycle kind ${JSON.stringify(kind)}`);
    }
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    const key = options.queue ?? '';
    let group = this.lifecycle.get(key);
    if (!group) {
      group = { listeners: new Map() };
      this.lifecycle.set(key, group);
      const T = types();
      // One batch at a time, in order: a connect is seen before that socket's disconnect.
      this.subscribe(LIFECYCLE_SUBJECTS, {
        queue: options.queue,
        max: 1,
        maxPending: this.options.maxPending,
        run: (msg) => this.runLifecycle(msg, group),
        overflow: (msg) => {
          let n = 0;
          try {
            n = decode(T.LifecycleBatch, msg.data).events.length;
          } catch {
            // counted as nothing: it was not a batch
          }
          if (n > 0) this.dispatchDropped(group, n, { edge: '', source: 'backend' });
        },
      });
    }
    const list = group.listeners.get(kind) ?? [];
    list.push(fn);
    group.listeners.set(kind, list);
    return this;
  }

  dispatchDropped(group, n, info) {
    for (const fn of group.listeners.get('dropped') ?? []) {
      try {
        const p = fn(n, info);
        if (p && typeof p.catch === 'function') {
          p.catch((err) => this.logger.error('dropped listener failed', err));
        }
      } catch (err) {
        this.logger.error('dropped listener failed', err);
      }
    }
  }

  async runLifecycle(msg, group) {
    let batch;
    try {
      batch = decode(types().LifecycleBatch, msg.data);
    } catch (err) {
      this.logger.warn(`${msg.subject}: undecodable LifecycleBatch (${err.message})`);
      return;
    }
    if (batch.dropped > 0) {
      this.dispatchDropped(group, Number(batch.dropped), { edge: batch.edge_id, source: 'edge' });
    }
    for (const e of batch.events) {
      const kind = LIFECYCLE_KINDS[e.kind];
      const listeners = kind ? group.listeners.get(kind) : undefined;
      if (!listeners) continue;
      const evt = {
        kind,
        at: new Date(e.at_ms),
        user: { id: e.user_id, name: e.user_name || e.user_id },
        socketId: e.socket_id,
        namespace: e.namespace || '/',
        room: e.room,
        reason: e.reason,
        recovered: e.recovered,
        edge: batch.edge_id,
      };
      for (const fn of listeners) {
        try {
          await fn(evt);
        } catch (err) {
          this.logger.error(`${kind} listener failed`, err);
        }
      }
    }
  }

  // --- emit -------------------------------------------------------------------------------------

  // A room's events are stored (offset, history, recovery) and reach its members on every edge;
  // with `ephemeral: true` they only reach the members connected now (no offset, no history).
  to(room) {
    return {
      emit: (event, data, options = {}) => this.emitToRoom(room, event, data, options),
    };
  }

  // Emits do not check `closing`: handlers that close() lets finish may still emit.
  async emitToRoom(room, event, data, options) {
    const bytes = this.roomEvent(room, event, data, options);
    if (options.ephemeral) return this.publishEphemeral(room, bytes);
    let ack;
    try {
      ack = await this.js.publish(roomSubject(room), bytes, {
        timeout: options.timeout ?? this.options.emitTimeout,
      });
    } catch (err) {
      throw wrapPublishError(err, `publish to room ${room}`);
    }
    return String(ack.seq);
  }

  // The RoomEvent both kinds of room events carry, after the same checks.
  roomEvent(room, event, data, options) {
    if (!validRoomId(room)) {
      throw new RoomcastError('bad_request', 'room ids match ^[A-Za-z0-9_:@-]{1,128}$');
    }
    if (!validEventName(event)) {
      throw new RoomcastError('bad_request', `invalid or reserved event name ${JSON.stringify(event)}`);
    }
    if (options.exceptSocket !== undefined && !validSocketId(options.exceptSocket)) {
      throw new RoomcastError('bad_request', 'invalid socket id');
    }
    const d = deconstruct(data);
    return encode(types().RoomEvent, {
      room,
      event,
      data_json: d.json,
      attachments: d.attachments,
      from: 'server',
      exclude_socket: options.exceptSocket ?? '',
      published_at_ms: Date.now(),
    });
  }

  // An ephemeral room event is a core NATS publish on roomcast.ephemeral.<room>: no stream, no
  // PubAck, so no offset; the edges with members in the room deliver it (docs/backends.md,
  // "Ephemeral room events"). Resolves to undefined once the server has it, as direct emits do.
  async publishEphemeral(room, bytes) {
    try {
      this.nc.publish(ephemeralSubject(room), bytes);
      await this.nc.flush();
    } catch (err) {
      throw wrapPublishError(err, `ephemeral publish to room ${room}`);
    }
    return undefined;
  }

  toUser(userId) {
    return this.of('/').toUser(userId);
  }

  toSocket(socketId) {
    return this.of('/').toSocket(socketId);
  }

  async emitDirect(target, nsp, event, args) {
    if ('user_id' in target ? !validUserId(target.user_id) : !validSocketId(target.socket_id)) {
      throw new RoomcastError('bad_request', 'user_id' in target ? 'invalid user id' : 'invalid socket id');
    }
    if (!validEventName(event)) {
      throw new RoomcastError('bad_request', `invalid or reserved event name ${JSON.stringify(event)}`);
    }
    const a = deconstructArgs(args);
    const bytes = encode(types().Emit, {
      ...target,
      namespace: nsp,
      event,
      args_json: a.json,
      attachments: a.attachments,
    });
    try {
      this.nc.publish(EMIT_SUBJECT, bytes);
      // Emits are core NATS: the flush is the only sign the server took it.
      await this.nc.flush();
    } catch (err) {
      throw wrapPublishError(err, 'emit');
    }
  }

  // --- shutdown ---------------------------------------------------------------------------------

  // Stops taking requests, lets handlers in flight (and requests already taken) finish for at
  // most closeTimeout ms, then drains and closes the connection. Idempotent.
  close() {
    this.closing ??= (async () => {
      await Promise.allSettled(this.subscriptions.map((s) => s.sub.drain()));
      let timer;
      const timedOut = await Promise.race([
        Promise.all(this.subscriptions.map((s) => s.worker.whenIdle())).then(() => false),
        new Promise((resolve) => {
          timer = setTimeout(() => resolve(true), this.options.closeTimeout);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.logger.warn(`close: handlers still running after ${this.options.closeTimeout} ms`);
      }
      try {
        await this.nc.drain();
      } catch {
        await this.nc.close().catch(() => {});
      }
    })();
    return this.closing;
  }
}

// The custom events and direct emits of one namespace.
class Namespace {
  constructor(rc, nsp) {
    this.rc = rc;
    this.name = nsp;
  }

  handle(event, fn, options) {
    this.rc.handleIn(this.name, event, fn, options);
    return this;
  }

  toUser(userId) {
    return { emit: (event, ...args) => this.rc.emitDirect({ user_id: userId }, this.name, event, args) };
  }

  toSocket(socketId) {
    return { emit: (event, ...args) => this.rc.emitDirect({ socket_id: socketId }, this.name, event, args) };
  }
}
