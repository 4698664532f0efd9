/**
 * (c) and (e): the full-width transformer (hidden 3072, 24 heads; toy width in the dry run) from
 * one random bf16 checkpoint, built at three depths so that one double and one single block can
 * be told apart, timed per step through the native DeviceSession with TF32 on and off; then 0, 1
 * and 5 rank-16 LoRAs through the DeviceSession (factors bound once) against onnxruntime-node
 * (every input copied at every run). Inputs and our outputs are left as .npy for the PyTorch
 * reference (torch_reference.py), which reads the same checkpoint.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildFlux } from '../../src/arch/flux.js';
import { type FluxConfig, parseFluxConfig } from '../../src/arch/flux-config.js';
import { FLUX_IO } from '../../src/arch/flux-io.js';
import { fluxTensors } from '../../src/arch/flux-layers.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { DeviceSession } from '../../src/runtime/device-session.js';
import { sessionOptions } from '../../src/runtime/session.js';
import { openCheckpoint, type WeightSource } from '../../src/weights/checkpoint.js';
import { writeNpy } from '../../src/weights/npy-writer.js';
import { loraBytes, loraFeeds, type StepInputs, stepFeeds, stepInputs } from './feeds.js';
import {
  type ErrorStats,
  errorStats,
  extrapolate,
  type PerBlock,
  perBlock,
  type Timing,
  timeRuns,
} from './numerics.js';
import { type Depth, SCHNELL_DEPTH } from './profile.js';
import { writeRandomFluxCheckpoint } from './random-checkpoint.js';
import { type RunContext, runSelf } from './run-context.js';

export const CHECKPOINT_FILE = 'flux1-schnell.safetensors';

export function depthName(d: Depth): string {
  return `d${d.double}s${d.single}`;
}

function withDepth(config: Readonly<Record<string, unknown>>, d: Depth): Record<string, unknown> {
  return { ...config, num_layers: d.double, num_single_layers: d.single };
}

/** The checkpoint seen as if it had only the blocks of a shallower model. */
function only(source: WeightSource, names: ReadonlySet<string>): WeightSource {
  return {
    names: () => source.names().filter((n) => names.has(n)),
    has: (n) => names.has(n) && source.has(n),
    info: (n) => source.info(n),
    readF32: (n) => source.readF32(n),
    readF16: (n) => source.readF16(n),
    close: () => source.close(),
  };
}

/** The child process of one build: `build-graph <checkpoint> <config json> <out.onnx>`. */
export async function buildGraphChild(checkpoint: string, configJson: string, out: string): Promise<void> {
  const config = parseFluxConfig(JSON.parse(configJson));
  const t = performance.now();
  const source = await openCheckpoint([checkpoint]);
  const view = only(source, new Set(fluxTensors(config).map((x) => x.name)));
  await writeModel(buildFlux(config, view, { dtype: 'float16', ops: 'fused' }), out);
  await source.close();
  const dataBytes = (await stat(`${out}.data`)).size;
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - t) / 1000, dataBytes }));
}

export interface WidthModels {
  readonly config: FluxConfig;
  readonly checkpoint: string;
  /** One fp16 transformer.onnx per profile depth, in the profile's order. */
  readonly graphs: readonly string[];
}

