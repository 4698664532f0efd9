/**
 * @module lora/parse-lora
 * From a LoRA file's bytes to per-layer runtime blocks and a load report, following lora.md's
 * cascade (§4.12, §12): refuse control LoRAs, classify every key (§3), group keys by source module,
 * pick the algorithm from the suffix set (§4.7), resolve alpha, validate shapes (§5.3), factor each
 * module exactly (§6), and fail when nothing matched. Whatever cannot be applied exactly is either
 * refused (DoRA, control LoRAs, ranks over the limit, shape mismatches, NaN) or reported as ignored
 * (text encoders, bias deltas) — never approximated.
 */
import type { FluxConfig } from '../arch/flux-config.js';
import { fluxLinears } from '../arch/flux-layers.js';
import { errors } from '../errors.js';
import { type Algorithm, type ModuleTensor, moduleFactors } from './adapter-factors.js';
import { type AlphaSource, adapterScale, alphaResolver } from './lora-alpha.js';
import { loraBlock, MAX_EXACT_RANK } from './lora-block.js';
import { readLoraFile } from './lora-file.js';
import { classifyKey, type Param } from './lora-keys.js';
import { type IgnoredKey, keyFormat, type LoraFormat } from './lora-report.js';
import { type Target, targetTable } from './lora-targets.js';
import type { LoraBlock, ParsedLora } from './parsed-lora.js';

export interface ParseOptions {
  /** Display name for messages and the report (default `lora`). */
  readonly name?: string;
  /** Largest exact rank one module may give a layer (default MAX_EXACT_RANK). */
  readonly maxRank?: number;
}

interface Module {
  readonly target: Target;
  readonly namespace: string;
  /** The module path without namespace, as PEFT patterns see it. */
  readonly path: string;
  readonly tensors: Map<Param, ModuleTensor>;
}

function allZero(values: Float32Array): boolean {
  return values.every((v) => v === 0);
}

function refuseControl(name: string, keys: Iterable<string>): void {
  for (const key of keys) {
    if (/(?:query|key)_norm\.scale$/.test(key)) {
      throw errors.LORA(
        name,
        `it replaces QK-norm scales (${key}): a BFL control LoRA (Canny/Depth), which needs a control image ` +
          'and a widened img_in; this text-to-image server does not support control LoRAs',
      );
    }
  }
}

/**
 * Parses a FLUX.1 LoRA of any common format for the given transformer config.
 *
 * @throws FluxServeError FLUX_ERR_SAFETENSORS for a corrupt file, FLUX_ERR_LORA for a LoRA that
 *   cannot be applied exactly (the message names the key, shape or layer)
 *
 * @example
 * const parsed = parseLora(await readFile(path), config, { name: 'style.safetensors' });
 * const feeds = packLoras(fluxLinears(config), [{ lora: parsed, scale: 0.8 }]);
 */
