import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxServeError } from '../../src/errors.js';
import { clipTokenizerJson, parseMerges } from '../../src/text/clip-bpe.js';
import {
  type ClipTokenizer,
  framePrompt,
  loadClipTokenizer,
  loadT5Tokenizer,
  type PromptTokenizer,
  type T5Tokenizer,
} from '../../src/text/index.js';

const CLIP_DIR = fileURLToPath(new URL('../../models/tokenizers/clip-vit-large-patch14/', import.meta.url));
const T5_DIR = fileURLToPath(new URL('../../models/tokenizers/t5-v1_1-xxl/', import.meta.url));
const CLIP_FILES = ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];
const T5_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

const BOS = 49406;
const EOT = 49407; // CLIP's EOS and pad
const T5_EOS = 1;
const T5_PAD = 0;

// Pinned in shared/specs/dependencies.md §1 (special tokens included, no padding). CLIP was matched
// against OpenAI's clip/simple_tokenizer.py, T5 against SentencePiece.
const PROMPTS = [
  {
    text: 'A beautiful woman with a slight warming smile in a bustling cafe, 4k  [be4u7y]',
    clip: [
      49406, 320, 1215, 2308, 593, 320, 14297, 8606, 3490, 530, 320, 31299, 1358, 4979, 267, 275, 330, 314,
      655, 275, 340, 278, 344, 316, 49407,
    ],
    t5: [
      71, 786, 2335, 28, 3, 9, 9927, 14811, 3993, 16, 3, 9, 22211, 53, 6913, 6, 314, 157, 784, 346, 591, 76,
      940, 63, 908, 1,
    ],
  },
  {
    text: 'a photo of a cat holding a sign that says "hello world"',
    clip: [49406, 320, 1125, 539, 320, 2368, 5050, 320, 2292, 682, 1563, 257, 3306, 1002, 257, 49407],
    t5: [3, 9, 1202, 13, 3, 9, 1712, 3609, 3, 9, 1320, 24, 845, 96, 107, 7126, 296, 121, 1],
  },
  {
    text: "Café Über-Löwe's NEON sign — 3 dogs & 2 cats!!! 🐱 (ｆｕｌｌｗｉｄｔｈ) <extra_id_0> <|endoftext|>",
    clip: [
      49406, 15304, 6522, 1516, 268, 75, 7255, 649, 568, 13919, 2292, 2005, 274, 3255, 261, 273, 3989, 995,
      22979, 263, 171, 121, 228, 171, 121, 243, 171, 121, 234, 171, 121, 234, 171, 121, 245, 171, 121, 231,
      171, 121, 226, 171, 121, 242, 171, 121, 486, 264, 283, 4231, 318, 1014, 318, 271, 285, 49407, 49407,
    ],
    t5: [
      18131, 3333, 18, 434, 1872, 1123, 31, 7, 3, 4171, 4170, 1320, 3, 318, 220, 3887, 3, 184, 204, 10003,
      3158, 3, 2, 41, 1329, 40, 12018, 189, 61, 32099, 3, 2, 9175, 989, 858, 6327, 9175, 3155, 1,
    ],
  },
];

// Extra T5 cases from the same section, also matched against SentencePiece.
const T5_EXTRA = [
  {
    text: '  leading and trailing spaces   with\ttabs\nand newlines  ',
    t5: [1374, 11, 5032, 53, 4856, 28, 3808, 7, 11, 126, 6972, 1],
  },
  {
    text: 'ﬁ ligature ① ½ ™ …  Ｈｅｌｌｏ',
    t5: [361, 3, 17140, 2693, 209, 209, 2, 357, 3, 2305, 3, 233, 8774, 1],
  },
  { text: '日本語のテキスト and ÀÉÎÕÜ çñ', t5: [3, 2, 11, 3, 2, 6759, 10997, 2, 14858, 3, 8970, 2, 1] },
];

/** `unpadded` followed by `pad` up to `length`. */
function padded(unpadded: readonly number[], length: number, pad: number): number[] {
  return [...unpadded, ...new Array<number>(length - unpadded.length).fill(pad)];
}

