/**
 * @module lora/sample-lora
 * A LoRA to try LoRAs with on a fresh clone: random low-rank factors on every linear of a
 * transformer config, in the diffusers/PEFT layout (`transformer.<module>.lora_A/lora_B.weight`,
 * split q/k/v), the most common one. On the tiny model it changes the (noise) image visibly, which
 * is all a first try needs to see: the request path, the LoRA picker, the cache.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FluxConfig } from '../arch/flux-config.js';
import { seededNormal } from '../weights/random.js';
import { type TensorToWrite, writeSafetensors } from '../weights/safetensors-writer.js';
import { targetTable } from './lora-targets.js';

export interface SampleLoraOptions {
  readonly rank?: number;
  readonly seed?: number;
}

/** The tensors of the sample LoRA for `c`: one lora_A [r, in] / lora_B [rows, r] pair per diffusers module. */
export function sampleLoraTensors(c: FluxConfig, o: SampleLoraOptions = {}): TensorToWrite[] {
  const rank = o.rank ?? 4;
  const randn = seededNormal(o.seed ?? 1);
  const tensors: TensorToWrite[] = [];
  for (const [path, target] of targetTable(c).dotted) {
    if (target.naming !== 'diffusers') continue;
    const stem = `transformer.${path}`;
    const fanIn = target.layer.in;
    // A ~ N(0, 1/in), B ~ N(0, 1/r): the delta is of the order of a trained weight's own rows.
    tensors.push(
      {
        name: `${stem}.lora_A.weight`,
        dtype: 'F32',
        shape: [rank, fanIn],
        data: randn.fill(new Float32Array(rank * fanIn), 1 / Math.sqrt(fanIn)),
      },
      {
        name: `${stem}.lora_B.weight`,
        dtype: 'F32',
        shape: [target.rows, rank],
        data: randn.fill(new Float32Array(target.rows * rank), 1 / Math.sqrt(rank)),
      },
    );
  }
  return tensors;
}

/** Its file name in the LoRA folder. @example sampleLoraName('tiny') // 'sample-tiny.safetensors' */
export function sampleLoraName(model: string): string {
  return `sample-${model}.safetensors`;
}

/** Writes the sample LoRA for `c` to `file`. @example await writeSampleLora('loras/sample-tiny.safetensors', spec.transformer); */
export async function writeSampleLora(file: string, c: FluxConfig, o: SampleLoraOptions = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeSafetensors(file, sampleLoraTensors(c, o), {
    'flux-serve': 'sample LoRA: random factors, for trying LoRAs out',
  });
}
