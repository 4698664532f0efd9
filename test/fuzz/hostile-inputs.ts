/**
 * Test support for the fuzz suite: generators of hostile request bodies (fast-check arbitraries that
 * produce JSON *text*, so values JSON.stringify cannot write — NaN, 1e400, 2^64, deep nesting — are
 * sent too) and hostile files (images, LoRAs) made here, never fetched.
 */
import * as fc from 'fast-check';
import sharp from 'sharp';
import { SUBMIT_ORDER } from '../../src/api/submit-schema.js';

/** Value texts that are not what JSON.stringify would write, or are the wrong type in disguise. */
const RAW_VALUES = [
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '0',
  '-1',
  '1e400',
  '-1e400',
  '1e-400',
  '9007199254740993',
  '18446744073709551616',
  '9999999999',
  '10000000000',
  '-2',
  '0x10',
  '1_0',
  '.5',
  '+1',
  '01',
  'true',
  'false',
  'null',
  '"5"',
  '"1e3"',
  '"NaN"',
  '"-0"',
  '[]',
  '{}',
  '""',
  '"   "',
  '[1024,1024]',
  '{"path":"x"}',
  '[{"path":"a","scale":"1"}]',
  '[{"path":"","scale":1}]',
  '[{"scale":1}]',
  '[null,null,null,null,null,null]',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udfff\\ud800"',
];

/** Strings a careless parser trips on: controls, lone surrogates, bidi, combining marks, formats. */
const HOSTILE_STRINGS = [
  '\u0000',
  '\ud800',
  '\udfff',
  '\u202e\u2066',
  '\ufeff',
  'e\u0301\u0301\u0301',
  '👩‍👩‍👧‍👦',
  '\u200b',
  ' '.repeat(1000),
  `${'9'.repeat(400)}*1024`,
  '1024*1024\n',
  '256x256',
  '256X256',
  '-256*256',
  '1536*1537',
  '255*256',
  '0*0',
  '256*256*256',
  '２５６*256',
  '../../../etc/passwd',
  '%2e%2e%2f',
  'data:image/png;base64,',
  'data:image/gif;base64,R0lGODlhAQABAAAAACw=',
  'data:text/html;base64,PGh0bWw+',
  'data:image/png,notbase64',
  'data:;base64,AAAA',
  'DATA:IMAGE/PNG;BASE64,iVBORw0KGgo=',
  'iVBORw0KGgo',
  'AAAA====',
  '====',
  'A',
  'http://169.254.169.254/latest/meta-data/',
  'http://[::1]/x.png',
  'http://user:pass@example.com/x.png',
  'http://0x7f000001/x.png',
  'file:///etc/passwd',
  'javascript:alert(1)',
  'ftp://example.com/x.png',
  'gopher://127.0.0.1:6379/_',
  'http://',
  'https://:0/',
  'owner/repo',
  'a/b/c/d/e.safetensors',
  '/etc/passwd',
  'C:\\Windows\\win.ini',
  'jpeg ',
  'JPEG',
  'gif',
  'a'.repeat(10_001),
];

/**
 * Field names the bodies use. Not `enable_sync_mode`: a valid body with it holds the request for a
 * whole 1024² render by design (the API tests cover sync mode), which is not what this suite measures.
 */
const FIELDS = [
  ...SUBMIT_ORDER.filter((f) => f !== 'enable_sync_mode'),
  '__proto__',
  'constructor',
  'prototype',
  'PROMPT',
  'prompt ',
  '',
  'extra',
];

const stringValue = fc.oneof(
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 20 }),
);

/** Nested arrays or objects `depth` levels deep, as text (JSON.stringify would overflow its stack first). */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const valueText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...RAW_VALUES) },
  { weight: 4, arbitrary: stringValue.map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  {
    weight: 2,
    arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map(String),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(deepJson(2000, 'array'), deepJson(2000, 'object'), deepJson(20, 'object')),
  },
);

/** A plausible prompt most of the time, so that some bodies get past it to the other fields. */
const promptText = fc.oneof(
  { weight: 3, arbitrary: fc.constant('"a lighthouse"') },
  { weight: 3, arbitrary: valueText },
);

