/**
 * Durability: the real server process is SIGKILLed with tasks queued and running; after a restart
 * every accepted task ends `completed` with its outputs. A second server started on the same home
 * while the first runs a task is refused before it touches the task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-process.js';
import { freePort, startServer, type TinyServerRoot, tinyServerRoot } from '../support/server-process.js';

let dir: TinyServerRoot;
let port: number;

beforeAll(async () => {
  dir = await tinyServerRoot('durability-');
  port = await freePort();
});
afterAll(async () => {
  await dir.cleanup();
});

async function waitFor(base: string, id: string, done: (status: string) => boolean) {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${base}/api/v3/predictions/${id}/result`);
    const data = ((await res.json()) as { data: { status: string; outputs: string[]; error?: string } }).data;
    if (done(data.status)) return data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${id} never reached the awaited status`);
}

describe('one server per home', () => {
  it('a second serve on the home of a running task exits with the holder named, and the task completes', async () => {
    const first = await startServer({ model: dir.model, home: dir.home, port });
    const res = await fetch(`${first.base}/api/v3/wavespeed-ai/flux-schnell-lora`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'held', size: '1024*1024', num_inference_steps: 8, seed: 1 }),
    });
    const id = ((await res.json()) as { data: { id: string } }).data.id;
    await waitFor(first.base, id, (s) => s !== 'created');
    // Same port (the reported case: EADDRINUSE came only after recovery had run) and another port.
    for (const second of [port, await freePort()]) {
      const { code, stderr } = await runCli(
        { FLUX_SERVE_HOME: dir.home },
        'serve',
        '--port',
        String(second),
        '--model',
        dir.model,
      );
      expect(code).toBe(2);
      expect(stderr).toContain(`in use by flux-serve process ${first.child.pid}`);
      expect(stderr).not.toContain('interrupted');
    }
    const data = await waitFor(first.base, id, (s) => s === 'completed' || s === 'failed');
    expect(data.error ?? '').toBe('');
    expect(data.status).toBe('completed');
    expect((await fetch(data.outputs[0] as string)).status).toBe(200);
    await first.stop();
  }, 120_000);
});

describe('a SIGKILLed server loses no accepted task', () => {
  it('every task accepted before the kill completes after a restart', async () => {
    const first = await startServer({ model: dir.model, home: dir.home, port });
    const base = first.base;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${base}/api/v3/wavespeed-ai/flux-schnell-lora`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `task ${i}`, size: '512*512', num_inference_steps: 8, seed: i }),
      });
      ids.push(((await res.json()) as { data: { id: string } }).data.id);
    }
    await new Promise((r) => setTimeout(r, 300)); // let the first task start running
    await first.kill('SIGKILL');

    await startServer({ model: dir.model, home: dir.home, port });
    for (const id of ids) {
      let data: { status: string; outputs: string[]; seed: number } | undefined;
      for (let i = 0; i < 600 && data?.status !== 'completed'; i++) {
        const res = await fetch(`${base}/api/v3/predictions/${id}/result`);
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
