/**
 * Test support: one writer per LoRA format (lora.md §4), each returning the tensors to write and
 * the naive float64 delta they make at user scale 1.
 */
import type { FluxConfig } from '../../src/arch/flux-config.js';
import type { TensorToWrite, WritableDType } from '../../src/weights/safetensors-writer.js';
import {
  addDelta,
  bflMods,
  type Deltas,
  diffusersMods,
  type LoraFixture,
  type Mod,
  omiMods,
  product,
  randomIn,
  xlabsMods,
} from './lora-fixtures.js';

const under = (s: string) => s.replaceAll('.', '_');

export interface PlainOptions {
  readonly dtype: WritableDType;
  readonly rank: number;
  readonly seed: number;
  /** Key stem as written for a module. */
  readonly key: (m: Mod) => string;
  readonly down: string;
  readonly up: string;
  /** Alpha tensor to write for module k (undefined: none). */
  readonly alpha?: (m: Mod, k: number) => number | undefined;
  /** The adapter scale a module gets without an alpha tensor (metadata alpha), default 1. */
  readonly scale?: (m: Mod) => number;
  readonly metadata?: Record<string, string>;
}

/** A plain LoRA (down [r, in], up [rows, r]) on every module of `mods`. */
export function plainLora(c: FluxConfig, mods: readonly Mod[], o: PlainOptions): LoraFixture {
  const tensors: TensorToWrite[] = [];
  const delta: Deltas = new Map();
  mods.forEach((m, k) => {
    const seed = o.seed * 1000 + k * 2;
    const down = randomIn(o.dtype, o.rank * m.in, seed, 0.3);
    const up = randomIn(o.dtype, m.rows * o.rank, seed + 1, 0.3);
    const stem = o.key(m);
    tensors.push(
      { name: `${stem}${o.down}`, dtype: o.dtype, shape: [o.rank, m.in], data: down },
      { name: `${stem}${o.up}`, dtype: o.dtype, shape: [m.rows, o.rank], data: up },
    );
    const alpha = o.alpha?.(m, k);
    let scale = o.scale?.(m) ?? 1;
    if (alpha !== undefined) {
      tensors.push({ name: `${stem}.alpha`, dtype: 'F32', shape: [], data: new Float32Array([alpha]) });
      scale = alpha === 0 ? 1 : alpha / o.rank;
    }
    addDelta(c, delta, m, product(up, down, o.rank, m.in), scale);
  });
  return { tensors, delta, ...(o.metadata ? { metadata: o.metadata } : {}) };
}

const KOHYA = { down: '.lora_down.weight', up: '.lora_up.weight' } as const;
const PEFT = { down: '.lora_A.weight', up: '.lora_B.weight' } as const;
const kohyaAlpha = (_: Mod, k: number) => [1, 0, 2, 8][k % 4];

