/**
 * The official `wavespeed` npm client (0.3.2) against the real server process on the tiny model:
 * what a hosted-API user gets by changing only the base URL. One server for the file; every task is
 * 256² with 1–2 steps so that the file stays well under a minute on two slow cores.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  WavespeedPredictionException,
  WavespeedSubmissionException,
  WavespeedSyncTimeoutException,
} from 'wavespeed';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

const MODEL = 'wavespeed-ai/flux-schnell-lora';
const SIDE = 256;

let dir: TinyServerRoot;
let server: ServerProcess;
let client: Client;

beforeAll(async () => {
  dir = await tinyServerRoot('sdk-');
  server = await startServer({ model: dir.model, home: dir.home });
  // The SDK refuses to send a request without a key; with no keys configured the server takes any.
  client = new Client('any-key', { baseUrl: server.base, maxRetries: 0 });
});
afterAll(async () => {
  await dir?.cleanup();
});

/** `client.run` with a fast poll (the SDK's default is 1 s) and no task-level retries. */
async function run(
  input: Record<string, unknown>,
  options: { enableSyncMode?: boolean } = {},
): Promise<string[]> {
  const result = await client.run(
    MODEL,
    { size: `${SIDE}*${SIDE}`, num_inference_steps: 1, ...input },
    {
      pollInterval: 0.05,
      timeout: 50,
      ...options,
    },
  );
  const outputs = result.outputs as unknown;
  expect(Array.isArray(outputs)).toBe(true);
  return outputs as string[];
}

/** The bytes behind an output: a URL on our server, or a data URI. */
async function bytesOf(output: string): Promise<Buffer> {
  const dataUri = /^data:([^;,]+);base64,(.*)$/s.exec(output);
  if (dataUri) return Buffer.from(dataUri[2] as string, 'base64');
  expect(output.startsWith(`${server.base}/outputs/`)).toBe(true);
  const res = await fetch(output);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function expectImage(bytes: Buffer, format: string, width = SIDE, height = SIDE): Promise<void> {
  const meta = await sharp(bytes).metadata();
  expect({ format: meta.format, width: meta.width, height: meta.height }).toEqual({ format, width, height });
}

/** RGB pixels of an encoded image, without alpha. */
async function rgb(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes).removeAlpha().raw().toBuffer();
}

const toDataUri = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

/** A 256² RGB gradient with some texture, as PNG. */
async function inputImage(): Promise<Buffer> {
  const px = Buffer.alloc(SIDE * SIDE * 3);
  for (let y = 0; y < SIDE; y++)
    for (let x = 0; x < SIDE; x++) {
      const i = 3 * (y * SIDE + x);
      px[i] = x;
      px[i + 1] = y;
      px[i + 2] = (x * 7 + y * 13) & 255;
    }
  return sharp(px, { raw: { width: SIDE, height: SIDE, channels: 3 } })
    .png()
    .toBuffer();
}

/** Left half black (keep), right half white (repaint), as a grayscale PNG. */
async function halfMask(): Promise<Buffer> {
  const px = Buffer.alloc(SIDE * SIDE);
  for (let y = 0; y < SIDE; y++) px.fill(255, y * SIDE + SIDE / 2, (y + 1) * SIDE);
  return sharp(px, { raw: { width: SIDE, height: SIDE, channels: 1 } })
    .png()
    .toBuffer();
}

