/**
 * @module build/resolve-config
 * A transformer config from whatever the user points at: a checkpoint dir (its
 * transformer/config.json), a models/*.json manifest by name or path, or a diffusers config.json.
 */
import { readFile, stat } from 'node:fs/promises';
import { type FluxConfig, parseFluxConfig } from '../arch/flux-config.js';
import { errors } from '../errors.js';
import { COMPONENTS, readComponentConfig } from './components.js';
import { loadModelSpec } from './model-spec.js';

export async function resolveTransformerConfig(source: string): Promise<FluxConfig> {
  const info = await stat(source).catch(() => undefined);
  if (info?.isDirectory()) {
    const def = COMPONENTS.find((d) => d.name === 'transformer');
    if (!def) throw new Error('unreachable: no transformer component');
    return parseFluxConfig(await readComponentConfig(source, def));
  }
  if (!info) return (await loadModelSpec(source)).transformer; // a name from models/
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(source, 'utf8'));
  } catch (cause) {
    throw errors.USAGE(`${source} is not JSON: ${(cause as Error).message}`);
  }
  return 'transformer' in json ? (await loadModelSpec(source)).transformer : parseFluxConfig(json);
}
