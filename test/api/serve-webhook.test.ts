/**
 * The real `flux-serve serve` process on the tiny model: `--home`, keys from FLUX_SERVE_KEYS and a
 * keys file together, and a webhook delivered to a loopback receiver (allowed by
 * FLUX_SERVE_FETCH_ALLOW_LOOPBACK), its signature checked with the secret the API hands out.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../src/api/webhook-signature.js';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

const SUBMIT = '/api/v3/wavespeed-ai/flux-schnell-lora';

interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

let dir: TinyServerRoot;
let server: ServerProcess;
let receiver: Server;
let receiverUrl: string;
const deliveries: Delivery[] = [];
let delivered: (() => void) | undefined;

beforeAll(async () => {
  dir = await tinyServerRoot('serve-webhook-');
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body });
      res.writeHead(204).end();
      delivered?.();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook?from=flux`;
  const keysFile = join(dir.root, 'keys.txt');
  await writeFile(keysFile, '# ops\nsk-file\n');
  await mkdir(join(dir.root, 'flag-home'), { recursive: true });
  server = await startServer({
    model: dir.model,
    // FLUX_SERVE_HOME names one folder, --home another: the flag wins.
    home: dir.home,
    args: ['--home', join(dir.root, 'flag-home'), '--keys', keysFile],
    env: { FLUX_SERVE_KEYS: 'sk-env-one, sk-env#two', FLUX_SERVE_FETCH_ALLOW_LOOPBACK: '1' },
  });
}, 120_000);
afterAll(async () => {
  await new Promise((r) => receiver?.close(r));
  await dir?.cleanup();
});

const call = (path: string, key: string | undefined, init: RequestInit = {}) =>
  fetch(`${server.base}${path}`, {
    ...init,
    headers: {
      'content-type': 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
  });

describe('flux-serve serve', () => {
  it('keeps its tasks under --home, not FLUX_SERVE_HOME', () => {
    expect(existsSync(join(dir.root, 'flag-home', 'tasks.db'))).toBe(true);
    expect(existsSync(join(dir.home, 'tasks.db'))).toBe(false);
  });

  it('requires a key from FLUX_SERVE_KEYS or the keys file', async () => {
    const body = JSON.stringify({ prompt: 'x', size: '256*256', num_inference_steps: 1 });
    const anonymous = await call(SUBMIT, undefined, { method: 'POST', body });
    expect(anonymous.status).toBe(401);
    expect((await anonymous.json()).message).toMatch(/API key/);
    expect((await call(SUBMIT, 'sk-wrong', { method: 'POST', body })).status).toBe(401);
    for (const key of ['sk-env-one', 'sk-env#two', 'sk-file']) {
      const res = await call(SUBMIT, key, { method: 'POST', body });
      expect([key, res.status]).toEqual([key, 200]);
    }
  });

  it('delivers the signed webhook: the task data plus input', async () => {
    const key = 'sk-env#two';
    const input = { prompt: 'a webhook', size: '256*256', num_inference_steps: 1, seed: 11, extra: 'kept' };
    const arrived = new Promise<void>((r) => {
      delivered = r;
    });
    const res = await call(`${SUBMIT}?webhook=${encodeURIComponent(receiverUrl)}`, key, {
      method: 'POST',
      body: JSON.stringify(input),
    });
    expect(res.status).toBe(200);
    const id = (await res.json()).data.id as string;
    await arrived;
    expect(deliveries).toHaveLength(1);
    const [delivery] = deliveries as [Delivery];
    const secret = (await (await call('/api/v3/webhook/secret', key)).json()).data.secret as string;
    expect(secret).toMatch(/^whsec_/);
    const headers = delivery.headers as Record<string, string>;
    expect(headers['webhook-id']).toBe(id);
    expect(verifyWebhook(secret, headers, delivery.body)).toBe(true);
    expect(verifyWebhook(secret, headers, delivery.body.replace('a webhook', 'a webhooK'))).toBe(false);
    const sent = JSON.parse(delivery.body);
    const result = (await (await call(`/api/v3/predictions/${id}/result`, key)).json()).data;
    expect(result.status).toBe('completed');
    expect(sent).toEqual({ ...result, input });
  });

  it('on 0.0.0.0 with keys and no FLUX_SERVE_PUBLIC_URL, says that output URLs will name the wildcard', async () => {
    const open = await startServer({
      model: dir.model,
      home: join(dir.root, 'wildcard-home'),
      args: ['--host', '0.0.0.0'],
      env: { FLUX_SERVE_KEYS: 'sk-wild' },
    });
    try {
      expect(open.stderr()).toMatch(/output URLs will name the wildcard address; set FLUX_SERVE_PUBLIC_URL/);
    } finally {
      await open.stop();
    }
  });

  it('on SIGTERM, stops within FLUX_SERVE_SHUTDOWN_GRACE_MS: waiting requests cut, the running task left for the restart', async () => {
    const stopping = await startServer({
      model: dir.model,
      home: join(dir.root, 'stop-home'),
      env: { FLUX_SERVE_SHUTDOWN_GRACE_MS: '300', FLUX_SERVE_SYNC_WAIT_MS: '600000' },
    });
    const submit = (body: Record<string, unknown>) =>
      fetch(`${stopping.base}${SUBMIT}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // A long task runs; a sync-mode request waits behind it.
    expect((await submit({ prompt: 'long', size: '1280*1280', num_inference_steps: 8 })).status).toBe(200);
    const waiting = submit({
      prompt: 'waits',
      size: '256*256',
      num_inference_steps: 1,
      enable_sync_mode: true,
    }).then(
      (r) => r.status,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise<number | null>((r) => stopping.child.once('exit', (code) => r(code)));
    const sent = Date.now();
    stopping.child.kill('SIGTERM');
    // Cut off by the grace, not answered: the server stopped before that task ran (it stays queued).
    expect(await waiting).toBeInstanceOf(Error);
    expect(await exited).toBe(0);
    expect(Date.now() - sent).toBeLessThan(5000); // the long task alone takes far longer here
  }, 120_000);

  it('refuses to start on a non-loopback address without keys', async () => {
    await expect(
      startServer({ model: dir.model, home: join(dir.root, 'open-home'), args: ['--host', '0.0.0.0'] }),
    ).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 without API keys/);
  });
});
