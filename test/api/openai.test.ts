/**
 * The OpenAI Images API (`/v1/images/generations`, `/v1/images/edits`) with the official `openai` npm
 * client against the real server process on the tiny model: generations as URLs and base64, n=2,
 * sizes, Bearer keys, an inpainting edit whose OpenAI mask (transparent = edit) keeps the opaque half exactly,
 * and OpenAI-shaped errors naming the param. Every task is 256² (or 512×256) with 1 step.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { AuthenticationError, BadRequestError, toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoEditSize, editInputs, fluxMaskFromAlpha } from '../../src/api/openai-edit-inputs.js';
import { OpenAiError } from '../../src/api/openai-errors.js';
import { formFields } from '../../src/api/openai-request.js';
import { claimedSizePng } from '../fuzz/hostile-inputs.js';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

const KEY = 'sk-openai-test';

let dir: TinyServerRoot;
let server: ServerProcess;
let client: OpenAI;

beforeAll(async () => {
  dir = await tinyServerRoot('openai-');
  const keys = join(dir.root, 'keys.txt');
  await writeFile(keys, `${KEY}\n`);
  server = await startServer({ model: dir.model, home: dir.home, args: ['--keys', keys] });
  client = new OpenAI({ apiKey: KEY, baseURL: `${server.base}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await dir?.cleanup();
});

/** Our extensions travel as extra body keys, which the client passes through. */
type Generate = OpenAI.Images.ImageGenerateParamsNonStreaming;
const fast = { steps: 1, seed: 11 };

async function meta(bytes: Buffer) {
  const m = await sharp(bytes).metadata();
  return { format: m.format, width: m.width, height: m.height };
}

/** A 256² RGB image with structure, as PNG. */
async function photo(): Promise<Buffer> {
  const raw = Buffer.alloc(256 * 256 * 3);
  for (let y = 0; y < 256; y++)
    for (let x = 0; x < 256; x++) {
      const i = (y * 256 + x) * 3;
      raw[i] = x;
      raw[i + 1] = y;
      raw[i + 2] = (x * y) % 256;
    }
  return sharp(raw, { raw: { width: 256, height: 256, channels: 3 } })
    .png()
    .toBuffer();
}

/** An OpenAI mask: left half fully transparent (edit), right half opaque (keep); colour is noise. */
async function leftHalfMask(): Promise<Buffer> {
  const raw = Buffer.alloc(256 * 256 * 4, 255);
  for (let y = 0; y < 256; y++) for (let x = 0; x < 128; x++) raw[(y * 256 + x) * 4 + 3] = 0;
  return sharp(raw, { raw: { width: 256, height: 256, channels: 4 } })
    .png()
    .toBuffer();
}

describe('OpenAI images: generations', () => {
  it('answers URLs to PNGs by default', async () => {
    const res = await client.images.generate({ prompt: 'a red fox', size: '256x256', ...fast } as Generate);
    expect(res.created).toBeGreaterThan(1_700_000_000);
    expect(res.data).toHaveLength(1);
    const url = res.data?.[0]?.url as string;
    expect(url.startsWith(`${server.base}/outputs/`)).toBe(true);
    const image = await fetch(url);
    expect(image.status).toBe(200);
    expect(await meta(Buffer.from(await image.arrayBuffer()))).toEqual({
      format: 'png',
      width: 256,
      height: 256,
    });
    const extra = res as unknown as { seed: number; size: string; task_id: string };
    expect(extra).toMatchObject({ seed: 11, size: '256x256', output_format: 'png' });
    expect(extra.task_id).toMatch(/\S/);
  });

  it('answers n=2 images as b64_json in the asked format and size, the same again for the same seed', async () => {
    const params = {
      prompt: 'a lighthouse',
      n: 2,
      size: '512x256',
      response_format: 'b64_json',
      output_format: 'jpeg',
      ...fast,
    } as Generate;
    const res = await client.images.generate(params);
    expect(res.data).toHaveLength(2);
    const images = (res.data ?? []).map((d) => Buffer.from(d.b64_json as string, 'base64'));
    for (const image of images)
      expect(await meta(image)).toEqual({ format: 'jpeg', width: 512, height: 256 });
    expect(images[0]?.equals(images[1] as Buffer)).toBe(false);
    const again = await client.images.generate(params);
    expect(again.data?.[1]?.b64_json === res.data?.[1]?.b64_json).toBe(true);
  });

  it('accepts an installed model by name and ignores OpenAI model names', async () => {
    for (const model of ['flux-schnell-lora', 'dall-e-3']) {
      const res = await client.images.generate({
        prompt: 'a boat',
        model,
        size: '256x256',
        ...fast,
      } as Generate);
      expect(res.data).toHaveLength(1);
      expect(Object.keys(res.data?.[0] ?? {}), model).toEqual(['url']);
    }
  });

  it('answers gpt-image-* models in base64 by default, as OpenAI does, and a url when asked', async () => {
    for (const model of ['gpt-image-1', 'gpt-image-1-mini']) {
      const res = await client.images.generate({ prompt: 'a boat', model, size: '256x256', ...fast });
      expect(Object.keys(res.data?.[0] ?? {}), model).toEqual(['b64_json']);
      const png = Buffer.from(res.data?.[0]?.b64_json as string, 'base64');
      expect(await meta(png)).toEqual({ format: 'png', width: 256, height: 256 });
    }
    const url = await client.images.generate({
      prompt: 'a boat',
      model: 'gpt-image-1',
      response_format: 'url',
      size: '256x256',
      ...fast,
    } as Generate);
    expect(Object.keys(url.data?.[0] ?? {})).toEqual(['url']);
    const edit = await client.images.edit({
      image: await toFile(await photo(), 'photo.png', { type: 'image/png' }),
      prompt: 'a boat',
      model: 'gpt-image-1',
      ...{ steps: 1 },
    } as OpenAI.Images.ImageEditParamsNonStreaming);
    expect(Object.keys(edit.data?.[0] ?? {})).toEqual(['b64_json']);
  });
});