/** Whole bodies that are not an object, or not JSON. */
const RAW_BODIES = [
  '',
  'null',
  '[]',
  '"prompt"',
  '1',
  '{',
  '}',
  '{"prompt":}',
  '{"prompt":"a",}',
  "{'prompt':'a'}",
  '{"prompt":"a"}{"prompt":"b"}',
  '\ufeff{"prompt":"a"}',
  deepJson(100_000, 'array'),
  deepJson(100_000, 'object'),
  `{"prompt":"a","extra":${deepJson(100_000, 'array')}}`,
  `{"prompt":"a","extra":${deepJson(100_000, 'object')}}`,
  '{"prompt":"a","__proto__":{"num_images":4}}',
  '{"prompt":"a","constructor":{"prototype":{"x":1}}}',
];

/**
 * JSON-ish text of a submit body: an object of known and odd field names with hostile values, or
 * one of the raw bodies above.
 */
export const hostileBody: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .tuple(
        promptText,
        fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELDS), valueText), {
          maxLength: 6,
          selector: ([k]) => k,
        }),
      )
      .map(([prompt, entries]) => {
        const parts = [
          `"prompt":${prompt}`,
          ...entries.filter(([k]) => k !== 'prompt').map(([k, v]) => `${JSON.stringify(k)}:${v}`),
        ];
        return `{${parts.join(',')}}`;
      }),
  },
  { weight: 1, arbitrary: fc.constantFrom(...RAW_BODIES) },
);

const png = (w: number, h: number, channels: 3 | 4 = 3) =>
  sharp({ create: { width: w, height: h, channels, background: { r: 40, g: 120, b: 200, alpha: 0.5 } } });

/** CRC-32 of PNG chunks (the table-less bitwise form: fine for a handful of small chunks). */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG of signature + IHDR claiming width×height, then a tiny IDAT and IEND: a header-only bomb. */
export function claimedSizePng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export interface HostileImage {
  readonly name: string;
  readonly bytes: Buffer;
}

/**
 * Image files every decoder meets sooner or later. `pixelLimit` is the server's configured limit,
 * so that a real (not header-only) decompression bomb stays cheap to make here.
 */
export async function hostileImages(pixelLimit: number): Promise<HostileImage[]> {
  const good = await png(64, 48).png().toBuffer();
  const side = Math.ceil(Math.sqrt(pixelLimit)) + 8;
  const gifFrame = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
  return [
    { name: 'valid PNG', bytes: good },
    { name: 'truncated PNG', bytes: good.subarray(0, Math.floor(good.length / 2)) },
    { name: 'PNG magic then noise', bytes: Buffer.concat([good.subarray(0, 8), Buffer.alloc(200, 0xa5)]) },
    { name: 'JPEG magic only', bytes: Buffer.from([0xff, 0xd8, 0xff]) },
    { name: 'RIFF WEBP header only', bytes: Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1') },
    { name: 'empty', bytes: Buffer.alloc(0) },
    { name: 'one byte', bytes: Buffer.from([0x89]) },
    { name: 'GIF (animated-capable)', bytes: gifFrame },
    { name: 'BMP', bytes: Buffer.concat([Buffer.from('BM', 'latin1'), Buffer.alloc(60)]) },
    {
      name: 'SVG',
      bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>'),
    },
    { name: 'text', bytes: Buffer.from('hello, this is not an image') },
    { name: 'PNG claiming 60000×60000', bytes: claimedSizePng(60_000, 60_000) },
    { name: 'PNG claiming 2^31−1 × 1', bytes: claimedSizePng(0x7fffffff, 1) },
    { name: 'PNG claiming 0×0', bytes: claimedSizePng(0, 0) },
    {
      name: `real PNG bomb ${side}² (above the pixel limit)`,
      bytes: await png(side, side).png({ compressionLevel: 9 }).toBuffer(),
    },
    { name: '16-bit PNG', bytes: await png(40, 30).toColourspace('rgb16').png().toBuffer() },
    { name: 'CMYK JPEG', bytes: await png(40, 30).toColourspace('cmyk').jpeg().toBuffer() },
    { name: 'grey + alpha PNG', bytes: await png(40, 30, 4).toColourspace('b-w').png().toBuffer() },
    { name: '1×1 WebP', bytes: await png(1, 1).webp().toBuffer() },
    { name: '4000×1 JPEG', bytes: await png(4000, 1).jpeg().toBuffer() },
  ];
}

/** A valid PNG with random bytes overwritten: most no longer decode, some still do. */
export function mutatedPng(good: Buffer): fc.Arbitrary<Buffer> {
  return fc
    .array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    })
    .chain((flips) =>
      fc.oneof(
        fc.constant(flips),
        fc.nat({ max: good.length }).map((cut) => [...flips, [-cut, 0] as [number, number]]),
      ),
    )
    .map((edits) => {
      let out = Buffer.from(good);
      for (const [at, value] of edits) {
        if (at < 0) out = out.subarray(0, good.length + at);
        else if (at < out.length) out[at] = value;
      }
      return out;
    });
}