export const FORMATS = {
  /** diffusers/PEFT with alpha only in `lora_adapter_metadata` (lora_alpha 8, one alpha_pattern). */
  diffusers: (c: FluxConfig) =>
    plainLora(c, diffusersMods(c), {
      dtype: 'F16',
      rank: 4,
      seed: 1,
      key: (m) => `transformer.${m.stem}`,
      ...PEFT,
      scale: (m) => (m.stem === 'transformer_blocks.0.attn.to_q' ? 2 / 4 : 8 / 4),
      metadata: {
        lora_adapter_metadata: JSON.stringify({
          'transformer.r': 4,
          'transformer.lora_alpha': 8,
          'transformer.alpha_pattern': { '^transformer_blocks.0.attn.to_q': 2 },
        }),
      },
    }),
  kohya: (c: FluxConfig) =>
    plainLora(c, bflMods(c), {
      dtype: 'BF16',
      rank: 4,
      seed: 2,
      key: (m) => `lora_unet_${under(m.stem)}`,
      ...KOHYA,
      alpha: kohyaAlpha,
      metadata: { ss_network_alpha: '1', ss_network_dim: '4', 'modelspec.architecture': 'flux-1-dev/lora' },
    }),
  comfyui: (c: FluxConfig) =>
    plainLora(c, bflMods(c), {
      dtype: 'F32',
      rank: 3,
      seed: 3,
      key: (m) => `diffusion_model.${m.stem}`,
      ...KOHYA,
    }),
  'bfl-peft': (c: FluxConfig) =>
    plainLora(c, bflMods(c), {
      dtype: 'BF16',
      rank: 2,
      seed: 4,
      key: (m) => `base_model.model.${m.stem}`,
      ...PEFT,
    }),
  xlabs: (c: FluxConfig) =>
    plainLora(c, xlabsMods(c), {
      dtype: 'BF16',
      rank: 4,
      seed: 5,
      key: (m) => m.stem,
      down: '.down.weight',
      up: '.up.weight',
    }),
  onetrainer: (c: FluxConfig) =>
    plainLora(c, diffusersMods(c), {
      dtype: 'F32',
      rank: 3,
      seed: 6,
      key: (m) => `lora_transformer_${under(m.stem)}`,
      ...KOHYA,
      alpha: kohyaAlpha,
    }),
  'onetrainer-split': (c: FluxConfig) =>
    plainLora(c, omiMods(c), {
      dtype: 'F16',
      rank: 2,
      seed: 7,
      key: (m) => `transformer.${m.stem}`,
      ...KOHYA,
      alpha: kohyaAlpha,
    }),
  /** Unprefixed diffusers names with a PEFT adapter name left in (DiffSynth, raw PEFT). */
  diffsynth: (c: FluxConfig) =>
    plainLora(c, diffusersMods(c), {
      dtype: 'F32',
      rank: 2,
      seed: 8,
      key: (m) => m.stem,
      down: '.lora_A.default.weight',
      up: '.lora_B.default.weight',
    }),
  /** kohya naming on diffusers paths with the stray trailing underscore (ComfyUI #4347). */
  'kohya-diffusers': (c: FluxConfig) =>
    plainLora(c, diffusersMods(c), {
      dtype: 'F16',
      rank: 2,
      seed: 9,
      key: (m) => `lora_unet_${under(m.stem)}_`,
      ...KOHYA,
      alpha: kohyaAlpha,
    }),
} as const;

/** kohya `split_qkv`: per-split downs concatenated along the rank, up block-diagonal, r = k·r (§4.2). */
export function kohyaSplitQkv(c: FluxConfig, rank: number, alpha: number): LoraFixture {
  const tensors: TensorToWrite[] = [];
  const delta: Deltas = new Map();
  const d = c.hiddenSize;
  bflMods(c)
    .filter((m) => /attn\.qkv$|linear1$/.test(m.layer))
    .forEach((m, n) => {
      const sizes = m.layer.endsWith('linear1') ? [d, d, d, c.mlpHidden] : [d, d, d];
      const R = sizes.length * rank;
      const down = randomIn('F32', R * m.in, 700 + 2 * n, 0.3);
      const up = new Float32Array(m.rows * R);
      let row = 0;
      sizes.forEach((size, p) => {
        const block = randomIn('F32', size * rank, 701 + 2 * n + 100 * p, 0.3);
        for (let o = 0; o < size; o++) {
          for (let k = 0; k < rank; k++) up[(row + o) * R + p * rank + k] = block[o * rank + k] as number;
        }
        row += size;
      });
      const stem = `lora_unet_${under(m.stem)}`;
      tensors.push(
        { name: `${stem}.lora_down.weight`, dtype: 'F32', shape: [R, m.in], data: down },
        { name: `${stem}.lora_up.weight`, dtype: 'F32', shape: [m.rows, R], data: up },
        { name: `${stem}.alpha`, dtype: 'F32', shape: [], data: new Float32Array([alpha]) },
      );
      addDelta(c, delta, m, product(up, down, R, m.in), alpha / R);
    });
  return { tensors, delta };
}

