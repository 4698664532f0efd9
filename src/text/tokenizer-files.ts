/**
 * @module text/tokenizer-files
 * Reading a Hugging Face tokenizer folder: its JSON and text files, the special-token names its
 * configs declare, and the library Tokenizer built from them. Every failure names the file.
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';
import { errors } from '../errors.js';

export type Json = Record<string, unknown>;

function unreadable(path: string, cause: unknown): Error {
  const err = errors.CONFIG(`cannot read tokenizer file ${path}: ${(cause as Error).message}`);
  err.cause = cause;
  return err;
}

function isMissing(cause: unknown): boolean {
  return (cause as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * A file's text; a missing file gives undefined when `optional`.
 *
 * @example
 * const merges = await readTokenizerText('/models/flux/tokenizer/merges.txt');
 */
export async function readTokenizerText(path: string): Promise<string>;
export async function readTokenizerText(path: string, optional: true): Promise<string | undefined>;
export async function readTokenizerText(path: string, optional = false): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    if (optional && isMissing(cause)) return undefined;
    throw unreadable(path, cause);
  }
}

/**
 * A file parsed as a JSON object; a missing file gives undefined when `optional`.
 *
 * @example
 * const config = await readTokenizerJson('/models/flux/tokenizer/tokenizer_config.json', true);
 */
export async function readTokenizerJson(path: string): Promise<Json>;
export async function readTokenizerJson(path: string, optional: true): Promise<Json | undefined>;
export async function readTokenizerJson(path: string, optional = false): Promise<Json | undefined> {
  const text = optional ? await readTokenizerText(path, true) : await readTokenizerText(path);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw unreadable(path, cause);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw errors.CONFIG(`cannot read tokenizer file ${path}: not a JSON object`);
  }
  return json as Json;
}

/**
 * The token string a config declares for `key` (`pad_token`, `eos_token`, ...), first from
 * tokenizer_config.json, then special_tokens_map.json, else `fallback`. Both files write it either
 * as a string or as a serialized AddedToken `{ content, ... }`.
 *
 * @example
 * specialTokenName('pad_token', '<|endoftext|>', config, specialTokensMap); // '<|endoftext|>'
 */
export function specialTokenName(key: string, fallback: string, ...sources: (Json | undefined)[]): string {
  for (const source of sources) {
    const v = source?.[key];
    if (typeof v === 'string') return v;
    if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string') {
      return (v as Json).content as string;
    }
  }
  return fallback;
}

/**
 * Builds the library Tokenizer; its constructor errors (unknown component, malformed model) name `file`.
 *
 * @example
 * const tok = newTokenizer(await readTokenizerJson(path), {}, path);
 */
export function newTokenizer(json: Json, config: Json, file: string): Tokenizer {
  try {
    return new Tokenizer(json, config);
  } catch (cause) {
    const err = errors.CONFIG(`tokenizer file ${file} is not usable: ${(cause as Error).message}`);
    err.cause = cause;
    throw err;
  }
}

/**
 * The id of a special token, which must be in the vocabulary.
 *
 * @example
 * tokenId(tok, '</s>', 'eos_token', dir); // 1
 */
export function tokenId(tokenizer: Tokenizer, token: string, role: string, dir: string): number {
  const id = tokenizer.token_to_id(token);
  if (id === undefined)
    throw errors.CONFIG(
      `${role} ${JSON.stringify(token)} of the tokenizer in ${dir} is not in its vocabulary`,
    );
  return id;
}
