/**
 * The whole generation path on the tiny model (CPU EP): determinism, img2img and inpainting
 * semantics, sizes and formats, checked on real decoded pixels.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { GenerationRequest } from '../../src/pipeline/generation-request.js';
import { type RenderContext, render } from '../../src/pipeline/render.js';
import { type FluxModel, loadFluxModel } from '../../src/runtime/flux-model.js';
import { offlineRenderContext } from '../support/render-context.js';
import { buildTinyModel } from '../support/tiny-model.js';

const log = createLogger('silent');
let root: string;
let model: FluxModel;
let ctx: RenderContext;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'render-'));
  const modelDir = await buildTinyModel(root, 'tiny', 5);
  model = await loadFluxModel(modelDir, { provider: 'cpu', log });
  ctx = await offlineRenderContext(model);
});
afterAll(async () => {
  await model.release();
  await rm(root, { recursive: true, force: true });
});

const base: GenerationRequest = {
  prompt: 'a red fox in the snow',
  width: 256,
  height: 256,
  steps: 4,
  seed: 42,
  numImages: 1,
  guidanceScale: 3.5,
  strength: 0.8,
  outputFormat: 'png',
};

async function pixels(png: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** A 256² test picture: a diagonal gradient with a blue square. */
async function testImage(): Promise<string> {
  const rgb = Buffer.alloc(256 * 256 * 3);
  for (let y = 0; y < 256; y++) {
    for (let x = 0; x < 256; x++) {
      const inSquare = x > 64 && x < 160 && y > 96 && y < 192;
      rgb.set(inSquare ? [20, 40, 220] : [x, y, (x + y) >> 1], (y * 256 + x) * 3);
    }
  }
  return (
    await sharp(rgb, { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toBuffer()
  ).toString('base64');
}

describe('render on the tiny model', () => {
  it('is deterministic for a seed and differs across seeds', async () => {
    const a = await render(ctx, base);
    const b = await render(ctx, base);
    const c = await render(ctx, { ...base, seed: 43 });
    expect(a.seed).toBe(42);
    expect(a.outputs[0]?.equals(b.outputs[0] as Buffer)).toBe(true);
    expect(a.outputs[0]?.equals(c.outputs[0] as Buffer)).toBe(false);
  });

  it('seed -1 draws a seed and reports it; reusing it reproduces the image', async () => {
    const drawn = await render(ctx, { ...base, seed: -1 });
    expect(drawn.seed).toBeGreaterThanOrEqual(0);
    const again = await render(ctx, { ...base, seed: drawn.seed });
    expect(again.outputs[0]?.equals(drawn.outputs[0] as Buffer)).toBe(true);
  });

  it('img2img with strength 1.0 equals txt2img from the same seed', async () => {
    const txt2img = await render(ctx, base);
    const img2img = await render(ctx, { ...base, image: await testImage(), strength: 1 });
    expect(img2img.outputs[0]?.equals(txt2img.outputs[0] as Buffer)).toBe(true);
  });

  it('strength picks the starting step as diffusers does (at least one step)', async () => {
    const image = await testImage();
    for (const [strength, steps] of [
      [1, 4],
      [0.6, 3],
      [0.3, 2],
      [0.01, 1],
    ] as const) {
      const totals: number[] = [];
      await render(
        ctx,
        { ...base, image, strength },
        {
          onStep: (p) => p.stage === 'denoise' && totals.push(p.total),
        },
      );
      expect(totals, `strength ${strength}`).toEqual(new Array(steps).fill(steps));
    }
  });

  it('inpainting keeps every black-mask pixel identical to the input', async () => {
    const image = await testImage();
    const maskRgb = Buffer.alloc(256 * 256 * 3);
    for (let y = 0; y < 256; y++)
      for (let x = 128; x < 256; x++) maskRgb.fill(255, (y * 256 + x) * 3, (y * 256 + x) * 3 + 3);
    const mask = (
      await sharp(maskRgb, { raw: { width: 256, height: 256, channels: 3 } })
        .png()
        .toBuffer()
    ).toString('base64');
    const result = await render(ctx, { ...base, image, maskImage: mask, strength: 0.9 });
    const out = await pixels(result.outputs[0] as Buffer);
    const input = await pixels(Buffer.from(image, 'base64'));
    let kept = 0;
    let changed = 0;
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) {
        const i = (y * 256 + x) * 3;
        const same =
          out.data[i] === input.data[i] &&
          out.data[i + 1] === input.data[i + 1] &&
          out.data[i + 2] === input.data[i + 2];
        if (x < 128) kept += same ? 1 : 0;
        else changed += same ? 0 : 1;
      }
    }
    expect(kept).toBe(128 * 256);
    expect(changed).toBeGreaterThan(128 * 256 * 0.9);
  });

  it.each(['jpeg', 'png', 'webp'] as const)(
    '%s output decodes to the requested size, also off the 16-grid',
    async (format) => {
      const result = await render(ctx, {
        ...base,
        width: 300,
        height: 260,
        numImages: 2,
        outputFormat: format,
      });
      expect(result.generation.width).toBe(304);
      expect(result.generation.height).toBe(256);
      expect(result.outputs).toHaveLength(2);
      for (const out of result.outputs) {
        const meta = await sharp(out).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual([format, 300, 260]);
      }
      expect(result.outputs[0]?.equals(result.outputs[1] as Buffer)).toBe(false); // one noise draw for the batch
    },
  );
});
