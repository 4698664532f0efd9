/**
 * @module lora/lora-alpha
 * Where a module's alpha comes from (lora.md §4.1, §4.2, §11): its own `.alpha` tensor, else the
 * PEFT config diffusers stores in `lora_adapter_metadata` (`lora_alpha`, `alpha_pattern`,
 * `use_rslora`), else kohya's `ss_network_alpha` when the file has no alpha tensors at all, else
 * none (scale 1, i.e. α = r). A missing alpha is the classic "LoRA 16× too strong" bug, so the
 * source is reported.
 */

export type AlphaSource = 'tensor' | 'peft-metadata' | 'kohya-metadata' | 'none';

export interface ModuleAlpha {
  readonly alpha: number | undefined;
  readonly source: AlphaSource;
  /** rsLoRA: the scale is α / √r. */
  readonly rslora: boolean;
}

function finite(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** PEFT's pattern match (`peft.utils.other.get_pattern_key`): the pattern matches a suffix of the path. */
function matches(pattern: string, path: string): boolean {
  try {
    return new RegExp(`^(?:.*\\.)?(?:${pattern})$`).test(path);
  } catch {
    return path === pattern || path.endsWith(`.${pattern}`);
  }
}

function peftConfig(metadata: Readonly<Record<string, string>>): Record<string, unknown> | undefined {
  const raw = metadata.lora_adapter_metadata;
  if (raw === undefined) return undefined;
  try {
    const json = JSON.parse(raw) as unknown;
    return typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A resolver from (module path, alpha tensor value) to the alpha to use.
 *
 * @example
 * const alphaOf = alphaResolver(file.metadata, false);
 * alphaOf('transformer_blocks.0.attn.to_q', undefined); // { alpha: 16, source: 'peft-metadata', rslora: false }
 */
export function alphaResolver(
  metadata: Readonly<Record<string, string>>,
  fileHasAlphaTensors: boolean,
): (path: string, tensorAlpha: number | undefined) => ModuleAlpha {
  const peft = peftConfig(metadata);
  const field = (k: string): unknown => peft?.[`transformer.${k}`] ?? peft?.[k];
  const rslora = field('use_rslora') === true;
  const peftAlpha = finite(field('lora_alpha'));
  const patterns = field('alpha_pattern');
  const alphaPattern =
    typeof patterns === 'object' && patterns !== null
      ? Object.entries(patterns as Record<string, unknown>)
      : [];
  const kohyaAlpha = fileHasAlphaTensors ? undefined : finite(metadata.ss_network_alpha);
  return (path, tensorAlpha) => {
    if (tensorAlpha !== undefined) return { alpha: tensorAlpha, source: 'tensor', rslora };
    for (const [pattern, value] of alphaPattern) {
      const a = finite(value);
      if (a !== undefined && matches(pattern, path)) return { alpha: a, source: 'peft-metadata', rslora };
    }
    if (peftAlpha !== undefined) return { alpha: peftAlpha, source: 'peft-metadata', rslora };
    if (kohyaAlpha !== undefined) return { alpha: kohyaAlpha, source: 'kohya-metadata', rslora: false };
    return { alpha: undefined, source: 'none', rslora: false };
  };
}

/**
 * The adapter's own scale: α / r (α / √r for rsLoRA); 1 without alpha or without an `r` to divide
 * by (LoKr with two full factors, diff). α = 0 means α = r, kohya's and LyCORIS' rule.
 *
 * @example
 * adapterScale({ alpha: 1, source: 'tensor', rslora: false }, 16); // 0.0625
 */
export function adapterScale(a: ModuleAlpha, alphaRank: number | undefined): number {
  if (a.alpha === undefined || alphaRank === undefined || a.alpha === 0 || alphaRank === 0) return 1;
  return a.rslora ? a.alpha / Math.sqrt(alphaRank) : a.alpha / alphaRank;
}
