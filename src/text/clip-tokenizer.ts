/**
 * @module text/clip-tokenizer
 * The CLIP-L tokenizer of a FLUX model folder (`<model>/tokenizer/`): 77 ids,
 * `[<|startoftext|>] + content[:75] + [<|endoftext|>]`, padded with the config's pad token
 * (`<|endoftext|>` for FLUX, flux.md §2.1). Uses tokenizer.json when the folder has one; real
 * FLUX repos ship only vocab.json + merges.txt, from which the same pipeline is rebuilt.
 */
import { join } from 'node:path';
import { errors } from '../errors.js';
import { clipTokenizerJson, parseMerges } from './clip-bpe.js';
import { type PromptTokenizer, promptTokenizer } from './prompt-tokenizer.js';
import {
  type Json,
  newTokenizer,
  readTokenizerJson,
  readTokenizerText,
  specialTokenName,
  tokenId,
} from './tokenizer-files.js';

export type ClipTokenizer = PromptTokenizer;

/** CLIP-L's position table has 77 rows, so no config may ask for more. */
export const CLIP_MAX_LENGTH = 77;

/** HF writes a huge sentinel (1e30) for "no limit"; anything past the position table means "use 77". */
function clipMaxLength(config: Json | undefined, file: string): number {
  const v = config?.model_max_length;
  if (v === undefined || v === null || (typeof v === 'number' && v > CLIP_MAX_LENGTH)) return CLIP_MAX_LENGTH;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 2) {
    throw errors.CONFIG(
      `model_max_length in ${file} must be an integer from 2 to ${CLIP_MAX_LENGTH}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/**
 * Loads the CLIP tokenizer of `dir` (tokenizer.json, or vocab.json + merges.txt; tokenizer_config.json
 * and special_tokens_map.json are optional and default to CLIP's own tokens and 77).
 *
 * @example
 * const clip = await loadClipTokenizer('/models/FLUX.1-schnell/tokenizer');
 * clip.encode('a photo of a cat').ids; // Int32Array(77) [49406, 320, 1125, 539, 320, 2368, 49407, 49407, ...]
 */
export async function loadClipTokenizer(dir: string): Promise<ClipTokenizer> {
  const configFile = join(dir, 'tokenizer_config.json');
  const [config, specialMap] = await Promise.all([
    readTokenizerJson(configFile, true),
    readTokenizerJson(join(dir, 'special_tokens_map.json'), true),
  ]);
  const name = (key: string, fallback: string) => specialTokenName(key, fallback, config, specialMap);
  const bos = name('bos_token', '<|startoftext|>');
  const eos = name('eos_token', '<|endoftext|>');
  const names = { bos, eos, unk: name('unk_token', '<|endoftext|>') };

  let file = join(dir, 'tokenizer.json');
  let json = await readTokenizerJson(file, true);
  if (json === undefined) {
    file = join(dir, 'vocab.json');
    const mergesFile = join(dir, 'merges.txt');
    const [vocab, merges] = await Promise.all([readTokenizerJson(file), readTokenizerText(mergesFile)]);
    json = clipTokenizerJson(vocab, parseMerges(merges, mergesFile), names, config, file);
  }
  const tokenizer = newTokenizer(json, config ?? {}, file);
  return promptTokenizer(tokenizer, {
    maxLength: clipMaxLength(config, configFile),
    bosId: tokenId(tokenizer, bos, 'bos_token', dir),
    eosId: tokenId(tokenizer, eos, 'eos_token', dir),
    // The slow CLIPTokenizer's default pad is <|endoftext|> too.
    padId: tokenId(tokenizer, name('pad_token', eos), 'pad_token', dir),
  });
}