/** `n` space-separated copies of a word that is exactly one token in the tokenizer at hand. */
function words(word: string, n: number): string {
  return new Array<string>(n).fill(word).join(' ');
}

const dirs: string[] = [];

async function copyDir(from: string, files: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flux-text-'));
  dirs.push(dir);
  await Promise.all(files.map((f) => copyFile(join(from, f), join(dir, f))));
  return dir;
}

async function expectConfigError(promise: Promise<unknown>, mentions: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FluxServeError);
  expect((err as FluxServeError).code).toBe('FLUX_ERR_CONFIG');
  expect((err as FluxServeError).message).toContain(mentions);
}

let clip: ClipTokenizer;
let t5: T5Tokenizer;

beforeAll(async () => {
  [clip, t5] = await Promise.all([loadClipTokenizer(CLIP_DIR), loadT5Tokenizer(T5_DIR, 256)]);
});

afterAll(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('CLIP tokenizer', () => {
  it('reads its frame from the config: BOS 49406, EOS = pad = 49407, 77 ids', () => {
    expect({ maxLength: clip.maxLength, bosId: clip.bosId, eosId: clip.eosId, padId: clip.padId }).toEqual({
      maxLength: 77,
      bosId: BOS,
      eosId: EOT,
      padId: EOT,
    });
  });

  it.each(PROMPTS.map((p, i) => [i + 1, p] as const))('gives the pinned ids of sample prompt %i', (_, p) => {
    const out = clip.encode(p.text);
    expect(out.ids).toBeInstanceOf(Int32Array);
    expect(Array.from(out.ids)).toEqual(padded(p.clip, 77, EOT));
    expect(out.contentTokens).toBe(p.clip.length - 2);
    expect(out.droppedTokens).toBe(0);
  });

  it.each([74, 75, 76])('frames %i content tokens with the EOS kept inside 77', (n) => {
    const out = clip.encode(words('cat', n)); // 'cat</w>' = 2368
    const kept = Math.min(n, 75);
    expect(out.ids.length).toBe(77);
    expect(out.contentTokens).toBe(kept);
    expect(out.droppedTokens).toBe(n - kept);
    expect(out.ids[0]).toBe(BOS);
    expect(Array.from(out.ids.subarray(1, 1 + kept))).toEqual(new Array(kept).fill(2368));
    // The first 49407 is where FLUX pools: right after the content.
    expect(out.ids.indexOf(EOT)).toBe(1 + kept);
    expect(Array.from(out.ids.subarray(1 + kept))).toEqual(new Array(76 - kept).fill(EOT));
  });

  it('counts every dropped token of a long prompt', () => {
    const out = clip.encode(words('cat', 300));
    expect(out).toMatchObject({ contentTokens: 75, droppedTokens: 225 });
    expect(out.ids[76]).toBe(EOT);
  });

  it('encodes an empty or blank prompt as BOS, EOS and pads', () => {
    for (const text of ['', '   \n\t ']) {
      const out = clip.encode(text);
      expect(Array.from(out.ids)).toEqual(padded([BOS, EOT], 77, EOT));
      expect(out).toMatchObject({ contentTokens: 0, droppedTokens: 0 });
    }
  });

  it('keeps a [trigger] word as the same pieces at the start of a prompt as inside one', () => {
    const trigger = [314, 655, 275, 340, 278, 344, 316]; // '[', 'be', '4', 'u', '7', 'y', ']' (prompt 1)
    expect(Array.from(clip.encode('[be4u7y] portrait').ids.subarray(0, 10))).toEqual([
      BOS,
      ...trigger,
      5352,
      EOT,
    ]);
  });

  it('encodes non-ASCII and emoji byte-level, losslessly apart from lower-casing', () => {
    const text = 'Naïve résumé, São Paulo, Ελληνικά, 日本語 🐱🐶 ＡＢＣ';
    const out = clip.encode(text);
    expect(out.contentTokens).toBeGreaterThan(20);
    expect(out.ids).not.toContain(0);
    expect(clip.decode(out.ids)).toBe(text.toLowerCase());
    expect(Array.from(clip.encode('a 🐱 and 🐶').ids.subarray(0, 6))).toEqual([
      BOS,
      320,
      22979,
      537,
      10631,
      EOT,
    ]);
  });

  it('collapses whitespace and lower-cases', () => {
    expect(Array.from(clip.encode('  A\tCAT\n\nhOlDiNg  ').ids)).toEqual(
      Array.from(clip.encode('a cat holding').ids),
    );
  });

  it('returns a fresh array on every call', () => {
    const a = clip.encode('a cat');
    const b = clip.encode('a cat');
    expect(a.ids).not.toBe(b.ids);
    a.ids[1] = 0;
    expect(b.ids[1]).toBe(320);
  });
});

describe('T5 tokenizer', () => {
  it('has no BOS, EOS 1, pad 0, and the caller-chosen length', () => {
    expect({ maxLength: t5.maxLength, bosId: t5.bosId, eosId: t5.eosId, padId: t5.padId }).toEqual({
      maxLength: 256,
      bosId: null,
      eosId: T5_EOS,
      padId: T5_PAD,
    });
  });

  it.each(PROMPTS.map((p, i) => [i + 1, p] as const))('gives the pinned ids of sample prompt %i', (_, p) => {
    const out = t5.encode(p.text);
    expect(out.ids).toBeInstanceOf(Int32Array);
    expect(Array.from(out.ids)).toEqual(padded(p.t5, 256, T5_PAD));
    expect(out.contentTokens).toBe(p.t5.length - 1);
    expect(out.droppedTokens).toBe(0);
  });

  it.each(T5_EXTRA.map((p) => [JSON.stringify(p.text), p] as const))('gives the pinned ids of %s', (_, p) => {
    expect(Array.from(t5.encode(p.text).ids)).toEqual(padded(p.t5, 256, T5_PAD));
  });

  it.each([254, 255, 256])('frames %i content tokens with </s> kept inside 256', (n) => {
    const out = t5.encode(words('cat', n)); // '▁cat' = 1712
    const kept = Math.min(n, 255);
    expect(out.ids.length).toBe(256);
    expect(out.contentTokens).toBe(kept);
    expect(out.droppedTokens).toBe(n - kept);
    expect(Array.from(out.ids.subarray(0, kept))).toEqual(new Array(kept).fill(1712));
    expect(out.ids[kept]).toBe(T5_EOS);
    expect(Array.from(out.ids.subarray(kept + 1))).toEqual(new Array(255 - kept).fill(T5_PAD));
  });

  it('pads to 512 for dev', async () => {
    const dev = await loadT5Tokenizer(T5_DIR, 512);
    const out = dev.encode(PROMPTS[1]?.text ?? '');
    expect(Array.from(out.ids)).toEqual(padded(PROMPTS[1]?.t5 ?? [], 512, T5_PAD));
    expect(dev.encode(words('cat', 600))).toMatchObject({ contentTokens: 511, droppedTokens: 89 });
  });

  it('encodes an empty or blank prompt as </s> and pads', () => {
    for (const text of ['', '   \n\t ']) {
      const out = t5.encode(text);
      expect(Array.from(out.ids)).toEqual(padded([T5_EOS], 256, T5_PAD));
      expect(out).toMatchObject({ contentTokens: 0, droppedTokens: 0 });
    }
  });

  it('keeps a [trigger] word as the same pieces at the start of a prompt as inside one', () => {
    const trigger = [784, 346, 591, 76, 940, 63, 908]; // '▁[', 'be', '4', 'u', '7', 'y', ']' (prompt 1)
    expect(Array.from(t5.encode('[be4u7y] portrait').ids.subarray(0, 10))).toEqual([
      ...trigger,
      7956,
      T5_EOS,
      T5_PAD,
    ]);
  });

  it('maps emoji and scripts outside its vocabulary to <unk> (2), NFKC-folds full-width text', () => {
    expect(Array.from(t5.encode('a 🐱 and 🐶').ids.subarray(0, 8))).toEqual([3, 9, 3, 2, 11, 3, 2, T5_EOS]);
    expect(Array.from(t5.encode('ＡＢＣ').ids.subarray(0, 2))).toEqual([14213, T5_EOS]);
    expect(t5.decode(t5.encode('Café résumé').ids)).toBe('Café résumé');
  });
});

describe('framing', () => {
  // The library's own framing (add_special_tokens: true) is right only while nothing is cut, so we
  // ask it for content only and frame ourselves; both must agree on untruncated prompts.
  it('matches the library post-processors when nothing is truncated', async () => {
    const [clipJson, t5Json] = await Promise.all([
      readFile(join(CLIP_DIR, 'tokenizer.json'), 'utf8'),
      readFile(join(T5_DIR, 'tokenizer.json'), 'utf8'),
    ]);
    const libs: [Tokenizer, PromptTokenizer][] = [
      [new Tokenizer(JSON.parse(clipJson), {}), clip],
      [new Tokenizer(JSON.parse(t5Json), {}), t5],
    ];
    for (const [lib, ours] of libs) {
      for (const text of [...PROMPTS.map((p) => p.text), '', 'cat']) {
        const framed = lib.encode(text, { add_special_tokens: true }).ids;
        const out = ours.encode(text);
        expect(Array.from(out.ids.subarray(0, framed.length))).toEqual(framed);
        expect(out.ids.subarray(framed.length).every((id) => id === ours.padId)).toBe(true);
      }
    }
  });

  it('frames with and without BOS', () => {
    const clipFrame = { maxLength: 5, bosId: 9, eosId: 8, padId: 7 };
    expect(Array.from(framePrompt([1, 2], clipFrame).ids)).toEqual([9, 1, 2, 8, 7]);
    expect(framePrompt([1, 2, 3, 4], clipFrame)).toEqual({
      ids: Int32Array.from([9, 1, 2, 3, 8]),
      droppedTokens: 1,
      contentTokens: 3,
    });
    const t5Frame = { maxLength: 1, bosId: null, eosId: 8, padId: 7 };
    expect(framePrompt([1, 2], t5Frame)).toEqual({
      ids: Int32Array.from([8]),
      droppedTokens: 2,
      contentTokens: 0,
    });
  });

  it('rejects a length with no room for the special tokens', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expectConfigError(loadT5Tokenizer(T5_DIR, bad), 'max length');
    }
  });
});

