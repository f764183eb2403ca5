// A typed backend: compiled (never run) by test/types.test.mjs against index.d.ts. The lines
// marked to expect an error must fail to compile, so wrong types are caught too.
import { connect, RoomcastError, type LifecycleEvent } from '@roomcast/backend';

async function main(): Promise<void> {
  const rc = await connect({ queue: 'posts', maxConcurrent: 16, logger: null });

  rc.handle('createPost', async (ctx, data: { title: string }) => {
    if (!ctx.user) throw new RoomcastError('unauthorized', 'sign in first');
    const claims: Record<string, unknown> = ctx.user.claims;
    const rooms: string[] = ctx.socket.rooms;
    const deadline: Date | null = ctx.deadline;
    return { id: 42, title: data.title, by: ctx.user.name, claims, rooms, deadline };
  });
  rc.of('/admin').handle('ban', async (_ctx, userId: string) => ({ banned: userId }));

  rc.onConnect(async (hook) => {
    if (hook.headers.cookie === 'sid=1') return { user: { id: 'u1', name: 'U', claims: { plan: 'pro' } } };
    if (hook.auth.token === undefined) return { deny: 'unauthorized', message: 'no session' };
    return false;
  });
  rc.onJoin('team:', async (ctx, room) => ctx.user?.id.startsWith('staff-') === true && room.length > 0);
  rc.onPublish('post:', async (_ctx, msg) =>
    String(msg.data.text).includes('spam') ? { deny: 'forbidden', message: 'no spam' } : { data: msg.data },
  );
  rc.on('join', (evt: LifecycleEvent) => {
    const when: Date = evt.at;
    void when;
  });
  rc.on('dropped', (n, info) => {
    const count: number = n;
    const edge: string = info.edge;
    void count;
    void edge;
  }, { queue: 'analytics' });

  const offset: string = await rc.to('post:42').emit('comment', { text: 'hi' });
  void offset;
  const none: void = await rc.to('doc:7').emit('cursor', { x: 1, y: 2 }, { ephemeral: true, exceptSocket: 's1' });
  void none;
  await rc.toUser('alice').emit('notice', { text: 'you have mail' });
  await rc.toSocket('abc').emit('notice', 1, 2, Buffer.from('x'));
  await rc.close();

  // @ts-expect-error lifecycle kinds are a closed set
  rc.on('joined', () => {});
  // @ts-expect-error emit to a room resolves to the offset string
  const n: number = await rc.to('r').emit('e');
  void n;
  // @ts-expect-error an ephemeral event has no offset
  const o: string = await rc.to('r').emit('e', {}, { ephemeral: true });
  void o;
  // @ts-expect-error an ephemeral event waits for no PubAck
  await rc.to('r').emit('e', {}, { ephemeral: true, timeout: 100 });
  // @ts-expect-error a connect hook's user needs an id
  rc.onConnect(async () => ({ user: { name: 'x' } }));
  // @ts-expect-error maxConcurrent is a number
  await connect({ maxConcurrent: 'many' });
}

void main;
