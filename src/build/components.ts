/**
 * @module build/components
 * The five graphs a model dir holds, each as one row of a table: where its config and weights sit
 * in a Hugging Face FLUX checkpoint (flux.md §11), how its graph is built, its I/O contract and
 * its layer table. `flux-serve build` walks the table; nothing else knows the list.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComputeDType, OpsVariant } from '../arch/build-context.js';
import { buildClipText } from '../arch/clip.js';
import { parseClipTextConfig } from '../arch/clip-config.js';
import { clipInputs, clipOutputs } from '../arch/clip-io.js';
import { clipTensors } from '../arch/clip-layers.js';
import { buildFlux } from '../arch/flux.js';
import { parseFluxConfig } from '../arch/flux-config.js';
import { fluxInputs, fluxLoraLayers, fluxOutputs } from '../arch/flux-io.js';
import { fluxTensors } from '../arch/flux-layers.js';
import { fluxWeightsAsBfl } from '../arch/flux-names.js';
import type { ParamTensor } from '../arch/param-tensor.js';
import { buildT5Encoder, t5Inputs, t5Outputs } from '../arch/t5.js';
import { parseT5Config } from '../arch/t5-config.js';
import { t5Tensors } from '../arch/t5-layers.js';
import { buildVaeDecoder, buildVaeEncoder, VAE_IO, vaeDecoderIo, vaeEncoderIo } from '../arch/vae.js';
import { parseVaeConfig } from '../arch/vae-config.js';
import { vaeDecoderTensors, vaeEncoderTensors, vaeWeightsAsBfl } from '../arch/vae-layers.js';
import { errors } from '../errors.js';
import { fileExists } from '../file-exists.js';
import type { Graph, ValueSpec } from '../onnx/graph.js';
import type { ManifestLayer } from '../runtime/manifest.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { WeightQuant } from '../weights/quantize.js';

export type ComponentName = 'clip' | 't5' | 'transformer' | 'vae_decoder' | 'vae_encoder';

export interface BuildRequest {
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
  /** Block-quantized linears (MatMulNBits) for the transformer and T5; the others stay float. */
  readonly quant?: WeightQuant;
}

/** What a component's config yields before any weight is read. */
export interface ComponentPlan {
  readonly tensors: readonly ParamTensor[];
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly layers: readonly ManifestLayer[];
  /** The dtype the graph computes in (the VAE always runs in float32). */
  readonly dtype: ComputeDType;
  /** Set when the graph's linears are block-quantized. */
  readonly quant?: WeightQuant;
  build(weights: WeightSource): Graph;
}

export interface ComponentDef {
  readonly name: ComponentName;
  /** Checkpoint subfolder holding config.json. */
  readonly configDir: string;
  /** Weight files, first match wins: paths relative to the checkpoint dir. */
  readonly weightCandidates: readonly string[];
  plan(configJson: unknown, request: BuildRequest): ComponentPlan;
}

function values(
  specs: readonly { name: string; dtype: string; dims: readonly (number | string)[] }[],
): ValueSpec[] {
  return specs.map((s) => ({ name: s.name, dtype: s.dtype as ValueSpec['dtype'], dims: s.dims }));
}

const VAE_FILES = ['ae.safetensors', 'vae/diffusion_pytorch_model.safetensors'];

export const COMPONENTS: readonly ComponentDef[] = [
  {
    name: 'clip',
    configDir: 'text_encoder',
    weightCandidates: ['text_encoder/model.safetensors.index.json', 'text_encoder/model.safetensors'],
    plan(json, { dtype, ops }) {
      const c = parseClipTextConfig(json);
      return {
        tensors: clipTensors(c),
        inputs: values(clipInputs(c)),
        outputs: values(clipOutputs(c)),
        layers: [],
        dtype,
        build: (w) => buildClipText(c, w, { dtype, ops }),
      };
    },
  },
  {
    name: 't5',
    configDir: 'text_encoder_2',
    weightCandidates: ['text_encoder_2/model.safetensors.index.json', 'text_encoder_2/model.safetensors'],
    plan(json, { dtype, ops, quant }) {
      const c = parseT5Config(json);
      return {
        tensors: t5Tensors(c),
        inputs: values(t5Inputs(c)),
        outputs: values(t5Outputs(c)),
        layers: [],
        dtype,
        quant,
        build: (w) => buildT5Encoder(c, w, { dtype, ops, quant }),
      };
    },
  },
  {
    name: 'transformer',
    configDir: 'transformer',
    weightCandidates: [
      'flux1-schnell.safetensors',
      'flux1-dev.safetensors',
      'transformer/diffusion_pytorch_model.safetensors.index.json',
      'transformer/diffusion_pytorch_model.safetensors',
    ],
    plan(json, { dtype, ops, quant }) {
      const c = parseFluxConfig(json);
      return {
        tensors: fluxTensors(c),
        inputs: values(fluxInputs(c)),
        outputs: values(fluxOutputs(c)),
        layers: fluxLoraLayers(c, dtype),
        dtype,
        quant,
        build: (w) => buildFlux(c, fluxWeightsAsBfl(c, w), { dtype, ops, quant }),
      };
    },
  },
  {
    name: 'vae_decoder',
    configDir: 'vae',
    weightCandidates: VAE_FILES,
    plan(json) {
      const c = parseVaeConfig(json);
      const io = vaeDecoderIo(c);
      return {
        tensors: vaeDecoderTensors(c),
        inputs: [{ name: VAE_IO.latent, dtype: 'float32', dims: io.latent }],
        outputs: [{ name: VAE_IO.image, dtype: 'float32', dims: io.image }],
        layers: [],
        dtype: 'float32',
        build: (w) => buildVaeDecoder(c, vaeWeightsAsBfl(c, w), { dtype: 'float32' }),
      };
    },
  },
  {
    name: 'vae_encoder',
    configDir: 'vae',
    weightCandidates: VAE_FILES,
    plan(json) {
      const c = parseVaeConfig(json);
      const io = vaeEncoderIo(c);
      return {
        tensors: vaeEncoderTensors(c),
        inputs: [{ name: VAE_IO.image, dtype: 'float32', dims: io.image }],
        outputs: [
          { name: VAE_IO.latent, dtype: 'float32', dims: io.latent },
          { name: VAE_IO.logvar, dtype: 'float32', dims: io.logvar },
        ],
        layers: [],
        dtype: 'float32',
        build: (w) => buildVaeEncoder(c, vaeWeightsAsBfl(c, w), { dtype: 'float32' }),
      };
    },
  },
];

export async function readComponentConfig(dir: string, def: ComponentDef): Promise<unknown> {
  const path = join(dir, def.configDir, 'config.json');
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw errors.USAGE(`${dir} is not a FLUX checkpoint: cannot read ${path} (${(cause as Error).message})`);
  }
}

/** The weight file of a component: the first candidate present. */
export async function locateWeights(dir: string, def: ComponentDef): Promise<string> {
  for (const candidate of def.weightCandidates) {
    const path = join(dir, candidate);
    if (await fileExists(path)) return path;
  }
  throw errors.USAGE(`${dir} has no ${def.name} weights: looked for ${def.weightCandidates.join(', ')}`);
}