describe('CLIP from vocab.json + merges.txt', () => {
  it('builds the same tokenizer.json as the serialized fast tokenizer', async () => {
    const [vocab, merges, config, reference] = await Promise.all(
      ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'tokenizer.json'].map((f) =>
        readFile(join(CLIP_DIR, f), 'utf8'),
      ),
    );
    const names = { bos: '<|startoftext|>', eos: '<|endoftext|>', unk: '<|endoftext|>' };
    const built = clipTokenizerJson(
      JSON.parse(vocab ?? ''),
      parseMerges(merges ?? '', 'merges.txt'),
      names,
      JSON.parse(config ?? ''),
      'vocab.json',
    );
    expect(built).toEqual(JSON.parse(reference ?? ''));
    // Without a config the defaults give the same added tokens.
    const bare = clipTokenizerJson(
      JSON.parse(vocab ?? ''),
      parseMerges(merges ?? '', 'merges.txt'),
      names,
      undefined,
      'vocab.json',
    );
    expect(bare.added_tokens).toEqual(built.added_tokens);
  });

  it('gives the same ids as tokenizer.json', async () => {
    const slow = await loadClipTokenizer(await copyDir(CLIP_DIR, CLIP_FILES));
    const texts = [...PROMPTS.map((p) => p.text), ...T5_EXTRA.map((p) => p.text), '', words('cat', 80)];
    for (const text of texts) {
      expect(slow.encode(text)).toEqual(clip.encode(text));
    }
    expect(Array.from(slow.encode(PROMPTS[0]?.text ?? '').ids)).toEqual(
      padded(PROMPTS[0]?.clip ?? [], 77, EOT),
    );
  });

  it('parses merges.txt with CRLF and without a header', () => {
    expect(parseMerges('#version: 0.2\r\ni n\r\nt h\r\n', 'm')).toEqual(['i n', 't h']);
    expect(parseMerges('i n\nt h', 'm')).toEqual(['i n', 't h']);
    expect(() => parseMerges('#version: 0.2\ni n x\n', '/x/merges.txt')).toThrow(/merges\.txt: line 2/);
  });
});