/** safetensors bytes: an 8-byte little-endian header length (as claimed), the header text, data. */
export function safetensorsBytes(
  claimedHeaderLength: bigint,
  header: string,
  data: Uint8Array = new Uint8Array(0),
): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(claimedHeaderLength);
  return Buffer.concat([head, Buffer.from(header, 'utf8'), data]);
}

/** LoRA files no loader should trust. */
export function hostileLoras(): { name: string; bytes: Buffer }[] {
  const header = (h: object) => JSON.stringify(h);
  const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
  const ok = (h: string, data: Uint8Array) => safetensorsBytes(BigInt(Buffer.byteLength(h)), h, data);
  return [
    { name: 'empty.safetensors', bytes: Buffer.alloc(0) },
    { name: 'short.safetensors', bytes: Buffer.from([1, 2, 3]) },
    { name: 'giant-header.safetensors', bytes: safetensorsBytes(0xffffffffffffffffn, '{}') },
    { name: 'header-past-end.safetensors', bytes: safetensorsBytes(1_000_000n, '{"a":') },
    { name: 'header-100MiB.safetensors', bytes: safetensorsBytes(100n * 1024n * 1024n, '{') },
    { name: 'not-json.safetensors', bytes: ok('{not json}', new Uint8Array(0)) },
    { name: 'array-header.safetensors', bytes: ok('[1,2,3]', new Uint8Array(0)) },
    { name: 'bad-utf8.safetensors', bytes: safetensorsBytes(4n, '', Buffer.from([0xff, 0xfe, 0xfd, 0xfc])) },
    {
      name: 'offsets-past-end.safetensors',
      bytes: ok(
        header({
          'lora_unet_x.lora_down.weight': { dtype: 'F32', shape: [4, 4], data_offsets: [0, 1 << 30] },
        }),
        f32([1]),
      ),
    },
    {
      name: 'huge-shape.safetensors',
      bytes: ok(
        header({ w: { dtype: 'F32', shape: [2 ** 31, 2 ** 31, 2 ** 31], data_offsets: [0, 4] } }),
        f32([1]),
      ),
    },
    {
      name: 'no-flux-keys.safetensors',
      bytes: ok(
        header({ 'text_encoder.x.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }),
        f32([1]),
      ),
    },
    {
      name: 'nan-wrong-shape.safetensors',
      bytes: ok(
        header({
          'transformer.single_transformer_blocks.0.proj_out.lora_A.weight': {
            dtype: 'F32',
            shape: [1, 3],
            data_offsets: [0, 12],
          },
          'transformer.single_transformer_blocks.0.proj_out.lora_B.weight': {
            dtype: 'F32',
            shape: [5, 1],
            data_offsets: [12, 32],
          },
        }),
        f32([Number.NaN, Number.POSITIVE_INFINITY, 1, Number.NaN, 2, 3, 4, 5]),
      ),
    },
  ];
}
