/**
 * @module api/served-models
 * Which hosted model ids a server answers, from the model it runs (api.md: `flux-schnell-lora` and
 * `flux-schnell` for FLUX.1 [schnell]; `flux-dev-lora` when a dev model is installed), and what each
 * id's contract allows that the others do not: the step count. The hosted dev endpoint takes
 * 1–50 steps (28 by default); schnell, distilled to a few steps, 1–8 (4).
 */

export interface StepRange {
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

export interface ModelContract {
  readonly id: string;
  readonly steps: StepRange;
  readonly description: string;
}

const SCHNELL: Omit<ModelContract, 'id'> = {
  steps: { min: 1, max: 8, default: 4 },
  description: 'FLUX.1 [schnell] on this server: txt2img, img2img and inpainting, with LoRAs',
};
const DEV: Omit<ModelContract, 'id'> = {
  steps: { min: 1, max: 50, default: 28 },
  description:
    'FLUX.1 [dev] on this server: txt2img, img2img and inpainting, with LoRAs (guidance_scale used)',
};

export const SCHNELL_MODELS = ['wavespeed-ai/flux-schnell-lora', 'wavespeed-ai/flux-schnell'] as const;
export const DEV_MODELS = ['wavespeed-ai/flux-dev-lora', 'wavespeed-ai/flux-dev'] as const;

/**
 * The ids a server answers: a guidance-distilled transformer (dev) takes the dev ids, any other the
 * schnell ones — a dev model behind the schnell id would answer with other defaults than the
 * hosted schnell endpoint, and the reverse.
 * @example servedModels(false) // ['wavespeed-ai/flux-schnell-lora', 'wavespeed-ai/flux-schnell']
 */
export function servedModels(guidanceEmbeds: boolean): readonly string[] {
  return guidanceEmbeds ? DEV_MODELS : SCHNELL_MODELS;
}

/** @example modelContract('wavespeed-ai/flux-dev-lora').steps // { min: 1, max: 50, default: 28 } */
export function modelContract(id: string): ModelContract {
  return { id, ...((DEV_MODELS as readonly string[]).includes(id) ? DEV : SCHNELL) };
}
