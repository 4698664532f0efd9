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
import { type ComponentManifest, isTestModel, type Manifest, readManifest } from './manifest.js';
import {
  type LoadedModelSession,
  loadDeviceResidentSession,
  type ModelSession,
  type SessionRuntime,
} from './model-session.js';
import type { NativeChoice } from './provider.js';
import { type LoadedSession, loadSession, type SessionOptions } from './session.js';

export interface FluxModel {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly transformerConfig: FluxConfig;
  readonly scheduler: Readonly<Record<string, unknown>>;
  readonly clip: ort.InferenceSession;
  readonly t5: ort.InferenceSession;
  /** On the native addon (device-resident inputs) or onnxruntime-node: runtime/model-session. */
  readonly transformer: ModelSession;
  readonly transformerRuntime: SessionRuntime;
  readonly vaeDecoder: ort.InferenceSession;
  readonly vaeEncoder: ort.InferenceSession;
  readonly provider: LoadedSession['provider'];
  release(): Promise<void>;
}

/** Everything a caller chooses about the sessions; prepacking is chosen per component. */
export type ModelSessionOptions = Omit<SessionOptions, 'prepack'> & {
  /** Which runtime the transformer gets (FLUX_SERVE_NATIVE; default auto). */
  readonly native?: NativeChoice;
};

/**
 * The options one component's session gets: prepacking follows the component, not the caller,
 * because only MatMulNBits gains from it (a quantized component's linears are all MatMulNBits;
 * a float one would only pay a RAM copy of its weights). On CUDA, MatMulNBits repacks only on
 * its opt-in fpA_intB path, so this changes nothing there by default.
 */
export function componentSessionOptions(
  component: Pick<ComponentManifest, 'quant'>,
  options: ModelSessionOptions,
): SessionOptions {
  return { ...options, prepack: component.quant !== undefined };
}

/** @example const model = await loadFluxModel(dir, { provider: 'cuda:0', log }); */
export async function loadFluxModel(dir: string, options: ModelSessionOptions): Promise<FluxModel> {
  const manifest = await readManifest(dir);
  const component = (name: string) => {
    const c = manifest.components[name];
    if (!c) throw errors.CONFIG(`${dir}/manifest.json has no ${name} component; rebuild the model`);
    return c;
  };
  const transformer = component('transformer');
  let sessionOptions: ModelSessionOptions = {
    ...options,
    // A test model may run on the CPU when CUDA cannot be loaded; a real FLUX fails with the
    // install instructions instead (minutes per step would look like a hung server).
    cpuFallback: options.cpuFallback ?? isTestModel(manifest),
  };
  const sessions: LoadedModelSession[] = [];
  for (const name of ['clip', 't5', 'transformer', 'vae_decoder', 'vae_encoder']) {
    const c = component(name);
    const path = join(dir, c.file);
    const options = componentSessionOptions(c, sessionOptions);
    const loaded =
      name === 'transformer'
        ? await loadDeviceResidentSession(path, { ...options, native: sessionOptions.native ?? 'auto' })
        : { ...(await loadSession(path, options)), runtime: 'onnxruntime-node' as const };
    // One fallback warning is enough: the other components go straight to the CPU.
    if (loaded.provider !== sessionOptions.provider) sessionOptions = { ...sessionOptions, provider: 'cpu' };
    sessions.push(loaded);
  }
  const [clip, t5, flux, vaeDecoder, vaeEncoder] = sessions as [
    LoadedModelSession,
    LoadedModelSession,
    LoadedModelSession,
    LoadedModelSession,
    LoadedModelSession,
  ];
  const ortSession = (s: LoadedModelSession) => s.session as ort.InferenceSession;
  const scheduler = JSON.parse(await readFile(join(dir, 'scheduler', 'scheduler_config.json'), 'utf8'));
  return {
    dir,
    manifest,
    transformerConfig: parseFluxConfig(transformer.config),
    scheduler,
    clip: ortSession(clip),
    t5: ortSession(t5),
    transformer: flux.session,
    transformerRuntime: flux.runtime,
    vaeDecoder: ortSession(vaeDecoder),
    vaeEncoder: ortSession(vaeEncoder),
    provider: flux.provider,
    async release() {
      for (const s of sessions) await s.session.release();
    },
  };
}
