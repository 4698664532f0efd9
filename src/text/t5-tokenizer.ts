/**
 * @module text/t5-tokenizer
 * The T5 v1.1 tokenizer of a FLUX model folder (`<model>/tokenizer_2/tokenizer.json`, Unigram):
 * `content[:maxLength-1] + [</s>]` padded with `<pad>` (flux.md §2.2). There is no BOS. The caller
 * picks maxLength (256 for schnell, 512 for dev) because T5 runs without an attention mask, so the
 * padded length changes the embedding and must match the reference exactly.
 */
import { join } from 'node:path';
import { type PromptTokenizer, promptTokenizer } from './prompt-tokenizer.js';
import { newTokenizer, readTokenizerJson, specialTokenName, tokenId } from './tokenizer-files.js';

export type T5Tokenizer = PromptTokenizer;

/**
 * Loads the T5 tokenizer of `dir` (tokenizer.json required; tokenizer_config.json and
 * special_tokens_map.json optional, defaulting to `</s>` and `<pad>`).
 *
 * @example
 * const t5 = await loadT5Tokenizer('/models/FLUX.1-schnell/tokenizer_2', 256);
 * t5.encode('a photo of a cat').ids; // Int32Array(256) [3, 9, 1202, 13, 3, 9, 1712, 1, 0, 0, ...]
 */
export async function loadT5Tokenizer(dir: string, maxLength: number): Promise<T5Tokenizer> {
  const file = join(dir, 'tokenizer.json');
  const [json, config, specialMap] = await Promise.all([
    readTokenizerJson(file),
    readTokenizerJson(join(dir, 'tokenizer_config.json'), true),
    readTokenizerJson(join(dir, 'special_tokens_map.json'), true),
  ]);
  const name = (key: string, fallback: string) => specialTokenName(key, fallback, config, specialMap);
  const tokenizer = newTokenizer(json, config ?? {}, file);
  return promptTokenizer(tokenizer, {
    maxLength,
    bosId: null,
    eosId: tokenId(tokenizer, name('eos_token', '</s>'), 'eos_token', dir),
    padId: tokenId(tokenizer, name('pad_token', '<pad>'), 'pad_token', dir),
  });
}
