/**
 * @module text/clip-bpe
 * A CLIP `tokenizer.json` object built from the "slow" files, vocab.json + merges.txt, because
 * real FLUX repos ship only those for CLIP and the library reads nothing but tokenizer.json.
 * The pipeline is the one Hugging Face's `CLIPConverter` (convert_slow_tokenizer.py) writes;
 * the tests check it equals a serialized CLIPTokenizerFast file for the same vocabulary.
 */
import { errors } from '../errors.js';
import type { Json } from './tokenizer-files.js';

/** A `tokenizer.json` `added_tokens` entry. */
interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Special token names the converter needs (resolved from the configs by the caller). */
export interface ClipSpecialNames {
  readonly bos: string;
  readonly eos: string;
  readonly unk: string;
}

/**
 * merges.txt lines as `"a b"` pairs: the `#version` header and blank lines skipped, CRLF tolerated.
 *
 * @example
 * parseMerges('#version: 0.2\ni n\nt h\n', 'merges.txt'); // ['i n', 't h']
 */
export function parseMerges(text: string, file: string): string[] {
  const merges: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
    // A token never contains a space (ByteLevel maps it to 'Ġ'), so a merge is exactly two parts.
    if (line.split(' ').length !== 2) {
      throw errors.CONFIG(
        `cannot read tokenizer file ${file}: line ${i + 1} is not a merge pair: ${JSON.stringify(line)}`,
      );
    }
    merges.push(line);
  }
  return merges;
}

/** Checks vocab.json is a token -> non-negative integer id map. */
function checkVocab(vocab: Json, file: string): Record<string, number> {
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw errors.CONFIG(
        `cannot read tokenizer file ${file}: id of ${JSON.stringify(token)} is ${JSON.stringify(id)}`,
      );
    }
  }
  return vocab as Record<string, number>;
}

/**
 * The added (special) tokens: taken from tokenizer_config.json's `added_tokens_decoder` when it has
 * one (FLUX's does, and it says `<|startoftext|>` is normalized and `<|endoftext|>` is not), else
 * the slow CLIPTokenizer's defaults for BOS and EOS.
 */
function addedTokens(
  vocab: Record<string, number>,
  names: ClipSpecialNames,
  config: Json | undefined,
): AddedToken[] {
  const decoder = config?.added_tokens_decoder;
  if (typeof decoder === 'object' && decoder !== null) {
    return Object.entries(decoder as Record<string, Json>)
      .map(([id, t]) => ({
        id: Number(id),
        content: String(t.content),
        single_word: t.single_word === true,
        lstrip: t.lstrip === true,
        rstrip: t.rstrip === true,
        normalized: t.normalized === true,
        special: t.special === true,
      }))
      .sort((a, b) => a.id - b.id);
  }
  const defaults = [
    { content: names.bos, normalized: true },
    { content: names.eos, normalized: false },
  ];
  return defaults
    .filter((t) => vocab[t.content] !== undefined)
    .map((t) => ({
      id: vocab[t.content] as number,
      content: t.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: t.normalized,
      special: true,
    }))
    .sort((a, b) => a.id - b.id);
}

/**
 * The tokenizer.json object for a CLIP BPE vocabulary.
 *
 * @example
 * const json = clipTokenizerJson(vocab, parseMerges(mergesText, mergesPath), names, config, vocabPath);
 * const tok = new Tokenizer(json, config);
 */
export function clipTokenizerJson(
  vocabJson: Json,
  merges: string[],
  names: ClipSpecialNames,
  config: Json | undefined,
  vocabFile: string,
): Json {
  const vocab = checkVocab(vocabJson, vocabFile);
  for (const token of [names.bos, names.eos]) {
    if (vocab[token] === undefined) {
      throw errors.CONFIG(`cannot read tokenizer file ${vocabFile}: special token ${token} is missing`);
    }
  }
  const bos = names.bos;
  const eos = names.eos;
  const literal = (s: string) => s.replace(/[|\\^$.*+?()[\]{}]/g, '\\$&');
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens(vocab, names, config),
    // The slow tokenizer's cleanup (ftfy when installed, whitespace collapse, lower-case) as the
    // fast converter writes it; ftfy's full-width folding is not part of it (dependencies.md §1).
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex: `${literal(bos)}|${literal(eos)}|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+`,
          },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [eos, vocab[eos]],
      cls: [bos, vocab[bos]],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: names.unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}
