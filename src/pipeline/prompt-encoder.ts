/**
 * @module pipeline/prompt-encoder
 * Prompt → CLIP pooled vector and T5 hidden states, with the model's own tokenizer files. Runs once
 * per prompt whatever the number of images.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { FluxConfig } from '../arch/flux-config.js';
import type { FluxModel } from '../runtime/flux-model.js';
import { type ClipTokenizer, loadClipTokenizer, loadT5Tokenizer, type T5Tokenizer } from '../text/index.js';
import type { TimedRun } from './timed-run.js';

export interface EncodedPrompt {
  /** [pooledDim] CLIP pooled output. */
  readonly pooled: Float32Array;
  /** [t5Length, jointDim] T5 hidden states, pad rows included (flux.md §2.2: no mask). */
  readonly t5: Float32Array;
  readonly t5Length: number;
  /** Tokens cut off by each encoder's limit (the job log reports them). */
  readonly dropped: { readonly clip: number; readonly t5: number };
}

/** BFL's rule: T5 runs at 256 tokens for schnell, 512 for guidance-distilled models (flux.md §2.2). */
export function t5SequenceLength(c: FluxConfig): number {
  return c.guidanceEmbeds ? 512 : 256;
}

function ids(a: Int32Array): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(a, (v) => BigInt(v)),
    [1, a.length],
  );
}

export class PromptEncoder {
  private constructor(
    private readonly clipTokenizer: ClipTokenizer,
    private readonly t5Tokenizer: T5Tokenizer,
  ) {}

  static async load(model: FluxModel): Promise<PromptEncoder> {
    const t5Length = t5SequenceLength(model.transformerConfig);
    return new PromptEncoder(
      await loadClipTokenizer(join(model.dir, 'tokenizer')),
      await loadT5Tokenizer(join(model.dir, 'tokenizer_2'), t5Length),
    );
  }

  async encode(model: FluxModel, run: TimedRun, prompt: string): Promise<EncodedPrompt> {
    const clipTokens = this.clipTokenizer.encode(prompt);
    const t5Tokens = this.t5Tokenizer.encode(prompt);
    const { pooled } = await run(model.clip, { input_ids: ids(clipTokens.ids) });
    const { hidden } = await run(model.t5, { input_ids: ids(t5Tokens.ids) });
    if (!pooled || !hidden) throw new Error('text encoders returned no output');
    return {
      pooled: pooled.data as Float32Array,
      t5: hidden.data as Float32Array,
      t5Length: t5Tokens.ids.length,
      dropped: { clip: clipTokens.droppedTokens, t5: t5Tokens.droppedTokens },
    };
  }
}
