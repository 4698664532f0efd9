/**
 * @module build/tiny-checkpoint
 * Writes a complete random checkpoint in the Hugging Face repo layout of
 * black-forest-labs/FLUX.1-schnell (flux.md §11), at the width a models/*.json manifest gives, so
 * every loading and building path runs on the real file layout without the real 33 GB: the BFL
 * transformer and autoencoder at the root, CLIP in half precision, T5 sharded with an index.
 */
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseClipTextConfig } from '../arch/clip-config.js';
import { randomClipTensors } from '../arch/random-clip.js';
import { randomFluxTensors } from '../arch/random-flux.js';
import { randomT5Tensors } from '../arch/random-t5.js';
import type { RandomTensor } from '../arch/random-tensors.js';
import { randomVaeTensors } from '../arch/random-vae.js';
import { parseT5Config } from '../arch/t5-config.js';
import { parseVaeConfig } from '../arch/vae-config.js';
import { type WritableDType, writeSafetensors } from '../weights/safetensors-writer.js';
import { type ModelSpec, TOKENIZERS_DIR } from './model-spec.js';

export interface TinyCheckpointOptions {
  readonly seed: number;
  /** Where the CLIP and T5 tokenizer files are copied from (defaults to the package's own copies). */
  readonly tokenizersDir?: string;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

function plans(tensors: readonly RandomTensor[], dtype: WritableDType) {
  return tensors.map((t) => ({ name: t.name, dtype, shape: t.shape, data: t.values }));
}

/** Writes `tensors` as HF shards `<stem>-0000i-of-0000n.safetensors` plus `<stem>.safetensors.index.json`. */
async function writeSharded(
  dir: string,
  stem: string,
  tensors: readonly RandomTensor[],
  shards: number,
): Promise<void> {
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < shards; i++) {
    const file = `${stem}-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(i * per, (i + 1) * per);
    await writeSafetensors(join(dir, file), plans(part, 'BF16'), { format: 'pt' });
    for (const t of part) weightMap[t.name] = file;
  }
  await writeJson(join(dir, `${stem}.safetensors.index.json`), { metadata: {}, weight_map: weightMap });
}

/** @example await writeTinyCheckpoint('checkpoints/tiny', await loadModelSpec('tiny'), { seed: 1 }); */
export async function writeTinyCheckpoint(
  dir: string,
  spec: ModelSpec,
  options: TinyCheckpointOptions,
): Promise<void> {
  const { seed } = options;
  const tokenizers = options.tokenizersDir ?? TOKENIZERS_DIR;
  for (const sub of ['transformer', 'scheduler', 'text_encoder', 'text_encoder_2', 'vae']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await writeJson(join(dir, 'model_index.json'), {
    _class_name: 'FluxPipeline',
    _flux_serve: { generatedFrom: spec.name, seed, random: true },
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    text_encoder_2: ['transformers', 'T5EncoderModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'T5TokenizerFast'],
    transformer: ['diffusers', 'FluxTransformer2DModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  });
  const generator = { format: 'pt', generator: `flux-serve tiny (${spec.name}, seed ${seed})` };
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), spec.scheduler);

  await writeJson(join(dir, 'transformer', 'config.json'), spec.transformerJson);
  await writeSafetensors(
    join(dir, spec.transformerFile),
    plans(randomFluxTensors(spec.transformer, seed), 'BF16'),
    generator,
  );

  await writeJson(join(dir, 'text_encoder', 'config.json'), spec.clipJson);
  const clip = randomClipTensors(parseClipTextConfig(spec.clipJson), seed + 1);
  await writeSafetensors(join(dir, 'text_encoder', 'model.safetensors'), plans(clip, 'F16'), generator);

  await writeJson(join(dir, 'text_encoder_2', 'config.json'), spec.t5Json);
  await writeSharded(
    join(dir, 'text_encoder_2'),
    'model',
    randomT5Tensors(parseT5Config(spec.t5Json), seed + 2),
    2,
  );

  await writeJson(join(dir, 'vae', 'config.json'), spec.vaeJson);
  await writeSafetensors(
    join(dir, spec.vaeFile),
    plans(randomVaeTensors(parseVaeConfig(spec.vaeJson), seed + 3), 'F32'),
    generator,
  );

  await cp(join(tokenizers, 'clip-vit-large-patch14'), join(dir, 'tokenizer'), { recursive: true });
  await cp(join(tokenizers, 't5-v1_1-xxl'), join(dir, 'tokenizer_2'), { recursive: true });
}