describe('OpenAI images: edits', () => {
  it('repaints only the transparent half of an OpenAI mask', async () => {
    const input = await photo();
    const res = await client.images.edit({
      image: await toFile(input, 'photo.png', { type: 'image/png' }),
      mask: await toFile(await leftHalfMask(), 'mask.png', { type: 'image/png' }),
      prompt: 'a cat on the left',
      response_format: 'b64_json',
      ...{ steps: 1, seed: 5, strength: 1 },
    } as OpenAI.Images.ImageEditParamsNonStreaming);
    const out = Buffer.from(res.data?.[0]?.b64_json as string, 'base64');
    expect(await meta(out)).toEqual({ format: 'png', width: 256, height: 256 }); // size auto = the image's
    const [a, b] = await Promise.all(
      [input, out].map((png) => sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true })),
    );
    let keptDiff = 0;
    let editedDiff = 0;
    for (let y = 0; y < 256; y++)
      for (let x = 0; x < 256; x++)
        for (let c = 0; c < 3; c++) {
          const i = (y * 256 + x) * 3 + c;
          const d = Math.abs((a?.data[i] as number) - (b?.data[i] as number));
          if (x >= 136) keptDiff = Math.max(keptDiff, d);
          if (x < 120) editedDiff += d;
        }
    expect(keptDiff).toBe(0);
    expect(editedDiff / (120 * 256 * 3)).toBeGreaterThan(5);
  });

  it('refuses a mask without alpha or of another size, naming mask', async () => {
    const input = await photo();
    const opaque = await sharp(input).png().toBuffer();
    const small = await sharp(await leftHalfMask())
      .resize(128, 128)
      .png()
      .toBuffer();
    for (const mask of [opaque, small]) {
      const err = await client.images
        .edit({
          image: await toFile(input, 'photo.png', { type: 'image/png' }),
          mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
          prompt: 'x',
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).param).toBe('mask');
    }
  });
});

describe('OpenAI images: edit inputs that must not reach a decoder', () => {
  const edit = async (image: Buffer, mask?: Buffer) =>
    client.images
      .edit({
        image: await toFile(image, 'image.png', { type: 'image/png' }),
        ...(mask && { mask: await toFile(mask, 'mask.png', { type: 'image/png' }) }),
        prompt: 'x',
        ...{ steps: 1 },
      } as OpenAI.Images.ImageEditParamsNonStreaming)
      .catch((e: unknown) => e);

  it('refuses an image or mask whose header claims more pixels than the limit, naming it', async () => {
    const bomb = claimedSizePng(60_000, 60_000);
    const cases = [
      [bomb, undefined, 'image'],
      [await photo(), bomb, 'mask'],
    ] as const;
    for (const [image, mask, param] of cases) {
      const err = await edit(image, mask);
      expect(err, param).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).param).toBe(param);
      expect((err as BadRequestError).message).toMatch(
        new RegExp(`${param}: the image is 60000x60000 \\(3600\\.0 MP\\), above the limit of 40\\.0 MP`),
      );
    }
  });

  it('answers a truncated image or mask with a 400 naming it, not a 500', async () => {
    const cut = (png: Buffer) => png.subarray(0, Math.floor(png.length / 2));
    const transparent = await leftHalfMask();
    const cases = [
      [cut(await photo()), undefined, 'image'],
      [cut(transparent), undefined, 'image'],
      [await photo(), cut(transparent), 'mask'],
      [cut(await photo()), transparent, 'image'],
    ] as const;
    for (const [image, mask, param] of cases) {
      const err = await edit(image, mask);
      expect(err, param).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).param).toBe(param);
      expect((err as BadRequestError).message).toMatch(new RegExp(`^400 ${param}: cannot read the image`));
    }
  });

  it('checks the pixel limit it is given before decoding', async () => {
    const err = await editInputs(await photo(), undefined, 256 * 255).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAiError);
    expect(err).toMatchObject({ statusCode: 400, param: 'image', code: 'image_too_large' });
    await expect(editInputs(await photo(), undefined, 256 * 256)).resolves.toMatchObject({
      width: 256,
      height: 256,
    });
  });
});

