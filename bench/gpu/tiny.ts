/**
 * (b) The tiny model's five graphs, built here in fp32 and fp16: each run on the device EP and
 * compared with the same fp32 graph on the CPU EP (max and RMS relative error per output).
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { createLogger } from '../../src/log.js';
import { allLoraTensors } from '../../src/pipeline/lora-tensors.js';
import { readManifest } from '../../src/runtime/manifest.js';
import { type Provider, providerChoice } from '../../src/runtime/provider.js';
import { sessionOptions } from '../../src/runtime/session.js';
import { tinyFeeds } from './feeds.js';
import { type ErrorStats, errorStats } from './numerics.js';
import type { RunContext } from './run-context.js';

export const TINY_GRAPHS = ['clip', 't5', 'transformer', 'vae_decoder', 'vae_encoder'] as const;

export interface TinyGraph {
  /** Per output: the device fp32 and fp16 graphs against CPU fp32; or why a session failed. */
  outputs: Record<string, { fp32?: ErrorStats; fp16?: ErrorStats }>;
  errors: string[];
}

async function outputs(
  path: string,
  provider: Provider,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(path, sessionOptions({ provider }));
  try {
    const result = await session.run(feeds);
    return Object.fromEntries(
      Object.entries(result).map(([name, v]) => [name, (v as ort.Tensor).data as Float32Array]),
    );
  } finally {
    await session.release();
  }
}

/** Builds the two variants; returns their model dirs. */
export async function buildTiny(work: string): Promise<{ fp32: string; fp16: string }> {
  const ckpt = join(work, 'tiny', 'ckpt');
  await writeTinyCheckpoint(ckpt, await loadModelSpec('tiny'), { seed: 7 });
  const dirs = { fp32: join(work, 'tiny', 'fp32'), fp16: join(work, 'tiny', 'fp16') };
  const log = createLogger('warn');
  await buildModel(ckpt, dirs.fp32, { dtype: 'float32', ops: 'fused', log });
  await buildModel(ckpt, dirs.fp16, { dtype: 'float16', ops: 'fused', log });
  return dirs;
}

export async function tinyNumerics(
  ctx: RunContext,
  dirs: { fp32: string; fp16: string },
): Promise<Record<string, TinyGraph>> {
  const { provider, tinyDims } = ctx.profile;
  const manifests = { fp32: await readManifest(dirs.fp32), fp16: await readManifest(dirs.fp16) };
  const report: Record<string, TinyGraph> = {};
  for (const name of TINY_GRAPHS) {
    const graph: TinyGraph = { outputs: {}, errors: [] };
    report[name] = graph;
    const c32 = manifests.fp32.components[name];
    if (!c32) {
      graph.errors.push('not built');
      continue;
    }
    const feeds = tinyFeeds(c32.inputs, tinyDims, 3);
    // The transformer's LoRA inputs are listed with its layers, not its inputs, in each build's
    // own float type: rank 0, no LoRA.
    const withNoLora = (c: typeof c32) => ({ ...feeds, ...allLoraTensors(c.layers) });
    const reference = await outputs(join(dirs.fp32, c32.file), 'cpu', withNoLora(c32));
    for (const dtype of ['fp32', 'fp16'] as const) {
      const c = manifests[dtype].components[name];
      if (!c) continue;
      try {
        const got = await outputs(join(dirs[dtype], c.file), provider, withNoLora(c));
        for (const [out, ref] of Object.entries(reference)) {
          const g = got[out];
          if (!g) throw new Error(`no output ${out}`);
          graph.outputs[out] = { ...graph.outputs[out], [dtype]: errorStats(g, ref) };
        }
      } catch (error) {
        graph.errors.push(`${providerChoice(provider).name} ${dtype}: ${(error as Error).message}`);
      }
    }
  }
  return report;
}