/** LyCORIS LoHa under kohya names: ΔW = α/r1 · (w1a w1b) ⊙ (w2a w2b); some modules at r1·r2 > min(rows, in). */
export function loha(c: FluxConfig, seed: number): LoraFixture {
  const tensors: TensorToWrite[] = [];
  const delta: Deltas = new Map();
  bflMods(c).forEach((m, k) => {
    const [r1, r2] = k % 5 === 0 ? [6, 6] : [2, 3];
    const s = seed * 1000 + 4 * k;
    const w1a = randomIn('F16', m.rows * r1, s, 0.5);
    const w1b = randomIn('F16', r1 * m.in, s + 1, 0.5);
    const w2a = randomIn('F16', m.rows * r2, s + 2, 0.5);
    const w2b = randomIn('F16', r2 * m.in, s + 3, 0.5);
    const stem = `lora_unet_${under(m.stem)}`;
    const alpha = k % 2 === 0 ? 1 : 4;
    tensors.push(
      { name: `${stem}.hada_w1_a`, dtype: 'F16', shape: [m.rows, r1], data: w1a },
      { name: `${stem}.hada_w1_b`, dtype: 'F16', shape: [r1, m.in], data: w1b },
      { name: `${stem}.hada_w2_a`, dtype: 'F16', shape: [m.rows, r2], data: w2a },
      { name: `${stem}.hada_w2_b`, dtype: 'F16', shape: [r2, m.in], data: w2b },
      { name: `${stem}.alpha`, dtype: 'F16', shape: [], data: new Float32Array([alpha]) },
    );
    const p1 = product(w1a, w1b, r1, m.in);
    const p2 = product(w2a, w2b, r2, m.in);
    addDelta(c, delta, m, (o, i) => p1(o, i) * p2(o, i), alpha / r1);
  });
  return { tensors, delta };
}

/**
 * LyCORIS LoKr under SimpleTuner's `lycoris_` names: ΔW = γ · kron(W1, W2) with W1 [4, 2] and
 * W2 [rows/4, in/2], each full or decomposed; γ = α / r of the decomposed factor, 1 when both are full.
 */
export function lokr(c: FluxConfig, seed: number): LoraFixture {
  const tensors: TensorToWrite[] = [];
  const delta: Deltas = new Map();
  const rank = 2;
  diffusersMods(c).forEach((m, k) => {
    const [a, cc, b, dd] = [4, 2, m.rows / 4, m.in / 2];
    const stem = `lycoris_${under(m.stem)}`;
    const s = seed * 1000 + 4 * k;
    const put = (name: string, shape: number[], data: Float32Array) =>
      tensors.push({ name: `${stem}.${name}`, dtype: 'F32', shape, data });
    const decomposed = (n: 1 | 2, rows: number, cols: number, r: number, at: number) => {
      const u = randomIn('F32', rows * r, at, 0.5);
      const v = randomIn('F32', r * cols, at + 1, 0.5);
      put(`lokr_w${n}_a`, [rows, r], u);
      put(`lokr_w${n}_b`, [r, cols], v);
      return product(u, v, r, cols);
    };
    const fullFactor = (n: 1 | 2, rows: number, cols: number, at: number) => {
      const w = randomIn('F32', rows * cols, at, 0.5);
      put(`lokr_w${n}`, [rows, cols], w);
      return (o: number, i: number) => w[o * cols + i] as number;
    };
    let w1: (o: number, i: number) => number;
    let w2: (o: number, i: number) => number;
    let gamma: number;
    const alpha = [3, 0.5, 1][k % 3] as number;
    if (k % 3 === 0) {
      w1 = fullFactor(1, a, cc, s);
      w2 = decomposed(2, b, dd, rank, s + 1);
      gamma = alpha / rank;
    } else if (k % 3 === 1) {
      w1 = decomposed(1, a, cc, 1, s);
      w2 = fullFactor(2, b, dd, s + 2);
      gamma = alpha / 1;
    } else {
      w1 = fullFactor(1, a, cc, s);
      w2 = fullFactor(2, b, dd, s + 1);
      gamma = 1;
    }
    put('alpha', [], new Float32Array([alpha]));
    addDelta(c, delta, m, (o, i) => w1(Math.floor(o / b), Math.floor(i / dd)) * w2(o % b, i % dd), gamma);
  });
  return { tensors, delta };
}

/** Full deltas (`diff`, ComfyUI names) on every other layer, with a zero `diff_b` beside each. */
export function fullDiff(c: FluxConfig, seed: number): LoraFixture {
  const tensors: TensorToWrite[] = [];
  const delta: Deltas = new Map();
  bflMods(c)
    .filter((_, k) => k % 2 === 0)
    .forEach((m, k) => {
      const diff = randomIn('BF16', m.rows * m.in, seed * 1000 + k, 0.1);
      tensors.push(
        { name: `diffusion_model.${m.stem}.diff`, dtype: 'BF16', shape: [m.rows, m.in], data: diff },
        {
          name: `diffusion_model.${m.stem}.diff_b`,
          dtype: 'BF16',
          shape: [m.rows],
          data: new Float32Array(m.rows),
        },
      );
      addDelta(c, delta, m, (o, i) => diff[o * m.in + i] as number, 1);
    });
  return { tensors, delta };
}
