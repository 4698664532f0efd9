/**
 * @module build/tiny-checkpoint
 * Writes a complete random checkpoint in the Hugging Face repo layout of
 * black-forest-labs/FLUX.1-schnell (flux.md §11), at the width a models/*.json manifest gives, so
 * every loading and building path runs on the real file layout without the real 24 GB.
 */
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomFluxTensors } from '../arch/random-flux.js';
import { writeSafetensors } from '../weights/safetensors-writer.js';
import { type ModelSpec, TOKENIZERS_DIR } from './model-spec.js';

export interface TinyCheckpointOptions {
  readonly seed: number;
  /** Where the CLIP and T5 tokenizer files are copied from (defaults to the package's own copies). */
  readonly tokenizersDir?: string;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** @example await writeTinyCheckpoint('/tmp/tiny', await loadModelSpec('tiny'), { seed: 1 }); */
export async function writeTinyCheckpoint(
  dir: string,
  spec: ModelSpec,
  options: TinyCheckpointOptions,
): Promise<void> {
  const tokenizers = options.tokenizersDir ?? TOKENIZERS_DIR;
  for (const sub of ['transformer', 'scheduler']) await mkdir(join(dir, sub), { recursive: true });
  await writeJson(join(dir, 'model_index.json'), {
    _class_name: 'FluxPipeline',
    _flux_serve: { generatedFrom: spec.name, seed: options.seed, random: true },
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    text_encoder_2: ['transformers', 'T5EncoderModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'T5TokenizerFast'],
    transformer: ['diffusers', 'FluxTransformer2DModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  });
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), spec.scheduler);
  await writeJson(join(dir, 'transformer', 'config.json'), spec.transformerJson);
  await writeSafetensors(
    join(dir, spec.transformerFile),
    randomFluxTensors(spec.transformer, options.seed).map((t) => ({
      name: t.name,
      dtype: 'BF16' as const,
      shape: t.shape,
      data: t.values,
    })),
    { format: 'pt', generator: `flux-serve tiny (${spec.name}, seed ${options.seed})` },
  );
  await cp(join(tokenizers, 'clip-vit-large-patch14'), join(dir, 'tokenizer'), { recursive: true });
  await cp(join(tokenizers, 't5-v1_1-xxl'), join(dir, 'tokenizer_2'), { recursive: true });
}
