/**
 * Durability: the real server process is SIGKILLed with tasks queued and running; after a restart
 * every accepted task ends `completed` with its outputs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
