/**
 * @module lora/lora-targets
 * Every module path a LoRA file may name, resolved to a row range of one BFL linear (lora.md §1.1,
 * §4.4, §4.6): BFL names, diffusers names (split q/k/v/mlp become row slices of the fused weight;
 * `norm_out.linear` has its halves swapped), XLabs processors and OneTrainer's split indices, each
 * in dotted form and in the underscored form of kohya-style prefixes. Derived from the layer table
 * of `arch/` and its diffusers recipes, so no layer name is typed twice.
 */
import type { FluxConfig } from '../arch/flux-config.js';
import { fluxLinears } from '../arch/flux-layers.js';
import { diffusersRecipes } from '../arch/flux-names.js';
import type { LinearLayer } from '../arch/param-tensor.js';

/** The naming family a module path was written in. */
export type Naming = 'bfl' | 'diffusers' | 'xlabs' | 'bfl-split';

/** Rows `[rowOffset, rowOffset + rows)` of `layer`'s output, the part a source module patches. */
export interface Target {
  readonly layer: LinearLayer;
  readonly rowOffset: number;
  readonly rows: number;
  /** The source rows are [scale; shift] and the layer's are [shift; scale] (diffusers norm_out). */
  readonly swapHalves: boolean;
  readonly naming: Naming;
}

export interface TargetTable {
  /** Dotted module path (no namespace prefix) → target. */
  readonly dotted: ReadonlyMap<string, Target>;
  /** The same paths with `.` → `_`, for `lora_unet_`, `lora_transformer_` and `lycoris_` keys. */
  readonly underscored: ReadonlyMap<string, Target>;
  /** Paths (both forms) of real FLUX layers this config lacks (guidance_in on schnell). */
  readonly absent: ReadonlySet<string>;
}

function layerTargets(c: FluxConfig, add: (path: string, t: Target) => void): void {
  const recipes = diffusersRecipes(c);
  for (const layer of fluxLinears(c)) {
    const whole = { layer, rowOffset: 0, rows: layer.out, swapHalves: false };
    add(layer.name, { ...whole, naming: 'bfl' });
    const recipe = recipes.get(`${layer.name}.weight`);
    const parts = recipe?.parts.map((p) => p.slice(0, -'.weight'.length)) ?? [];
    // Split parts are q, k, v (hidden rows each) and, for linear1, the MLP (the remaining rows).
    let offset = 0;
    parts.forEach((part, k) => {
      const rows = k === parts.length - 1 ? layer.out - offset : c.hiddenSize;
      const split = { layer, rowOffset: offset, rows, swapHalves: recipe?.swapHalves ?? false };
      add(part, { ...split, naming: 'diffusers' });
      if (parts.length > 1) add(`${layer.name}.${k}`, { ...split, naming: 'bfl-split' });
      offset += rows;
    });
  }
  const byName = new Map(fluxLinears(c).map((l) => [l.name, l]));
  const find = (name: string) => byName.get(name) as LinearLayer;
  add('img_in.proj', {
    layer: find('img_in'),
    rowOffset: 0,
    rows: c.hiddenSize,
    swapHalves: false,
    naming: 'bfl-split',
  });
  // XLabs processors (x-flux src/flux/modules/layers.py): lora1 = image stream, lora2 = text stream;
  // the single-block qkv LoRA patches the attention rows of linear1 only.
  for (let i = 0; i < c.numLayers; i++) {
    for (const [n, stream] of [
      ['1', 'img'],
      ['2', 'txt'],
    ] as const) {
      for (const kind of ['qkv', 'proj'] as const) {
        const layer = find(`double_blocks.${i}.${stream}_attn.${kind}`);
        const path = `double_blocks.${i}.processor.${kind}_lora${n}`;
        add(path, { layer, rowOffset: 0, rows: layer.out, swapHalves: false, naming: 'xlabs' });
      }
    }
  }
  for (let j = 0; j < c.numSingleLayers; j++) {
    const p = `single_blocks.${j}`;
    const linear2 = find(`${p}.linear2`);
    const qkvRows = 3 * c.hiddenSize;
    add(`${p}.processor.qkv_lora`, {
      layer: find(`${p}.linear1`),
      rowOffset: 0,
      rows: qkvRows,
      swapHalves: false,
      naming: 'xlabs',
    });
    add(`${p}.processor.proj_lora`, {
      layer: linear2,
      rowOffset: 0,
      rows: linear2.out,
      swapHalves: false,
      naming: 'xlabs',
    });
  }
}

/**
 * Builds the lookup tables for one transformer config.
 *
 * @example
 * const t = targetTable(config).dotted.get('transformer_blocks.0.attn.to_k');
 * // { layer: { name: 'double_blocks.0.img_attn.qkv', … }, rowOffset: 3072, rows: 3072, … }
 */
export function targetTable(c: FluxConfig): TargetTable {
  const dotted = new Map<string, Target>();
  const underscored = new Map<string, Target>();
  const add = (path: string, t: Target) => {
    dotted.set(path, t);
    underscored.set(path.replaceAll('.', '_'), t);
  };
  layerTargets(c, add);
  const absent = new Set<string>();
  if (!c.guidanceEmbeds) {
    const withGuidance = { ...c, guidanceEmbeds: true };
    layerTargets(withGuidance, (path) => {
      if (!dotted.has(path)) absent.add(path).add(path.replaceAll('.', '_'));
    });
  }
  return { dotted, underscored, absent };
}
