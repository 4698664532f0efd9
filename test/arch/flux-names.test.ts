/**
 * A diffusers-layout checkpoint (transformer/ shards + index, split q/k/v, swapped final adaLN) must
 * build the very same graph as the BFL single file it was converted from.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { createLogger } from '../../src/log.js';
import { openCheckpoint } from '../../src/weights/checkpoint.js';
import { type TensorToWrite, writeSafetensors } from '../../src/weights/safetensors-writer.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flux-names-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** BFL → diffusers, written out from flux.md §3.8 (rows split, final adaLN halves swapped). */
function toDiffusers(name: string, shape: readonly number[], data: Float32Array, d: number): TensorToWrite[] {
  const rows = (parts: [string, number][]) => {
    const cols = shape.length === 2 ? (shape[1] as number) : 1;
    let row = 0;
    return parts.map(([n, count]) => {
      const t: TensorToWrite = {
        name: n,
        dtype: 'F32',
        shape: shape.length === 2 ? [count, cols] : [count],
        data: data.slice(row * cols, (row + count) * cols),
      };
      row += count;
      return t;
    });
  };
  const leaf = name.endsWith('.bias') ? 'bias' : name.endsWith('.scale') ? 'weight' : 'weight';
  const m = name.replace(/\.(weight|bias|scale)$/, '');
  const one = (n: string): TensorToWrite[] => [{ name: `${n}.${leaf}`, dtype: 'F32', shape, data }];
  const fixed: Record<string, string> = {
    img_in: 'x_embedder',
    txt_in: 'context_embedder',
    'time_in.in_layer': 'time_text_embed.timestep_embedder.linear_1',
    'time_in.out_layer': 'time_text_embed.timestep_embedder.linear_2',
    'vector_in.in_layer': 'time_text_embed.text_embedder.linear_1',
    'vector_in.out_layer': 'time_text_embed.text_embedder.linear_2',
    'guidance_in.in_layer': 'time_text_embed.guidance_embedder.linear_1',
    'guidance_in.out_layer': 'time_text_embed.guidance_embedder.linear_2',
    'final_layer.linear': 'proj_out',
  };
  if (fixed[m]) return one(fixed[m] as string);
  if (m === 'final_layer.adaLN_modulation.1') {
    const cols = shape.length === 2 ? (shape[1] as number) : 1;
    const swapped = new Float32Array(data.length);
    swapped.set(data.subarray(d * cols), 0);
    swapped.set(data.subarray(0, d * cols), d * cols);
    return [{ name: `norm_out.linear.${leaf}`, dtype: 'F32', shape, data: swapped }];
  }
  let r = /^double_blocks\.(\d+)\.(img|txt)_(.+)$/.exec(m);
  if (r) {
    const p = `transformer_blocks.${r[1]}`;
    const img = r[2] === 'img';
    const tail = r[3] as string;
    if (tail === 'mod.lin') return one(img ? `${p}.norm1.linear` : `${p}.norm1_context.linear`);
    if (tail === 'attn.qkv') {
      const names = img ? ['to_q', 'to_k', 'to_v'] : ['add_q_proj', 'add_k_proj', 'add_v_proj'];
      return rows(names.map((n) => [`${p}.attn.${n}.${leaf}`, d]));
    }
    if (tail === 'attn.proj') return one(img ? `${p}.attn.to_out.0` : `${p}.attn.to_add_out`);
    if (tail === 'mlp.0') return one(img ? `${p}.ff.net.0.proj` : `${p}.ff_context.net.0.proj`);
    if (tail === 'mlp.2') return one(img ? `${p}.ff.net.2` : `${p}.ff_context.net.2`);
    if (tail === 'attn.norm.query_norm') return one(img ? `${p}.attn.norm_q` : `${p}.attn.norm_added_q`);
    if (tail === 'attn.norm.key_norm') return one(img ? `${p}.attn.norm_k` : `${p}.attn.norm_added_k`);
  }
  r = /^single_blocks\.(\d+)\.(.+)$/.exec(m);
  if (r) {
    const p = `single_transformer_blocks.${r[1]}`;
    const tail = r[2] as string;
    if (tail === 'modulation.lin') return one(`${p}.norm.linear`);
    if (tail === 'linear2') return one(`${p}.proj_out`);
    if (tail === 'norm.query_norm') return one(`${p}.attn.norm_q`);
    if (tail === 'norm.key_norm') return one(`${p}.attn.norm_k`);
    if (tail === 'linear1') {
      const mlp = (shape[0] as number) - 3 * d;
      return rows([
        [`${p}.attn.to_q.${leaf}`, d],
        [`${p}.attn.to_k.${leaf}`, d],
        [`${p}.attn.to_v.${leaf}`, d],
        [`${p}.proj_mlp.${leaf}`, mlp],
      ]);
    }
  }
  throw new Error(`unmapped ${name}`);
}

describe.each(['tiny', 'tiny-dev'] as const)('%s: diffusers layout', (variant) => {
  it('builds byte-identical weights and graph to the BFL file', async () => {
    const spec = await loadModelSpec(variant);
    const bflDir = join(root, `${variant}-bfl`);
    await writeTinyCheckpoint(bflDir, spec, { seed: 3 });
    const bfl = await openCheckpoint([join(bflDir, spec.transformerFile)]);
    const converted: TensorToWrite[] = [];
    for (const name of bfl.names()) {
      converted.push(
        ...toDiffusers(name, bfl.info(name).shape, await bfl.readF32(name), spec.transformer.hiddenSize),
      );
    }
    await bfl.close();

    const difDir = join(root, `${variant}-diffusers`);
    await mkdir(join(difDir, 'transformer'), { recursive: true });
    await writeFile(join(difDir, 'transformer', 'config.json'), JSON.stringify(spec.transformerJson));
    const half = Math.ceil(converted.length / 2);
    const shards = [converted.slice(0, half), converted.slice(half)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `diffusion_pytorch_model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(join(difDir, 'transformer', file), shard);
      for (const t of shard) weightMap[t.name] = file;
    }
    await writeFile(
      join(difDir, 'transformer', 'diffusion_pytorch_model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );

    const log = createLogger('silent');
    for (const ops of ['fused', 'plain'] as const) {
      const a = join(root, `${variant}-${ops}-from-bfl`);
      const b = join(root, `${variant}-${ops}-from-diffusers`);
      await buildModel(bflDir, a, { dtype: 'float32', ops, log, only: ['transformer'] });
      const manifest = (await buildModel(difDir, b, { dtype: 'float32', ops, log, only: ['transformer'] }))
        .transformer;
      expect(manifest?.sources.map((s) => s.path)).toEqual([
        'transformer/diffusion_pytorch_model.safetensors.index.json',
        'transformer/diffusion_pytorch_model-00001-of-00002.safetensors',
        'transformer/diffusion_pytorch_model-00002-of-00002.safetensors',
      ]);
      for (const f of ['transformer.onnx', 'transformer.onnx.data']) {
        expect((await readFile(join(a, f))).equals(await readFile(join(b, f))), f).toBe(true);
      }
    }
  });
});
