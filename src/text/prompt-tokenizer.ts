/**
 * @module text/prompt-tokenizer
 * What both text encoders need from a tokenizer: a fixed-length id row with the special tokens
 * framed in by us, not by the library. `@huggingface/tokenizers` has no truncation or padding, and
 * cutting its already-framed output would drop the EOS, which FLUX's pooled CLIP vector is read at
 * (flux.md §2.1). So the library only ever returns content ids (`add_special_tokens: false`) and
 * {@link framePrompt} places BOS, content, EOS and pads, the way Python transformers does.
 */
import type { Tokenizer } from '@huggingface/tokenizers';
import { errors } from '../errors.js';

/** One prompt as a text encoder's input row. */
export interface TokenizedPrompt {
  /** Exactly `maxLength` ids: [BOS], content, EOS, then pads. */
  readonly ids: Int32Array;
  /** Content tokens cut off by truncation (0 when the prompt fits). */
  readonly droppedTokens: number;
  /** Content tokens kept in `ids` (special tokens and pads not counted). */
  readonly contentTokens: number;
}

/** Where the special tokens go and how long the row is. */
export interface PromptFrame {
  readonly maxLength: number;
  /** null for tokenizers without a BOS (T5). */
  readonly bosId: number | null;
  readonly eosId: number;
  readonly padId: number;
}

export interface PromptTokenizer extends PromptFrame {
  /** Tokenizes, truncates the content so EOS still fits, and pads to `maxLength`. */
  encode(prompt: string): TokenizedPrompt;
  /** Text of the content ids in `ids` (special tokens and pads skipped), e.g. to show what survived truncation. */
  decode(ids: ArrayLike<number>): string;
}

/**
 * `[BOS] + content[:room] + [EOS] + [PAD]*`, room = maxLength minus the special tokens.
 *
 * @example
 * framePrompt([320, 2368], { maxLength: 6, bosId: 49406, eosId: 49407, padId: 49407 }).ids
 * // Int32Array [49406, 320, 2368, 49407, 49407, 49407]
 */
export function framePrompt(content: readonly number[], frame: PromptFrame): TokenizedPrompt {
  const { maxLength, bosId, eosId, padId } = frame;
  const head = bosId === null ? 0 : 1;
  const kept = Math.max(0, Math.min(content.length, maxLength - head - 1));
  const ids = new Int32Array(maxLength).fill(padId);
  if (bosId !== null) ids[0] = bosId;
  ids.set(content.slice(0, kept), head);
  ids[head + kept] = eosId;
  return { ids, droppedTokens: content.length - kept, contentTokens: kept };
}

/**
 * Binds a loaded library tokenizer to its frame.
 *
 * @example
 * const t5 = promptTokenizer(tokenizer, { maxLength: 256, bosId: null, eosId: 1, padId: 0 });
 * t5.encode('a cat').ids.length; // 256
 */
export function promptTokenizer(tokenizer: Tokenizer, frame: PromptFrame): PromptTokenizer {
  const { maxLength, bosId, eosId, padId } = frame;
  const minimum = bosId === null ? 1 : 2;
  if (!Number.isInteger(maxLength) || maxLength < minimum) {
    throw errors.CONFIG(
      `tokenizer max length must be an integer >= ${minimum} (room for the special tokens), got ${maxLength}`,
    );
  }
  const special = new Set([bosId, eosId, padId]);
  return Object.freeze({
    maxLength,
    bosId,
    eosId,
    padId,
    encode: (prompt: string) =>
      framePrompt(tokenizer.encode(prompt, { add_special_tokens: false }).ids, frame),
    decode: (ids: ArrayLike<number>) => {
      const content = Array.from(ids).filter((id) => !special.has(id));
      // The library throws on an empty list; an empty prompt decodes to ''.
      return content.length === 0 ? '' : tokenizer.decode(content, { skip_special_tokens: true });
    },
  });
}
