/**
 * Webhook delivery against a loopback receiver: the body is the task data plus `input`, the
 * signature verifies with the secret, failed tries are retried with the same `webhook-id` on the
 * configured schedule and then given up, a due delivery survives a restart of the sender, and the
 * address guard applies to webhook targets too.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { taskPresenter } from '../../src/api/task-presenter.js';
import { WebhookSender } from '../../src/api/webhook-sender.js';
import { verifyWebhook } from '../../src/api/webhook-signature.js';
import { LocalOutputStore } from '../../src/jobs/output-store.js';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import type { TaskStore } from '../../src/jobs/task.js';
import { createLogger } from '../../src/log.js';
import { newTask, work } from '../jobs/task-fixtures.js';

const SECRET = 'whsec_0123456789abcdef';
const LOOPBACK = { allowLoopback: true, allowPrivate: false };

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

let server: Server | undefined;
let store: TaskStore | undefined;
const senders: WebhookSender[] = [];

afterEach(async () => {
  for (const s of senders.splice(0)) await s.stop();
  await store?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

/** A receiver that answers `statuses` in turn (the last one from then on). */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)] as number;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook?x=1`, received };
}

function sender(s: TaskStore, policy = LOOPBACK): WebhookSender {
  const outputs = new LocalOutputStore(join(tmpdir(), 'webhook-sender-unused'));
  const w = new WebhookSender({
    store: s,
    present: taskPresenter({
      store: s,
      outputs,
      publicBaseUrl: 'http://127.0.0.1:8080',
      progress: () => undefined,
      warnings: [],
    }),
    secret: SECRET,
    policy,
    retryDelaysMs: [20, 20, 20],
    timeoutMs: 2000,
    log: createLogger('silent'),
  });
  senders.push(w);
  return w;
}

async function finishedTask(s: TaskStore, webhook: string): Promise<string> {
  const { id } = await s.create(newTask({ webhook, input: { prompt: 'a fox', seed: 3 } }));
  await s.claimNext();
  await s.complete(id, work(['x-0.jpg']));
  return id;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('WebhookSender', () => {
  it('retries a failing receiver with the same id and a valid signature until it answers 2xx', async () => {
    const hook = await receiver([500, 503, 204]);
    store = openSqliteTaskStore(':memory:', { maxQueued: 10 });
    const id = await finishedTask(store, hook.url);
    sender(store).start();
    await eventually(() => hook.received.length === 3, 'three tries');
    for (const { headers, body } of hook.received) {
      expect(headers['webhook-id']).toBe(id);
      expect(headers['content-type']).toBe('application/json');
      expect(verifyWebhook(SECRET, headers as Record<string, string>, body)).toBe(true);
      expect(verifyWebhook('whsec_other', headers as Record<string, string>, body)).toBe(false);
    }
    const body = JSON.parse(hook.received[2]?.body as string);
    expect(body).toMatchObject({
      id,
      status: 'completed',
      outputs: ['http://127.0.0.1:8080/outputs/x-0.jpg'],
      input: { prompt: 'a fox', seed: 3 },
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(hook.received).toHaveLength(3); // delivered: never sent again
    expect(await store.nextWebhookAt()).toBeUndefined();
  });

  it('gives up after the last retry', async () => {
    const hook = await receiver([500]);
    store = openSqliteTaskStore(':memory:', { maxQueued: 10 });
    await finishedTask(store, hook.url);
    sender(store).start();
    await eventually(() => hook.received.length === 4, 'four tries');
    await new Promise((r) => setTimeout(r, 150));
    expect(hook.received).toHaveLength(4);
    expect(await store.dueWebhooks(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });

  it('a delivery due when the sender stopped is sent by the next one', async () => {
    const hook = await receiver([200]);
    store = openSqliteTaskStore(':memory:', { maxQueued: 10 });
    const id = await finishedTask(store, hook.url); // finished while no sender ran
    sender(store).start();
    await eventually(() => hook.received.length === 1, 'the delivery');
    expect(hook.received[0]?.headers['webhook-id']).toBe(id);
  });

  it('refuses a loopback receiver unless the address policy allows it', async () => {
    const hook = await receiver([200]);
    store = openSqliteTaskStore(':memory:', { maxQueued: 10 });
    const s = store;
    await finishedTask(s, hook.url);
    sender(s, { allowLoopback: false, allowPrivate: false }).start();
    // nextWebhookAt, not dueWebhooks: reading due deliveries would lease them away from the sender.
    await eventually(async () => (await s.nextWebhookAt()) === undefined, 'giving up');
    expect(hook.received).toEqual([]);
  });
});
