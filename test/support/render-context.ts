/** Test support: the render context of a loaded model with image downloads refused (no network in tests). */
import { PromptEncoder } from '../../src/pipeline/prompt-encoder.js';
import type { RenderContext } from '../../src/pipeline/render.js';
import type { FluxModel } from '../../src/runtime/flux-model.js';

/** @example const ctx = await offlineRenderContext(await loadFluxModel(dir, { provider: 'cpu', log })); */
export async function offlineRenderContext(model: FluxModel): Promise<RenderContext> {
  return {
    model,
    encoder: await PromptEncoder.load(model),
    fetchImage: async () => {
      throw new Error('no network here: image URLs cannot be downloaded');
    },
  };
}
