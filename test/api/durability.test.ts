/**
 * Durability: the real server process is SIGKILLed with tasks queued and running; after a restart
 * every accepted task ends `completed` with its outputs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyModel } from '../support/tiny-model.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
let root: string;
let port: number;
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

function startServer(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      CLI,
      'serve',
      '--port',
      String(port),
      '--model',
      join(root, 'model'),
    ],
    { env: { ...process.env, FLUX_SERVE_HOME: join(root, 'home'), LOG_LEVEL: 'warn' }, stdio: 'ignore' },
  );
  children.push(child);
  return child;
}

const base = () => `http://127.0.0.1:${port}`;

async function waitReady(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const res = await fetch(`${base()}/readyz`).catch(() => undefined);
    if (res?.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server never became ready');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'durability-'));
  await buildTinyModel(root, 'tiny', 6);
  port = await freePort();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

describe('a SIGKILLed server loses no accepted task', () => {
  it('every task accepted before the kill completes after a restart', async () => {
    const first = startServer();
    await waitReady();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${base()}/api/v3/wavespeed-ai/flux-schnell-lora`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `task ${i}`, size: '512*512', num_inference_steps: 8, seed: i }),
      });
      ids.push(((await res.json()) as { data: { id: string } }).data.id);
    }
    await new Promise((r) => setTimeout(r, 300)); // let the first task start running
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    startServer();
    await waitReady();
    for (const id of ids) {
      let data: { status: string; outputs: string[]; seed: number } | undefined;
      for (let i = 0; i < 600 && data?.status !== 'completed'; i++) {
        const res = await fetch(`${base()}/api/v3/predictions/${id}/result`);
        data = ((await res.json()) as { data: typeof data }).data;
        if (data?.status === 'failed') throw new Error(`task ${id} failed`);
        if (data?.status !== 'completed') await new Promise((r) => setTimeout(r, 100));
      }
      expect(data?.status).toBe('completed');
      expect(data?.outputs).toHaveLength(1);
      const image = await fetch(data?.outputs[0] as string);
      expect(image.status).toBe(200);
      expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  }, 120_000);
});
