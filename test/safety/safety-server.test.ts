/**
 * The safety settings through the real server process: with threshold 0 and policy `black` every
 * output is flagged and comes back black; `enable_safety_checker: false` leaves it as generated.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

let dir: TinyServerRoot;
let server: ServerProcess;

beforeAll(async () => {
  dir = await tinyServerRoot('safety-server-');
  server = await startServer({
    model: dir.model,
    home: dir.home,
    env: {
      FLUX_SERVE_SAFETY_CHECKER: 'nsfwjs',
      FLUX_SERVE_SAFETY_THRESHOLD: '0',
      FLUX_SERVE_SAFETY_POLICY: 'black',
    },
  });
}, 120_000);
afterAll(() => dir.cleanup());

async function render(extra: object): Promise<{ data: Record<string, unknown>; pixels: Buffer }> {
  const res = await fetch(`${server.base}/api/v3/wavespeed-ai/flux-schnell-lora`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt: 'a lighthouse',
      size: '256*256',
      num_inference_steps: 2,
      seed: 5,
      output_format: 'png',
      enable_sync_mode: true,
      ...extra,
    }),
  });
  const data = ((await res.json()) as { data: Record<string, unknown> }).data;
  const image = Buffer.from(await (await fetch((data.outputs as string[])[0] as string)).arrayBuffer());
  return { data, pixels: await sharp(image).raw().toBuffer() };
}

describe('safety settings of a served model', () => {
  it('threshold 0 flags every output and policy black blacks it out', async () => {
    const { data, pixels } = await render({ num_images: 2 });
    expect(data.status).toBe('completed');
    expect(data.has_nsfw_contents).toEqual([true, true]);
    expect(pixels.every((v) => v === 0)).toBe(true);
    expect((data.timings as Record<string, number>).safety).toBeGreaterThan(0);
  });

  it('enable_safety_checker false: not checked, flags false, the image as generated', async () => {
    const { data, pixels } = await render({ enable_safety_checker: false });
    expect(data.has_nsfw_contents).toEqual([false]);
    expect(pixels.some((v) => v !== 0)).toBe(true);
    expect((data.timings as Record<string, number>).safety).toBeUndefined();
  });
});