describe('tokenizer folder errors', () => {
  it('names tokenizer.json when the T5 folder lacks it', async () => {
    const dir = await copyDir(T5_DIR, ['tokenizer_config.json']);
    await expectConfigError(loadT5Tokenizer(dir, 256), join(dir, 'tokenizer.json'));
  });

  it('names vocab.json or merges.txt when the CLIP folder has neither tokenizer.json nor them', async () => {
    const noVocab = await copyDir(CLIP_DIR, ['merges.txt', 'tokenizer_config.json']);
    await expectConfigError(loadClipTokenizer(noVocab), join(noVocab, 'vocab.json'));
    const noMerges = await copyDir(CLIP_DIR, ['vocab.json', 'tokenizer_config.json']);
    await expectConfigError(loadClipTokenizer(noMerges), join(noMerges, 'merges.txt'));
  });

  it('names a file that is not JSON', async () => {
    const dir = await copyDir(T5_DIR, T5_FILES);
    await writeFile(join(dir, 'tokenizer_config.json'), '{ not json');
    await expectConfigError(loadT5Tokenizer(dir, 256), join(dir, 'tokenizer_config.json'));
    await writeFile(join(dir, 'tokenizer_config.json'), '[]');
    await expectConfigError(loadT5Tokenizer(dir, 256), 'not a JSON object');
  });

  it('names a tokenizer.json the library cannot build', async () => {
    const dir = await copyDir(T5_DIR, []);
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'Nope' } }));
    await expectConfigError(loadT5Tokenizer(dir, 256), join(dir, 'tokenizer.json'));
  });

  it('rejects a special token missing from the vocabulary', async () => {
    const dir = await copyDir(T5_DIR, ['tokenizer.json']);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<nope>' }));
    await expectConfigError(loadT5Tokenizer(dir, 256), '"<nope>"');
  });
});