describe('OpenAI images: errors', () => {
  it.each([
    [{ size: '100x100' }, 'size', /size: width 100 is below the minimum 256/],
    [{ size: 'huge' }, 'size', /size: expected/],
    [{ n: 9 }, 'n', /^n: 9 is not an integer in 1–4/],
    [{ response_format: 'gif' }, 'response_format', /response_format: expected one of 'url', 'b64_json'/],
    [{ steps: 20 }, 'steps', /steps: 20/],
    [{ prompt: '  ' }, 'prompt', /prompt: must not be empty/],
  ])('%j → 400 naming %s', async (bad, param, message) => {
    const err = await client.images
      .generate({ prompt: 'a cat', size: '256x256', ...bad } as Generate)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    const e = err as BadRequestError;
    expect(e.status).toBe(400);
    expect(e.type).toBe('invalid_request_error');
    expect(e.param).toBe(param);
    expect(e.error).toMatchObject({ message: expect.stringMatching(message) });
  });

  it('cancels the task of a client that hangs up before its images', async () => {
    const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    const newest = async () => {
      const res = await fetch(`${server.base}/api/v3/predictions`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ page: 1, page_size: 1 }),
      });
      return ((await res.json()) as { data: { items: { status: string; error: string }[] } }).data.items[0];
    };
    const hangUp = new AbortController();
    const call = fetch(`${server.base}/v1/images/generations`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ prompt: 'a long fox', size: '1536x1536', steps: 8, seed: 3 }),
      signal: hangUp.signal,
    }).catch((e: unknown) => e);
    for (let t = Date.now(); (await newest())?.status !== 'processing'; ) {
      expect(Date.now() - t).toBeLessThan(30_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    hangUp.abort();
    expect(await call).toBeInstanceOf(Error);
    for (let t = Date.now(); (await newest())?.status === 'processing'; ) {
      expect(Date.now() - t).toBeLessThan(30_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await newest()).toMatchObject({ status: 'failed', error: 'cancelled' });
  }, 60_000);

  it('refuses a wrong key with 401 invalid_api_key', async () => {
    const stranger = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${server.base}/v1`, maxRetries: 0 });
    const err = await stranger.images.generate({ prompt: 'a cat' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).code).toBe('invalid_api_key');
  });

  it('answers OpenAI error bodies, not the hosted envelope, also for unknown /v1 routes and bad JSON', async () => {
    const bad = await fetch(`${server.base}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: '{"prompt":',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: 'invalid_request_error', param: null } });
    const missing = await fetch(`${server.base}/v1/images/variations`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: {
        message: 'Invalid URL (POST /v1/images/variations)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });
});

describe('OpenAI images: request translation', () => {
  it('turns OpenAI transparency into a FLUX mask (alpha 0 → white = repaint)', async () => {
    const flux = await fluxMaskFromAlpha(await leftHalfMask());
    expect((await sharp(flux).metadata()).channels).toBe(1);
    const data = await sharp(flux).extractChannel(0).raw().toBuffer();
    expect([data[0], data[127], data[128], data[255]]).toEqual([255, 255, 0, 0]);
  });

  it('reads form fields as the SDK sends them', () => {
    expect(
      formFields([
        ['n', '2'],
        ['prompt', '3 cats'],
        ['loras[][path]', 'a.safetensors'],
        ['loras[][scale]', '0.5'],
        ['loras[][path]', 'b.safetensors'],
      ]),
    ).toEqual({
      n: 2,
      prompt: '3 cats',
      loras: [{ path: 'a.safetensors', scale: 0.5 }, { path: 'b.safetensors' }],
    });
    expect(formFields([['loras', '[{"path":"c"}]']])).toEqual({ loras: [{ path: 'c' }] });
  });

  it('sizes an edit like its image, within 256–1536', () => {
    expect(autoEditSize(3000, 2000)).toBe('1536x1024');
    expect(autoEditSize(100, 100)).toBe('256x256');
    expect(autoEditSize(640, 480)).toBe('640x480');
  });
});
