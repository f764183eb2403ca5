// Types of @roomcast/backend (hand-written; test/types.test.mjs compiles test/types/*.ts
// against them with tsc --noEmit).
/// <reference types="node" />

import type { NatsConnection } from '@nats-io/transport-node';

/** PRODUCT.md §2's codes, or the application's own. */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'payload_too_large'
  | 'unavailable'
  | 'internal'
  | (string & {});

/** Thrown by handlers and hooks to answer with {code, message}; the SDK rejects with it too. */
export class RoomcastError extends Error {
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown });
  readonly name: 'RoomcastError';
  readonly code: ErrorCode;
  /** The message the client sees ("" when none was given). */
  readonly clientMessage: string;
}

export interface Logger {
  error(message: string, err?: unknown): void;
  warn(message: string): void;
}

export interface ConnectOptions {
  /** NATS URL(s), credentials allowed inside (nats://user:pass@host:port). Default:
   * process.env.ROOMCAST_BACKEND_NATS_URL. */
  servers?: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** The NATS connection name (default "roomcast-backend"). */
  name?: string;
  /** Queue group of handlers and hooks: one name per backend service (default "roomcast-backend"). */
  queue?: string;
  /** Messages one subscription runs at once (default 64). */
  maxConcurrent?: number;
  /** Messages one subscription holds while maxConcurrent run (default 256); beyond it requests
   * are answered `unavailable` (custom events) or left to the edge's deadline (hooks). */
  maxPending?: number;
  /** Milliseconds to wait for a room publish's PubAck (default 5000). */
  emitTimeout?: number;
  /** Milliseconds close() waits for handlers in flight (default 10000). */
  closeTimeout?: number;
  /** Where handler failures and warnings go (default: console); null silences. */
  logger?: Logger | null;
  tls?: Record<string, unknown>;
  /** More options for the NATS client (@nats-io/transport-node ConnectionOptions). */
  nats?: Record<string, unknown>;
}

export interface User {
  id: string;
  /** The `name` claim (or the connect hook's name), else the id. */
  name: string;
  /** The token's (or the connect hook's) claims. */
  claims: Record<string, unknown>;
}

export interface SocketInfo {
  id: string;
  edge: string;
  /** "/" or the socket's namespace. */
  namespace: string;
  /** Rooms the socket is in. */
  rooms: string[];
  /** The client's address. */
  address: string;
}

export interface Deadline {
  /** When the edge stops waiting (null: fire-and-forget, nobody waits). */
  deadline: Date | null;
  /** Aborted at the deadline (never for fire-and-forget). */
  signal: AbortSignal;
}

export interface Context extends Deadline {
  /** null only for a socket without a user. */
  user: User | null;
  socket: SocketInfo;
}

