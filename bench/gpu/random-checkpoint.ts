/**
 * A random BFL-layout transformer checkpoint (bf16) drawn fast enough for a timed GPU call: the
 * project's own seeded normals (Box-Muller over mulberry32) take ~80 s for the 10⁹ values of a
 * full-width 2 + 2 model, this takes a few seconds. Each tensor keeps the mean and spread that
 * random-flux gives it (arch/random-flux's stdFor), drawn from a triangular distribution: bounded,
 * which random weights for timing and for comparing two implementations on the same file can be.
 */
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxTensors } from '../../src/arch/flux-layers.js';
import { stdFor } from '../../src/arch/random-flux.js';
import { writeSafetensors } from '../../src/weights/safetensors-writer.js';

/** xorshift32 state that is never 0. */
export function seedState(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0 || 1;
}

/**
 * `n` bf16 values (raw bits) with mean `mean` and standard deviation `std`: the sum of two 16-bit
 * uniforms is triangular on (−1, 1) with variance 1/6. It takes 131071 values only, so each is
 * rounded to bf16 once, in a table, and the loop is a lookup.
 */
export function randomBf16(n: number, mean: number, std: number, state: number): Uint16Array {
  const table = new Uint16Array(131071);
  const f = new Float32Array(1);
  const bits = new Uint32Array(f.buffer);
  const k = (std * Math.sqrt(6)) / 65536;
  for (let sum = 0; sum < table.length; sum++) {
    f[0] = mean + (sum - 65535) * k;
    table[sum] = ((bits[0] as number) + 0x8000) >>> 16;
  }
  const out = new Uint16Array(n);
  let s = state >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = table[(s & 0xffff) + ((s >>> 16) & 0xffff)] as number;
  }
  return out;
}

/** Uniform float32 values in [−scale, scale): LoRA factors, latents. */
export function randomUniform(n: number, scale: number, state: number): Float32Array {
  const out = new Float32Array(n);
  let s = state >>> 0 || 1;
  const k = (2 * scale) / 4294967296;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) * k - scale;
  }
  return out;
}

/** Writes every tensor of `config` (BFL names, as flux1-schnell.safetensors has them); returns its parameter count. */
export async function writeRandomFluxCheckpoint(
  path: string,
  config: FluxConfig,
  seed: number,
): Promise<number> {
  const tensors = fluxTensors(config);
  await writeSafetensors(
    path,
    tensors.map((t, i) => ({
      name: t.name,
      dtype: 'BF16' as const,
      shape: t.shape,
      data: () => {
        const { mean, std } = stdFor(t);
        return randomBf16(
          t.shape.reduce((a, b) => a * b, 1),
          mean,
          std,
          seedState(seed, i),
        );
      },
    })),
    { format: 'pt', generator: `bench/gpu random (seed ${seed})` },
  );
  return tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}
