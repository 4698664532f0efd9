/**
 * Test support: runs a built transformer graph on the CPU EP with inputs made from float64 arrays,
 * and makes the matching float64 reference inputs.
 */
import * as ort from 'onnxruntime-node';
import type { ComputeDType } from '../../src/arch/build-context.js';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { FLUX_IO, fluxLoraLayers } from '../../src/arch/flux-io.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import { allLoraTensors } from '../../src/pipeline/lora-tensors.js';
import { f32ToF16 } from '../../src/weights/float16.js';
import { seededNormal } from '../../src/weights/random.js';
import type { RefInputs, RefLora } from '../reference/flux-reference.js';

/** Random transformer inputs: B items, an h×w packed image grid, T text tokens, real-shaped ids. */
export function randomInputs(
  c: FluxConfig,
  seed: number,
  batch: number,
  h: number,
  w: number,
  txtTokens: number,
): RefInputs {
  const randn = seededNormal(seed);
  const imgTokens = h * w;
  const imgIds = new Float64Array(batch * imgTokens * 3);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < h; r++) {
      for (let col = 0; col < w; col++) imgIds.set([0, r, col], (b * imgTokens + r * w + col) * 3);
    }
  }
  return {
    batch,
    imgTokens,
    txtTokens,
    img: randn.fill(new Float64Array(batch * imgTokens * c.inChannels)),
    imgIds,
    txt: randn.fill(new Float64Array(batch * txtTokens * c.jointAttentionDim)),
    txtIds: new Float64Array(batch * txtTokens * 3),
    timesteps: Float64Array.from({ length: batch }, (_, b) => [1, 0.75, 0.5, 0.25][b % 4] as number),
    y: randn.fill(new Float64Array(batch * c.pooledProjectionDim)),
    ...(c.guidanceEmbeds ? { guidance: Float64Array.from({ length: batch }, (_, b) => 3.5 - b) } : {}),
  };
}

/** Random LoRA deltas on every linear at the given rank (0 = empty tensors). */
export function randomLora(c: FluxConfig, seed: number, rank: number, scale = 0.05): RefLora {
  const randn = seededNormal(seed);
  return new Map(
    fluxLinears(c).map((l) => [
      l.name,
      {
        a: randn.fill(new Float64Array(l.in * rank), scale),
        b: randn.fill(new Float64Array(rank * l.out), scale),
        rank,
      },
    ]),
  );
}

/** Anything with onnxruntime-node's `run`: an InferenceSession or a DeviceSession. */
export interface Runnable {
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.OnnxValue>>;
}

/** Whole-layer deltas as the LoRA inputs of a graph computing in `dtype` (float64 → float32 → dtype). */
export function refLoraTensors(
  c: FluxConfig,
  lora: RefLora,
  dtype: ComputeDType,
): Record<string, ort.Tensor> {
  const t = (data: Float64Array, dims: number[]) => {
    const f32 = Float32Array.from(data);
    return dtype === 'float32'
      ? new ort.Tensor('float32', f32, dims)
      : new ort.Tensor('float16', f32ToF16(f32), dims);
  };
  const tensors: Record<string, ort.Tensor> = {};
  for (const layer of fluxLoraLayers(c, dtype)) {
    const d = lora.get(layer.name);
    if (!d) continue;
    tensors[layer.loraA] = t(d.a, [layer.in, d.rank]);
    tensors[layer.loraB] = t(d.b, [d.rank, layer.out]);
  }
  return tensors;
}

/**
 * The transformer's feeds for `x`. `lora`: whole-layer deltas, or LoRA input tensors by name
 * (packed feeds); every other LoRA input gets rank 0. `dtype`: the graph's compute dtype, which its
 * LoRA inputs take.
 */
export function fluxFeeds(
  c: FluxConfig,
  x: RefInputs,
  lora?: RefLora | Readonly<Record<string, ort.Tensor>>,
  dtype: ComputeDType = 'float32',
): Record<string, ort.Tensor> {
  const t = (data: Float64Array, dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);
  const { batch: B, imgTokens: L, txtTokens: T } = x;
  const feeds: Record<string, ort.Tensor> = {
    [FLUX_IO.img]: t(x.img, [B, L, c.inChannels]),
    [FLUX_IO.imgIds]: t(x.imgIds, [B, L, 3]),
    [FLUX_IO.txt]: t(x.txt, [B, T, c.jointAttentionDim]),
    [FLUX_IO.txtIds]: t(x.txtIds, [B, T, 3]),
    [FLUX_IO.timesteps]: t(x.timesteps, [B]),
    [FLUX_IO.y]: t(x.y, [B, c.pooledProjectionDim]),
  };
  if (x.guidance) feeds[FLUX_IO.guidance] = t(x.guidance, [B]);
  const given = lora instanceof Map ? refLoraTensors(c, lora, dtype) : (lora as Record<string, ort.Tensor>);
  Object.assign(feeds, allLoraTensors(fluxLoraLayers(c, dtype), given));
  return feeds;
}

export async function runFlux(
  session: Runnable,
  c: FluxConfig,
  x: RefInputs,
  lora?: RefLora | Readonly<Record<string, ort.Tensor>>,
  dtype: ComputeDType = 'float32',
): Promise<Float32Array> {
  const result = await session.run(fluxFeeds(c, x, lora, dtype));
  const out = result[FLUX_IO.out];
  if (!out) throw new Error('no output');
  return (out as ort.Tensor).data as Float32Array;
}