/** Writes the random checkpoint, then starts the builds side by side; resolve the promise to wait for them. */
export async function startWidthBuilds(ctx: RunContext): Promise<{ models: Promise<WidthModels> }> {
  const { profile } = ctx;
  const dir = join(ctx.work, 'width');
  await mkdir(dir, { recursive: true });
  const config = parseFluxConfig(profile.widthConfig);
  const checkpoint = join(dir, CHECKPOINT_FILE);
  const t = performance.now();
  const parameters = await writeRandomFluxCheckpoint(checkpoint, config, 11);
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(profile.widthConfig)}\n`);
  // What torch_reference.py times and compares: the same sizes, runs and text length.
  const { sizes, txtTokens, warmup, runs } = profile;
  await writeFile(join(dir, 'profile.json'), `${JSON.stringify({ sizes, txtTokens, warmup, runs })}\n`);
  const section: Record<string, unknown> = {
    label: profile.widthLabel,
    config: profile.widthConfig,
    parameters,
    checkpoint: { bytes: (await stat(checkpoint)).size, seconds: (performance.now() - t) / 1000 },
  };
  ctx.results.width = section;
  const started = performance.now();
  const graphs = profile.depths.map((d) => join(dir, depthName(d), 'transformer.onnx'));
  const builds = profile.depths.map(async (d, i) => {
    await mkdir(join(dir, depthName(d)), { recursive: true });
    const report = await runSelf([
      'build-graph',
      checkpoint,
      JSON.stringify(withDepth(profile.widthConfig, d)),
      graphs[i] as string,
    ]);
    return { depth: depthName(d), ...JSON.parse(report) };
  });
  const models = Promise.all(builds).then((done) => {
    section.builds = { wallSeconds: (performance.now() - started) / 1000, each: done };
    return { config, checkpoint, graphs };
  });
  // Awaited later; without this a failed build would be an unhandled rejection in the meantime.
  models.catch(() => undefined);
  return { models };
}

interface DepthTiming {
  depth: string;
  tf32: boolean;
  /** Session creation per image size. */
  createMs: Record<string, number>;
  /** Step time per image size. */
  steps: Record<string, Timing>;
}

/** The feeds a graph takes: a shallower depth has fewer LoRA inputs than the 2 + 2 feeds carry. */
function forSession(feeds: Record<string, ort.Tensor>, names: readonly string[]): Record<string, ort.Tensor> {
  return Object.fromEntries(names.flatMap((n) => (feeds[n] ? [[n, feeds[n]]] : [])));
}

/** One session per image size, so that each size's session-creation time is measured too. */
async function timeDepth(
  ctx: RunContext,
  path: string,
  depth: Depth,
  tf32: boolean,
  inputs: readonly StepInputs[],
  after?: (session: DeviceSession, x: StepInputs) => Promise<void>,
): Promise<DepthTiming> {
  const { profile } = ctx;
  const steps: Record<string, Timing> = {};
  const createMs: Record<string, number> = {};
  for (const x of inputs) {
    const t = performance.now();
    const session = DeviceSession.create(path, { provider: profile.provider, cuda: { useTf32: tf32 } });
    createMs[x.size] = performance.now() - t;
    try {
      steps[x.size] = await timeRuns(profile.warmup, profile.runs, () =>
        session.run(forSession(stepFeeds(x), session.inputNames)),
      );
      await after?.(session, x);
    } finally {
      await session.release();
    }
  }
  return { depth: depthName(depth), tf32, createMs, steps };
}

/**
 * Whether one DeviceSession runs two image sizes in a row, as a worker's does across tasks. The
 * rehearsal found it refused the second shape (outputs were bound once, at creation); the addon now
 * binds them anew at every run, and this stays as the check on the GPU.
 */
export async function addonShapeChange(ctx: RunContext, path: string, config: FluxConfig): Promise<string> {
  const { profile } = ctx;
  const [a, b] = profile.sizes.map((s) => stepInputs(config, s, profile.txtTokens, 5));
  if (!a || !b) return 'not checked (one size only)';
  const session = DeviceSession.create(path, { provider: profile.provider });
  try {
    await session.run(stepFeeds(a));
    await session.run(stepFeeds(b));
    return `ok: ${a.size}² then ${b.size}² in one session`;
  } catch (error) {
    return `FAILS: ${a.size}² then ${b.size}² in one session: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    await session.release();
  }
}

async function dumpComparison(ctx: RunContext, session: DeviceSession, x: StepInputs): Promise<void> {
  const dir = join(ctx.work, 'compare', String(x.size));
  await mkdir(dir, { recursive: true });
  const feeds = stepFeeds(x);
  const out = (await session.run(feeds))[FLUX_IO.out] as ort.Tensor;
  for (const name of [
    FLUX_IO.img,
    FLUX_IO.imgIds,
    FLUX_IO.txt,
    FLUX_IO.txtIds,
    FLUX_IO.timesteps,
    FLUX_IO.y,
  ]) {
    const t = feeds[name] as ort.Tensor;
    await writeNpy(join(dir, `${name}.npy`), t.data as Float32Array, t.dims);
  }
  await writeNpy(join(dir, 'ours.npy'), out.data as Float32Array, out.dims);
}

/** (c): step times of the three depths, per-block times and the 12B step extrapolated from them. */
export async function widthTimings(ctx: RunContext, models: WidthModels): Promise<void> {
  const { profile } = ctx;
  const inputs = profile.sizes.map((s) => stepInputs(models.config, s, profile.txtTokens, 5));
  const section = ctx.results.width as Record<string, unknown>;
  const timings: DepthTiming[] = [];
  section.timings = timings;
  const [full, lessDouble, lessSingle] = profile.depths;
  const runs: { index: number; tf32: boolean }[] = [
    { index: 0, tf32: true },
    { index: 0, tf32: false },
    { index: 1, tf32: true },
    { index: 2, tf32: true },
  ];
  for (const { index, tf32 } of runs) {
    const depth = profile.depths[index] as Depth;
    await ctx.phase(`width ${depthName(depth)} tf32 ${tf32 ? 'on' : 'off'}`, async () => {
      timings.push(
        await timeDepth(ctx, models.graphs[index] as string, depth, tf32, inputs, async (session, x) => {
          if (index === 0 && tf32) await dumpComparison(ctx, session, x);
        }),
      );
    });
  }
  const at = (d: Depth, size: number) =>
    timings.find((t) => t.depth === depthName(d) && t.tf32)?.steps[size]?.ms ?? Number.NaN;
  const blocks: Record<string, PerBlock & { step12BMs: number }> = {};
  for (const size of profile.sizes) {
    const p = perBlock(at(full, size), at(lessDouble, size), at(lessSingle, size), full);
    blocks[size] = { ...p, step12BMs: extrapolate(p, SCHNELL_DEPTH) };
  }
  section.perBlock = blocks;
  section.cudaGraphs =
    'not measured: the native addon does not offer enable_cuda_graph (a captured graph replays fixed device addresses, and each step binds new latents; docs/runtime.md)';
}