describe('the wavespeed SDK against flux-serve', () => {
  it('txt2img: outputs are URLs under the server base that decode as the default JPEG at the size', async () => {
    const outputs = await run({ prompt: 'a lighthouse at dusk', seed: 1, num_images: 2 });
    expect(outputs).toHaveLength(2);
    const [a, b] = await Promise.all(outputs.map(bytesOf));
    await expectImage(a as Buffer, 'jpeg');
    await expectImage(b as Buffer, 'jpeg');
    expect((a as Buffer).equals(b as Buffer)).toBe(false);
  });

  it('output_format png and webp, and a size off the multiple of 16 comes back exactly', async () => {
    const [png] = await run({ prompt: 'a red barn', seed: 2, output_format: 'png', size: '300*260' });
    await expectImage(await bytesOf(png as string), 'png', 300, 260);
    const [webp] = await run({ prompt: 'a red barn', seed: 2, output_format: 'webp' });
    expect(webp).toMatch(/\.webp$/);
    await expectImage(await bytesOf(webp as string), 'webp');
  });

  it('the same seed gives identical bytes across two runs; another seed does not', async () => {
    const input = { prompt: 'a fox in snow', seed: 1234567890, num_inference_steps: 2, output_format: 'png' };
    const first = await bytesOf((await run(input))[0] as string);
    const second = await bytesOf((await run(input))[0] as string);
    expect(second.equals(first)).toBe(true);
    const other = await bytesOf((await run({ ...input, seed: 7 }))[0] as string);
    expect(other.equals(first)).toBe(false);
  });

  it('enable_base64_output: outputs are data URIs of the requested format that decode', async () => {
    const outputs = await run({
      prompt: 'a blue car',
      seed: 3,
      output_format: 'png',
      enable_base64_output: true,
    });
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatch(/^data:image\/png;base64,/);
    await expectImage(await bytesOf(outputs[0] as string), 'png');
  });

  // As in diffusers, img2img skips int(steps × (1 − strength)) steps: at 2 steps, strength 0.5 starts
  // from the second sigma (a strength that skips none starts from pure noise, equal to txt2img).
  it('img2img: an image data URI with strength changes the result of the same seed', async () => {
    const common = { prompt: 'a stone bridge', seed: 4, num_inference_steps: 2, output_format: 'png' };
    const plain = await bytesOf((await run(common))[0] as string);
    const [out] = await run({ ...common, image: toDataUri(await inputImage()), strength: 0.5 });
    const bytes = await bytesOf(out as string);
    await expectImage(bytes, 'png');
    expect(bytes.equals(plain)).toBe(false);
  });

  it('inpainting: mask_image keeps the black half of the input bit for bit and repaints the white half', async () => {
    const image = await inputImage();
    const [out] = await run({
      prompt: 'a window',
      seed: 5,
      output_format: 'png',
      image: toDataUri(image),
      mask_image: toDataUri(await halfMask()),
      strength: 1,
    });
    const bytes = await bytesOf(out as string);
    await expectImage(bytes, 'png');
    const [got, want] = await Promise.all([rgb(bytes), rgb(image)]);
    const half = (px: Buffer, side: 'left' | 'right') => {
      const rows: Buffer[] = [];
      const from = side === 'left' ? 0 : SIDE / 2;
      for (let y = 0; y < SIDE; y++)
        rows.push(px.subarray(3 * (y * SIDE + from), 3 * (y * SIDE + from + SIDE / 2)));
      return Buffer.concat(rows);
    };
    expect(half(got, 'left').equals(half(want, 'left'))).toBe(true);
    expect(half(got, 'right').equals(half(want, 'right'))).toBe(false);
  });

  it('sync mode: one request answers the completed outputs', async () => {
    const outputs = await run({ prompt: 'a teapot', seed: 6 }, { enableSyncMode: true });
    expect(outputs).toHaveLength(1);
    await expectImage(await bytesOf(outputs[0] as string), 'jpeg');
  });

  // A host name, not an IP literal: its address is only known when the worker resolves it, so the
  // refusal comes from the task (an IP literal is refused at submit already).
  const LOOPBACK_IMAGE = 'http://localhost:1/in.png';
  const REFUSED =
    'image: refused to download http://localhost:1/in.png: localhost resolves to 127.0.0.1, which is a loopback address';

  it('a failed task (loopback image URL refused by default) rejects run() with our error message', async () => {
    const failing = run({ prompt: 'x', image: LOOPBACK_IMAGE });
    await expect(failing).rejects.toThrow(`: ${REFUSED}`);
    await expect(failing).rejects.toThrow(/^Prediction failed \(task_id: [0-9a-f]+\): /);
  });

  it('the same failure in sync mode rejects run() with our error message', async () => {
    await expect(run({ prompt: 'x', image: LOOPBACK_IMAGE }, { enableSyncMode: true })).rejects.toThrow(
      new RegExp(
        `^Prediction failed \\(task_id: [0-9a-f]+\\): ${REFUSED.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
      ),
    );
  });

  it('runNoThrow reports a failed task (undecodable image) as WavespeedPredictionException', async () => {
    // A PNG signature passes the submit check; the bytes after it do not decode.
    const bad = `data:image/png;base64,${Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('not an image at all')]).toString('base64')}`;
    const result = await client.runNoThrow(
      MODEL,
      { prompt: 'x', size: `${SIDE}*${SIDE}`, num_inference_steps: 1, image: bad },
      { pollInterval: 0.05, timeout: 50 },
    );
    expect(result.outputs).toBeNull();
    expect(result.detail.status).toBe('failed');
    expect(result.detail.taskId).toMatch(/^[0-9a-f]+$/);
    expect(result.detail.error).toBeInstanceOf(WavespeedPredictionException);
    expect(result.detail.error?.message).toMatch(/^Prediction failed: image: /);
  });

  // runNoThrow classifies a failed task by words in its error text ("timeout", "timed out",
  // "connection", "fetch" win over "prediction failed"), so task errors avoid those words.
  it('runNoThrow reports a refused image download as WavespeedPredictionException', async () => {
    const result = await client.runNoThrow(
      MODEL,
      { prompt: 'x', size: `${SIDE}*${SIDE}`, num_inference_steps: 1, image: LOOPBACK_IMAGE },
      { pollInterval: 0.05, timeout: 50 },
    );
    expect(result.detail.status).toBe('failed');
    expect(result.detail.error).toBeInstanceOf(WavespeedPredictionException);
    expect(result.detail.error?.message).toBe(`Prediction failed: ${REFUSED}`);
  });

  it('a 400 validation error surfaces as WavespeedSubmissionException naming the field', async () => {
    const submit = (input: Record<string, unknown>) => client.run(MODEL, { prompt: 'x', ...input });
    const tooWide = submit({ size: '2000*256' });
    await expect(tooWide).rejects.toBeInstanceOf(WavespeedSubmissionException);
    await expect(tooWide).rejects.toThrow(
      'HTTP 400: {"code":400,"message":"size: width 2000 is above the maximum',
    );
    await expect(submit({ num_inference_steps: 20 })).rejects.toThrow(
      /HTTP 400: .*"message":"num_inference_steps: /,
    );
    await expect(submit({ output_format: 'gif' })).rejects.toThrow(/HTTP 400: .*"message":"output_format: /);
  });

  // The SDK reads only `data` on a sync answer: the timeout is recognised by `data.code === 5004` (or
  // "Sync mode timed out" in `data.error` with status processing), which our 5004 answer carries.
  it('a sync-mode wait that times out surfaces as WavespeedSyncTimeoutException with the result URL', async () => {
    const impatient = await startServer({
      model: dir.model,
      home: `${dir.home}-sync`,
      env: { FLUX_SERVE_SYNC_WAIT_MS: '1' },
    });
    const c = new Client('any-key', { baseUrl: impatient.base, maxRetries: 0 });
    const error = await c
      .run(
        MODEL,
        { prompt: 'x', size: `${SIDE}*${SIDE}`, num_inference_steps: 1 },
        { enableSyncMode: true, timeout: 50 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WavespeedSyncTimeoutException);
    const resultUrl = (error as WavespeedSyncTimeoutException).resultUrl as string;
    expect(resultUrl).toMatch(new RegExp(`^${impatient.base}/api/v3/predictions/[0-9a-f]{32}/result$`));
    await impatient.stop();
  });
});