describe('tokenizer configs', () => {
  it('default to the usual special tokens when only tokenizer.json is there', async () => {
    const t5Bare = await loadT5Tokenizer(await copyDir(T5_DIR, ['tokenizer.json']), 256);
    expect(t5Bare.encode(PROMPTS[1]?.text ?? '')).toEqual(t5.encode(PROMPTS[1]?.text ?? ''));
    const clipBare = await loadClipTokenizer(await copyDir(CLIP_DIR, ['vocab.json', 'merges.txt']));
    expect(clipBare.encode(PROMPTS[2]?.text ?? '')).toEqual(clip.encode(PROMPTS[2]?.text ?? ''));
  });

  it('take model_max_length and the pad token from tokenizer_config.json', async () => {
    const dir = await copyDir(CLIP_DIR, ['tokenizer.json', 'special_tokens_map.json']);
    const config = JSON.parse(await readFile(join(CLIP_DIR, 'tokenizer_config.json'), 'utf8'));
    await writeFile(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ ...config, model_max_length: 8, pad_token: { content: '!' } }),
    );
    const short = await loadClipTokenizer(dir);
    expect(short.encode('a cat holding a sign that says')).toEqual({
      ids: Int32Array.from([BOS, 320, 2368, 5050, 320, 2292, 682, EOT]),
      droppedTokens: 1,
      contentTokens: 6,
    });
    expect(Array.from(short.encode('a').ids)).toEqual([BOS, 320, EOT, 0, 0, 0, 0, 0]); // '!' = 0
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1e30 }));
    expect((await loadClipTokenizer(dir)).maxLength).toBe(77);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 'long' }));
    await expectConfigError(loadClipTokenizer(dir), 'model_max_length');
  });
});