export interface EventContext extends Context {
  event: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (ctx: EventContext, ...args: any[]) => unknown | Promise<unknown>;

export interface HandleOptions {
  queue?: string;
  maxConcurrent?: number;
  maxPending?: number;
}

export interface ConnectHookRequest extends Deadline {
  namespace: string;
  /** socket.io-client's `auth`, {} when absent. */
  auth: Record<string, unknown>;
  /** Lower-case names: cookie, origin, user-agent, authorization, accept-language. */
  headers: Record<string, string>;
  address: string;
  /** The token's user (edge mode "all"), else null. */
  user: User | null;
  socket: SocketInfo | null;
}

export interface Deny {
  deny: ErrorCode;
  message?: string;
}

export type ConnectDecision =
  | boolean
  | void
  | undefined
  | null
  | Deny
  | { user: { id: string; name?: string; claims?: Record<string, unknown> } };

export type JoinDecision = boolean | void | undefined | null | Deny;

export type PublishDecision = JoinDecision | { data: unknown };

export interface PublishedMessage {
  room: string;
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

export type LifecycleKind = 'connect' | 'disconnect' | 'join' | 'leave' | 'kicked';

export interface LifecycleEvent {
  kind: LifecycleKind;
  /** The edge's clock. */
  at: Date;
  user: { id: string; name: string };
  socketId: string;
  namespace: string;
  /** join, leave, kicked. */
  room: string;
  /** disconnect: Socket.IO's reason; kicked: the kick's reason. */
  reason: string;
  /** connect: the socket resumed a session. */
  recovered: boolean;
  edge: string;
}

export interface DroppedInfo {
  /** The edge that dropped them ("" when this process did). */
  edge: string;
  source: 'edge' | 'backend';
}

export interface ListenOptions {
  /** Share lifecycle events among the replicas that use this queue group. */
  queue?: string;
}

export interface RoomEmitOptions {
  /** A socket that must not receive the event. */
  exceptSocket?: string;
  /** Milliseconds to wait for the PubAck. */
  timeout?: number;
  /** Stored (the default). */
  ephemeral?: false;
}

export interface EphemeralEmitOptions {
  /** Core NATS on roomcast.ephemeral.<room>: not stored, no offset, not in history, not
   * recovered; only the members connected now receive it. */
  ephemeral: true;
  /** A socket that must not receive the event. */
  exceptSocket?: string;
}

export interface RoomTarget {
  /** Stores the event in the room; resolves to its offset (a decimal string). */
  emit(event: string, data?: unknown, options?: RoomEmitOptions): Promise<string>;
  /** An ephemeral event (cursors, typing): resolves, without an offset, once the server has it. */
  emit(event: string, data: unknown, options: EphemeralEmitOptions): Promise<void>;
}

export interface DirectTarget {
  /** Delivers to the sockets connected now; resolves once the server took it. */
  emit(event: string, ...args: unknown[]): Promise<void>;
}

export interface Namespace {
  readonly name: string;
  handle(event: string, handler: Handler, options?: HandleOptions): this;
  toUser(userId: string): DirectTarget;
  toSocket(socketId: string): DirectTarget;
}

export interface Roomcast {
  /** The NATS connection, for what the SDK does not wrap. */
  readonly nats: NatsConnection;
  handle(event: string, handler: Handler, options?: HandleOptions): this;
  of(namespace: string): Namespace;
  onConnect(hook: (request: ConnectHookRequest) => ConnectDecision | Promise<ConnectDecision>): this;
  onJoin(prefix: string, hook: (ctx: Context, room: string) => JoinDecision | Promise<JoinDecision>): this;
  onPublish(
    prefix: string,
    hook: (ctx: Context, message: PublishedMessage) => PublishDecision | Promise<PublishDecision>,
  ): this;
  on(kind: LifecycleKind, listener: (event: LifecycleEvent) => unknown, options?: ListenOptions): this;
  on(kind: 'dropped', listener: (count: number, info: DroppedInfo) => unknown, options?: ListenOptions): this;
  to(room: string): RoomTarget;
  toUser(userId: string): DirectTarget;
  toSocket(socketId: string): DirectTarget;
  /** Resolves once the server has every subscription and publish made so far. */
  flush(): Promise<void>;
  /** Stops taking requests, lets handlers in flight finish (closeTimeout), drains. */
  close(): Promise<void>;
}

export const DEFAULT_QUEUE: 'roomcast-backend';

export function connect(options?: ConnectOptions): Promise<Roomcast>;

/** NATS URL(s) to servers without credentials, and the credentials. */
export function parseServers(spec: string | string[]): {
  servers: string[];
  auth: { user: string; pass: string } | { token: string } | null;
};

export function subjectToken(name: string): string;
export function rpcSubject(namespace: string, event: string): string;
export function lifecycleSubject(edge: string): string;
export function roomSubject(room: string): string;
/** roomcast.ephemeral.<room>: where ephemeral room events travel. */
export function ephemeralSubject(room: string): string;
export function reservedEvent(name: string): boolean;
export function validEventName(name: string): boolean;
export function validNamespace(namespace: string): boolean;
export function validRoomId(room: string): boolean;
export function validSocketId(socketId: string): boolean;
export function validUserId(userId: string): boolean;