interface LoraRun {
  loras: number;
  rank: number;
  bytes: number;
  /** DeviceSession: time to bind (copy to the device) the factors once. */
  bindMs?: number;
  step: Timing;
}

/** (e): LoRA step costs at the headline size, native addon against onnxruntime-node. */
export async function loraCosts(ctx: RunContext, models: WidthModels): Promise<void> {
  const { profile } = ctx;
  const size = profile.sizes[0] as number;
  const x = stepInputs(models.config, size, profile.txtTokens, 5);
  const path = models.graphs[0] as string;
  const sets = profile.loraCounts.map((k) => ({
    k,
    rank: k * profile.loraRank,
    feeds: loraFeeds(models.config, k * profile.loraRank, 100 + k),
  }));
  const native: LoraRun[] = [];
  const copied: LoraRun[] = [];
  const section: Record<string, unknown> = { size, native, onnxruntimeNode: copied };
  ctx.results.lora = section;
  const outputs: Record<string, Float32Array> = {};

  await ctx.phase('lora native', async () => {
    const session = DeviceSession.create(path, { provider: profile.provider, cuda: { useTf32: true } });
    try {
      for (const { k, rank, feeds } of sets) {
        const t = performance.now();
        for (const [name, tensor] of Object.entries(feeds)) session.bind(name, tensor);
        const bindMs = performance.now() - t;
        const step = await timeRuns(profile.warmup, profile.runs, () => session.run(stepFeeds(x, feeds)));
        const out = (await session.run(stepFeeds(x, feeds)))[FLUX_IO.out] as ort.Tensor;
        outputs[`native ${k}`] = out.data as Float32Array;
        native.push({ loras: k, rank, bytes: loraBytes(models.config, rank), bindMs, step });
      }
    } finally {
      await session.release();
    }
  });

  await ctx.phase('lora onnxruntime-node', async () => {
    const session = await ort.InferenceSession.create(path, sessionOptions({ provider: profile.provider }));
    try {
      for (const { k, rank, feeds } of sets) {
        const step = await timeRuns(profile.warmup, profile.runs, () => session.run(stepFeeds(x, feeds)));
        const out = (await session.run(stepFeeds(x, feeds)))[FLUX_IO.out] as ort.Tensor;
        outputs[`copied ${k}`] = out.data as Float32Array;
        copied.push({ loras: k, rank, bytes: loraBytes(models.config, rank), step });
      }
    } finally {
      await session.release();
    }
  });

  // The two runtimes run one graph on the same inputs; a LoRA must move the output.
  const agree: Record<string, ErrorStats> = {};
  for (const { k } of sets) {
    const a = outputs[`native ${k}`];
    const b = outputs[`copied ${k}`];
    if (a && b) agree[`${k} LoRA(s): native vs onnxruntime-node`] = errorStats(a, b);
    const none = outputs['native 0'];
    if (k > 0 && a && none) agree[`${k} LoRA(s) vs none (native)`] = errorStats(a, none);
  }
  section.agreement = agree;

  const most = sets[sets.length - 1];
  const n = native.find((r) => r.loras === most?.k);
  const c = copied.find((r) => r.loras === most?.k);
  if (n && c) {
    // What onnxruntime-node pays over the native path at each step is the factors' copy.
    const extraMs = c.step.ms - n.step.ms;
    section.copyRate = {
      fromSteps: { loras: n.loras, bytes: n.bytes, extraMs, gbPerS: n.bytes / 1e6 / extraMs },
      fromBind: n.bindMs ? { bytes: n.bytes, ms: n.bindMs, gbPerS: n.bytes / 1e6 / n.bindMs } : undefined,
    };
    const schnell = parseFluxConfig({});
    section.schnell = profile.loraCounts.map((k) => ({
      loras: k,
      bytes: loraBytes(schnell, k * profile.loraRank),
      copyMsAtRate: extraMs > 0 ? (loraBytes(schnell, k * profile.loraRank) * extraMs) / n.bytes : null,
    }));
  }
}