export function parseLora(bytes: Uint8Array, config: FluxConfig, options: ParseOptions = {}): ParsedLora {
  const name = options.name ?? 'lora';
  const maxRank = options.maxRank ?? MAX_EXACT_RANK;
  const file = readLoraFile(bytes, name);
  refuseControl(name, file.tensors.keys());
  const table = targetTable(config);
  const ignored: IgnoredKey[] = [];
  const modules = new Map<string, Module>();
  for (const [key, entry] of file.tensors) {
    const c = classifyKey(key, table);
    if (c.kind === 'ignored') {
      ignored.push({ key, reason: c.reason });
      continue;
    }
    let m = modules.get(c.module);
    if (!m) {
      m = {
        target: c.target,
        namespace: c.namespace,
        path: c.module.slice(c.namespace.length),
        tensors: new Map(),
      };
      modules.set(c.module, m);
    }
    if (m.tensors.has(c.param)) {
      const other = m.tensors.get(c.param)?.key;
      throw errors.LORA(
        name,
        `${key} and ${other} are the same tensor of ${c.module} (several PEFT adapters in one file?)`,
      );
    }
    m.tensors.set(c.param, { key, shape: entry.shape, read: () => file.read(key) });
  }
  const alphaOf = alphaResolver(
    file.metadata,
    [...modules.values()].some((m) => m.tensors.has('alpha')),
  );
  const layers = new Map<string, LoraBlock[]>();
  const algorithms: Record<Algorithm, number> = { lora: 0, loha: 0, lokr: 0, full: 0 };
  const formats = new Map<LoraFormat, number>();
  const ranks: number[] = [];
  const alphas: number[] = [];
  const sources = new Set<AlphaSource>();
  let used = 0;
  for (const [module, m] of modules) {
    const { tensors, target } = m;
    const dora = tensors.get('dora');
    if (dora) {
      throw errors.LORA(
        name,
        `${dora.key} is a DoRA magnitude: DoRA rescales W + BA by the base weight's norms, which the ` +
          'runtime LoRA inputs cannot express exactly; merge the DoRA into the model or convert it to a plain LoRA',
      );
    }
    const tucker = tensors.get('hada_t') ?? tensors.get('lokr_t2');
    if (tucker)
      throw errors.LORA(name, `${tucker.key} is a convolution Tucker core; FLUX has no convolutions`);
    const down = tensors.get('down');
    if (target.layer.name === 'img_in' && down && down.shape[1] !== target.layer.in) {
      throw errors.LORA(
        name,
        `${down.key} takes ${down.shape[1]} input channels where img_in has ${target.layer.in}: a control or ` +
          'fill LoRA (Canny/Depth/Fill), which this text-to-image server does not support',
      );
    }
    const other = tensors.get('other');
    if (other) {
      for (const t of tensors.values()) ignored.push({ key: t.key, reason: 'unsupported-algorithm' });
      continue;
    }
    for (const p of ['up_bias', 'diff_b'] as const) {
      const t = tensors.get(p);
      if (!t) continue;
      // An all-zero bias delta (ComfyUI extracts write them) changes nothing: applied exactly by ignoring it.
      if (allZero(t.read())) used++;
      else ignored.push({ key: t.key, reason: 'bias-delta' });
    }
    const f = moduleFactors(name, target, module, tensors);
    const alphaT = tensors.get('alpha');
    if (!f) {
      if (alphaT) ignored.push({ key: alphaT.key, reason: 'unknown-key' });
      continue;
    }
    let tensorAlpha: number | undefined;
    if (alphaT) {
      const values = alphaT.read();
      if (values.length !== 1)
        throw errors.LORA(name, `${alphaT.key} must be a scalar, got shape [${alphaT.shape}]`);
      tensorAlpha = values[0];
    }
    const alpha = alphaOf(m.path, tensorAlpha);
    const block = loraBlock(name, target, module, f, adapterScale(alpha, f.alphaRank), maxRank);
    const list = layers.get(target.layer.name) ?? [];
    list.push(block);
    layers.set(target.layer.name, list);
    algorithms[f.algorithm]++;
    const format = keyFormat(m.namespace, target.naming);
    formats.set(format, (formats.get(format) ?? 0) + 1);
    ranks.push(block.rank);
    sources.add(alpha.source);
    if (alpha.alpha !== undefined) alphas.push(alpha.alpha);
    used += [...tensors.keys()].filter((p) => p !== 'up_bias' && p !== 'diff_b').length;
  }
  if (layers.size === 0) {
    const reasons = [...new Set(ignored.map((i) => i.reason))].join(', ');
    throw errors.LORA(
      name,
      `none of its ${file.tensors.size} keys matched a FLUX.1 transformer layer (${reasons || 'no keys'}); ` +
        `not a FLUX.1 LoRA? e.g. ${ignored
          .slice(0, 3)
          .map((i) => i.key)
          .join(', ')}`,
    );
  }
  const byCount = [...formats].sort((x, y) => y[1] - x[1]);
  return {
    name,
    layers,
    report: {
      name,
      format: (byCount[0] as [LoraFormat, number])[0],
      formats: byCount.map(([f]) => f),
      algorithms,
      layers: fluxLinears(config)
        .map((l) => l.name)
        .filter((l) => layers.has(l)),
      modelLayers: fluxLinears(config).length,
      rank: { min: Math.min(...ranks), max: Math.max(...ranks) },
      alpha: {
        sources: [...sources],
        min: alphas.length ? Math.min(...alphas) : undefined,
        max: alphas.length ? Math.max(...alphas) : undefined,
      },
      keys: { total: file.tensors.size, used },
      ignored,
      baseModel: file.metadata['modelspec.architecture'],
    },
  };
}
