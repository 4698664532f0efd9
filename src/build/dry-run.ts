/**
 * @module build/dry-run
 * `flux-serve build --dry-run`: the layer table's tensor and parameter counts from a config alone,
 * which proves the 12B graph's structure without its 24 GB of weights.
 */
import type { FluxConfig } from '../arch/flux-config.js';
import { fluxLinears, fluxTensors } from '../arch/flux-layers.js';
import { parameterCount } from '../arch/param-tensor.js';

export interface LayerTableSummary {
  readonly tensors: number;
  readonly parameters: number;
  readonly linears: number;
  readonly groups: readonly {
    readonly group: string;
    readonly tensors: number;
    readonly parameters: number;
  }[];
}

function groupOf(name: string): string {
  const m = /^(double_blocks|single_blocks)\./.exec(name);
  if (m) return m[1] as string;
  return name.split('.')[0] as string;
}

export function summarizeLayerTable(c: FluxConfig): LayerTableSummary {
  const tensors = fluxTensors(c);
  const groups = new Map<string, { tensors: number; parameters: number }>();
  for (const t of tensors) {
    const g = groups.get(groupOf(t.name)) ?? { tensors: 0, parameters: 0 };
    g.tensors += 1;
    g.parameters += parameterCount([t]);
    groups.set(groupOf(t.name), g);
  }
  return {
    tensors: tensors.length,
    parameters: parameterCount(tensors),
    linears: fluxLinears(c).length,
    groups: [...groups].map(([group, g]) => ({ group, ...g })),
  };
}

export function formatLayerTable(s: LayerTableSummary, bytesPerParam: number): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = s.groups.map(
    (g) =>
      `  ${g.group.padEnd(16)} ${n(g.tensors).padStart(6)} tensors ${n(g.parameters).padStart(16)} parameters`,
  );
  return [
    ...lines,
    `  ${'total'.padEnd(16)} ${n(s.tensors).padStart(6)} tensors ${n(s.parameters).padStart(16)} parameters`,
    `  ${s.linears} LoRA-targetable linears; weights ${((s.parameters * bytesPerParam) / 1e9).toFixed(2)} GB at ${bytesPerParam} bytes/parameter`,
  ].join('\n');
}
