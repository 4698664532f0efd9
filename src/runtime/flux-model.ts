/**
 * @module runtime/flux-model
 * A built model dir opened for inference: its manifest, its five sessions, its tokenizer and
 * scheduler files. Loading is slow (seconds to minutes for 12B weights) and blocks the thread it
 * runs on, so it belongs in the worker, never on the server's event loop.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { type FluxConfig, parseFluxConfig } from '../arch/flux-config.js';
import { errors } from '../errors.js';
import { type Manifest, readManifest } from './manifest.js';
import { type LoadedSession, loadSession, type SessionOptions } from './session.js';

export interface FluxModel {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly transformerConfig: FluxConfig;
  readonly scheduler: Readonly<Record<string, unknown>>;
  readonly clip: ort.InferenceSession;
  readonly t5: ort.InferenceSession;
  readonly transformer: ort.InferenceSession;
  readonly vaeDecoder: ort.InferenceSession;
  readonly vaeEncoder: ort.InferenceSession;
  readonly provider: LoadedSession['provider'];
  release(): Promise<void>;
}

/** @example const model = await loadFluxModel(dir, { provider: 'cuda', log }); */
export async function loadFluxModel(dir: string, options: SessionOptions): Promise<FluxModel> {
  const manifest = await readManifest(dir);
  const component = (name: string) => {
    const c = manifest.components[name];
    if (!c) throw errors.CONFIG(`${dir}/manifest.json has no ${name} component; rebuild the model`);
    return c;
  };
  const transformer = component('transformer');
  const sessions: LoadedSession[] = [];
  for (const name of ['clip', 't5', 'transformer', 'vae_decoder', 'vae_encoder']) {
    sessions.push(await loadSession(join(dir, component(name).file), options));
  }
  const [clip, t5, flux, vaeDecoder, vaeEncoder] = sessions as [
    LoadedSession,
    LoadedSession,
    LoadedSession,
    LoadedSession,
    LoadedSession,
  ];
  const scheduler = JSON.parse(await readFile(join(dir, 'scheduler', 'scheduler_config.json'), 'utf8'));
  return {
    dir,
    manifest,
    transformerConfig: parseFluxConfig(transformer.config),
    scheduler,
    clip: clip.session,
    t5: t5.session,
    transformer: flux.session,
    vaeDecoder: vaeDecoder.session,
    vaeEncoder: vaeEncoder.session,
    provider: flux.provider,
    async release() {
      for (const s of sessions) await s.session.release();
    },
  };
}
