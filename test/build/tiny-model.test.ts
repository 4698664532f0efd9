/**
 * The tiny model from scratch: write the checkpoint, build all five graphs, tokenize a real prompt
 * with the copied tokenizer files and run every graph on the CPU EP, chaining their real outputs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { createLogger } from '../../src/log.js';
import { loadClipTokenizer, loadT5Tokenizer } from '../../src/text/index.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tiny-model-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const finite = (t: ort.Tensor | undefined) => Array.from(t?.data as Float32Array).every(Number.isFinite);

describe.each(['tiny', 'tiny-dev'] as const)('%s model, all five graphs', (name) => {
  it('tokenize → CLIP + T5 → transformer → VAE decode, and VAE encode', async () => {
    const spec = await loadModelSpec(name);
    const ckpt = join(root, `${name}-ckpt`);
    const model = join(root, `${name}-model`);
    await writeTinyCheckpoint(ckpt, spec, { seed: 2 });
    await buildModel(ckpt, model, { dtype: 'float32', ops: 'fused', log: createLogger('silent') });
    const session = (c: string) => ort.InferenceSession.create(join(model, `${c}.onnx`));

    const prompt = 'A beautiful woman with a slight warming smile in a bustling cafe, 4k  [be4u7y]';
    const clipIds = (await loadClipTokenizer(join(ckpt, 'tokenizer'))).encode(prompt).ids;
    const t5Ids = (await loadT5Tokenizer(join(ckpt, 'tokenizer_2'), spec.t5MaxLength)).encode(prompt).ids;
    const ids = (a: Int32Array) =>
      new ort.Tensor(
        'int64',
        BigInt64Array.from(a, (v) => BigInt(v)),
        [1, a.length],
      );

    const { pooled } = await (await session('clip')).run({ input_ids: ids(clipIds) });
    expect(pooled?.dims).toEqual([1, 32]);
    const { hidden } = await (await session('t5')).run({ input_ids: ids(t5Ids) });
    expect(hidden?.dims).toEqual([1, spec.t5MaxLength, 32]);
    expect(finite(pooled) && finite(hidden)).toBe(true);

    const transformer = await session('transformer');
    const L = 4; // a 2x2 packed grid = a 32x32 image
    const feeds: Record<string, ort.Tensor> = {
      img: new ort.Tensor(
        'float32',
        Float32Array.from({ length: L * 64 }, (_, i) => Math.cos(i)),
        [1, L, 64],
      ),
      img_ids: new ort.Tensor('float32', Float32Array.of(0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1), [1, L, 3]),
      txt: hidden as ort.Tensor,
      txt_ids: new ort.Tensor('float32', new Float32Array(spec.t5MaxLength * 3), [1, spec.t5MaxLength, 3]),
      timesteps: new ort.Tensor('float32', Float32Array.of(1), [1]),
      y: pooled as ort.Tensor,
    };
    if (spec.transformer.guidanceEmbeds)
      feeds.guidance = new ort.Tensor('float32', Float32Array.of(3.5), [1]);
    for (const input of transformer.inputNames.filter((n) => n.startsWith('lora.'))) {
      const meta = transformer.inputMetadata.find((m) => m.name === input);
      const dims = meta && 'shape' in meta ? meta.shape : [];
      feeds[input] = new ort.Tensor(
        'float32',
        new Float32Array(0),
        input.endsWith('.a') ? [dims[0] as number, 0] : [0, dims[1] as number],
      );
    }
    const { out } = await transformer.run(feeds);
    expect(out?.dims).toEqual([1, L, 64]);

    const latent = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 16 * 4 * 4 }, (_, i) => Math.sin(i)),
      [1, 16, 4, 4],
    );
    const { image } = await (await session('vae_decoder')).run({ latent });
    expect(image?.dims).toEqual([1, 3, 32, 32]);
    const encoded = await (await session('vae_encoder')).run({ image: image as ort.Tensor });
    expect(encoded.latent?.dims).toEqual([1, 16, 4, 4]);
    expect(encoded.logvar?.dims).toEqual([1, 16, 4, 4]);
    expect([out, image, encoded.latent].every(finite)).toBe(true);
  });
});
