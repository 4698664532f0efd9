import { describe, expect, it } from 'vitest';
import {
  LORA_LIMITS,
  parseSubmitBody,
  SUBMIT_ORDER,
  SUBMIT_SCHEMA,
  URL_MAX_CHARS,
} from '../../src/api/submit-schema.js';
import { FluxServeError } from '../../src/errors.js';
import { LIMITS } from '../../src/pipeline/generation-request.js';

/** The 400 message parseSubmitBody throws for a body (the prompt is filled in). */
function rejects(extra: Record<string, unknown>): string {
  try {
    parseSubmitBody({ prompt: 'a cat', ...extra });
  } catch (err) {
    expect(err).toBeInstanceOf(FluxServeError);
    expect((err as FluxServeError).statusCode).toBe(400);
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(extra)}`);
}

describe('submit schema', () => {
  it('lists every field in the hosted order with defaults and ranges from LIMITS', () => {
    expect(SUBMIT_SCHEMA['x-order-properties']).toEqual([...SUBMIT_ORDER]);
    expect(Object.keys(SUBMIT_SCHEMA.properties)).toEqual([...SUBMIT_ORDER]);
    expect(SUBMIT_SCHEMA.additionalProperties).toBe(true);
    expect(SUBMIT_SCHEMA.required).toEqual(['prompt']);
    const p = SUBMIT_SCHEMA.properties;
    expect(p.size.default).toBe('1024*1024');
    expect(p.seed).toMatchObject({ type: 'integer', default: -1, minimum: -1, maximum: 9_999_999_999 });
    expect(p.num_inference_steps).toMatchObject({ default: 4, minimum: LIMITS.steps.min, maximum: 8 });
    expect(p.strength).toMatchObject({ default: 0.8, minimum: 0, maximum: 1 });
    expect(p.guidance_scale).toMatchObject({ default: 3.5, minimum: 0, maximum: 10 });
    expect(p.num_images).toMatchObject({ type: 'integer', default: 1, minimum: 1, maximum: 4 });
    expect(p.output_format).toMatchObject({ default: 'jpeg', enum: ['jpeg', 'png', 'webp'] });
    expect(p.loras.maxItems).toBe(5);
    expect(p.loras.items.properties.scale).toMatchObject({ minimum: 0, maximum: 4 });
    expect(p.enable_safety_checker.default).toBe(true);
    expect(p.enable_base64_output.default).toBe(false);
    expect(p.enable_sync_mode.default).toBe(false);
  });
});

describe('parseSubmitBody defaults', () => {
  it('fills every default from a prompt-only body', () => {
    expect(parseSubmitBody({ prompt: 'a cat' })).toEqual({
      request: {
        prompt: 'a cat',
        width: 1024,
        height: 1024,
        steps: 4,
        seed: -1,
        numImages: 1,
        guidanceScale: 3.5,
        strength: 0.8,
        outputFormat: 'jpeg',
      },
      loras: [],
      enableBase64Output: false,
      enableSafetyChecker: true,
      enableSyncMode: false,
    });
  });

  it('takes every given field and ignores unknown ones', () => {
    const parsed = parseSubmitBody({
      prompt: 'a dog',
      image: 'https://example.com/a.png',
      mask_image: 'data:image/png;base64,iVBORw0KGgo=',
      strength: 0.5,
      loras: [{ path: 'owner/repo', scale: 0.7 }, { path: 'style.safetensors' }],
      size: '768*512',
      num_inference_steps: 8,
      guidance_scale: 0,
      num_images: 4,
      seed: 9_999_999_999,
      output_format: 'webp',
      enable_base64_output: true,
      enable_safety_checker: false,
      enable_sync_mode: true,
      something_new: 42,
    });
    expect(parsed.request).toEqual({
      prompt: 'a dog',
      width: 768,
      height: 512,
      steps: 8,
      seed: 9_999_999_999,
      numImages: 4,
      guidanceScale: 0,
      strength: 0.5,
      image: 'https://example.com/a.png',
      maskImage: 'data:image/png;base64,iVBORw0KGgo=',
      outputFormat: 'webp',
      loras: [
        { path: 'owner/repo', scale: 0.7 },
        { path: 'style.safetensors', scale: 1 },
      ],
    });
    expect(parsed.loras).toEqual([
      { path: 'owner/repo', scale: 0.7 },
      { path: 'style.safetensors', scale: 1 },
    ]);
    expect(parsed).toMatchObject({
      enableBase64Output: true,
      enableSafetyChecker: false,
      enableSyncMode: true,
    });
  });

  it('treats null and "" images as absent', () => {
    const { request } = parseSubmitBody({ prompt: 'x', image: '', mask_image: null, seed: null });
    expect(request.image).toBeUndefined();
    expect(request.maskImage).toBeUndefined();
    expect(request.seed).toBe(-1);
  });
});

describe('parseSubmitBody rules', () => {
  it('body must be an object', () => {
    expect(() => parseSubmitBody([])).toThrow('body: expected a JSON object, got an array');
    expect(() => parseSubmitBody('x')).toThrow(/^body: /);
  });

  it('prompt: required, a string, not blank', () => {
    expect(() => parseSubmitBody({})).toThrow('prompt: is required');
    expect(rejects({ prompt: 5 })).toBe('prompt: expected a string, got number 5');
    expect(rejects({ prompt: '   ' })).toBe('prompt: must not be empty');
  });

  it('image: a string; mask_image: a string that requires image', () => {
    expect(rejects({ image: 1 })).toMatch(/^image: expected a string/);
    expect(rejects({ mask_image: {} })).toBe('mask_image: expected a string, got an object');
    expect(rejects({ mask_image: 'https://example.com/m.png' })).toBe('mask_image: requires image');
  });

  it('strength: 0–1 number', () => {
    expect(rejects({ strength: -0.1 })).toMatch(/^strength: -0.1 is not a number in 0–1/);
    expect(rejects({ strength: 1.01 })).toMatch(/^strength: 1.01 /);
    expect(rejects({ strength: '0.5' })).toBe('strength: expected a number, got string "0.5"');
  });

  it('size: W*H, x or X, each side 256–1536', () => {
    expect(parseSubmitBody({ prompt: 'x', size: '512x768' }).request).toMatchObject({
      width: 512,
      height: 768,
    });
    expect(parseSubmitBody({ prompt: 'x', size: '1536X256' }).request).toMatchObject({
      width: 1536,
      height: 256,
    });
    expect(parseSubmitBody({ prompt: 'x', size: ' 640 * 480 ' }).request).toMatchObject({ width: 640 });
    expect(rejects({ size: '2000*1024' })).toBe('size: width 2000 is above the maximum 1536');
    expect(rejects({ size: '1024*255' })).toBe('size: height 255 is below the minimum 256');
    expect(rejects({ size: '1024' })).toMatch(/^size: expected "W\*H"/);
    expect(rejects({ size: '10.5*1024' })).toMatch(/^size: /);
    expect(rejects({ size: 1024 })).toBe('size: expected a string, got number 1024');
  });

  it('num_inference_steps: integer 1–8', () => {
    expect(rejects({ num_inference_steps: 0 })).toMatch(/^num_inference_steps: 0 is not an integer in 1–8/);
    expect(rejects({ num_inference_steps: 9 })).toMatch(/^num_inference_steps: 9 /);
    expect(rejects({ num_inference_steps: 2.5 })).toMatch(/^num_inference_steps: 2.5 is not an integer/);
    expect(rejects({ num_inference_steps: '4' })).toMatch(/^num_inference_steps: expected a number/);
  });

  it('guidance_scale: 0–10 number', () => {
    expect(rejects({ guidance_scale: -1 })).toMatch(/^guidance_scale: -1 is not a number in 0–10/);
    expect(rejects({ guidance_scale: 10.5 })).toMatch(/^guidance_scale: 10.5 /);
    expect(rejects({ guidance_scale: true })).toBe('guidance_scale: expected a number, got boolean true');
  });

  it('num_images: integer 1–4', () => {
    expect(rejects({ num_images: 0 })).toMatch(/^num_images: 0 is not an integer in 1–4/);
    expect(rejects({ num_images: 5 })).toMatch(/^num_images: 5 /);
    expect(rejects({ num_images: [1] })).toBe('num_images: expected a number, got an array');
  });

  it('seed: -1 or an integer up to 9999999999', () => {
    expect(parseSubmitBody({ prompt: 'x', seed: 2 ** 31 + 5 }).request.seed).toBe(2 ** 31 + 5);
    expect(parseSubmitBody({ prompt: 'x', seed: 0 }).request.seed).toBe(0);
    expect(rejects({ seed: -2 })).toMatch(/^seed: -2 is not an integer in -1–9999999999/);
    expect(rejects({ seed: 10_000_000_000 })).toMatch(/^seed: 10000000000 /);
    expect(rejects({ seed: 1.5 })).toMatch(/^seed: 1.5 is not an integer/);
    expect(rejects({ seed: '42' })).toMatch(/^seed: expected a number/);
  });

  it('output_format: jpeg, png or webp', () => {
    expect(parseSubmitBody({ prompt: 'x', output_format: 'png' }).request.outputFormat).toBe('png');
    expect(rejects({ output_format: 'gif' })).toBe(
      'output_format: expected one of jpeg, png, webp, got "gif"',
    );
    expect(rejects({ output_format: 1 })).toMatch(/^output_format: expected a string/);
  });

  it('the enable_* flags are booleans', () => {
    expect(rejects({ enable_base64_output: 'true' })).toMatch(/^enable_base64_output: expected a boolean/);
    expect(rejects({ enable_safety_checker: 0 })).toMatch(/^enable_safety_checker: expected a boolean/);
    expect(rejects({ enable_sync_mode: 1 })).toMatch(/^enable_sync_mode: expected a boolean/);
  });

  it('loras: at most 5, or the configured limit', () => {
    const lora = { path: 'owner/repo', scale: 1 };
    expect(
      parseSubmitBody({ prompt: 'x', loras: Array(LORA_LIMITS.maxCount).fill(lora) }).loras,
    ).toHaveLength(5);
    expect(rejects({ loras: Array(6).fill(lora) })).toBe('loras: at most 5 LoRAs, got 6');
    expect(() => parseSubmitBody({ prompt: 'x', loras: [lora, lora] }, { maxLoras: 1 })).toThrow(
      'loras: at most 1 LoRAs, got 2',
    );
    expect(rejects({ loras: { path: 'a/b' } })).toMatch(/^loras: expected an array/);
    expect(rejects({ loras: ['a/b'] })).toMatch(/^loras\[0\]: expected an object/);
  });

  it('loras[i].path: a non-empty string', () => {
    expect(rejects({ loras: [{ path: 'a/b' }, { path: '  ' }] })).toBe('loras[1].path: must not be empty');
    expect(rejects({ loras: [{ scale: 1 }] })).toBe('loras[0].path: expected a string, got nothing');
  });

  it('loras[i].scale: 0–4 number', () => {
    expect(parseSubmitBody({ prompt: 'x', loras: [{ path: 'a/b', scale: 4 }] }).loras[0]?.scale).toBe(4);
    expect(parseSubmitBody({ prompt: 'x', loras: [{ path: 'a/b', scale: 0 }] }).loras[0]?.scale).toBe(0);
    expect(rejects({ loras: [{ path: 'a/b', scale: -0.5 }] })).toBe(
      'loras[0].scale: -0.5 is not a number in 0–4',
    );
    expect(rejects({ loras: [{ path: 'a/b', scale: 4.5 }] })).toBe(
      'loras[0].scale: 4.5 is not a number in 0–4',
    );
    expect(rejects({ loras: [{ path: 'a/b', scale: '1' }] })).toBe(
      'loras[0].scale: expected a number, got string "1"',
    );
  });

  it('prompt: at most 10,000 characters, or the configured limit', () => {
    expect(parseSubmitBody({ prompt: 'a'.repeat(10_000) }).request.prompt).toHaveLength(10_000);
    expect(rejects({ prompt: 'a'.repeat(10_001) })).toBe(
      'prompt: 10001 characters, above the limit of 10000',
    );
    expect(() => parseSubmitBody({ prompt: 'abcd' }, { maxPromptChars: 3 })).toThrow(
      'prompt: 4 characters, above the limit of 3',
    );
  });

  it('body: nested at most 64 levels deep, however the nesting is built', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 63; i++) deep = i % 2 ? [deep] : { a: deep };
    expect(parseSubmitBody({ prompt: 'x', extra: deep }).request.prompt).toBe('x');
    const tooDeep = JSON.parse(`{"prompt":"x","extra":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    expect(() => parseSubmitBody(tooDeep)).toThrow(
      'body: nested deeper than 64 levels of arrays and objects',
    );
  });

  it('inline images are checked at submit (form, base64, size, magic bytes); URLs here only for their form', () => {
    expect(rejects({ image: 'data:image/gif;base64,R0lGOD' })).toMatch(
      /^image: data URIs must be data:image\/png/,
    );
    expect(rejects({ image: 'data:image/png;base64,' })).toBe('image: the data URI holds no image data');
    expect(rejects({ image: 'iVBORw0KGgo', mask_image: 'A' })).toMatch(
      /^mask_image: the base64 text is truncated/,
    );
    expect(rejects({ image: 'ftp://example.com/a.png' })).toMatch(/^image: unsupported URL scheme "ftp:"/);
    expect(parseSubmitBody({ prompt: 'x', image: ' iVBO\r\nRw0KGgo= ' }).request.image).toBe(
      'iVBO\r\nRw0KGgo=',
    );
    // The bytes must be an image the worker decodes, whatever a data URI declares.
    expect(rejects({ image: Buffer.from('hello, world').toString('base64') })).toBe(
      'image: unsupported image format (unknown); allowed formats are PNG, JPEG and WebP',
    );
    const gif = `data:image/png;base64,${Buffer.from('GIF89a;').toString('base64')}`;
    expect(rejects({ image: 'https://example.com/a.png', mask_image: gif })).toBe(
      'mask_image: unsupported image format (GIF); allowed formats are PNG, JPEG and WebP',
    );
    expect(parseSubmitBody({ prompt: 'x', image: 'http://10.0.0.1/a.png' }).request.image).toBe(
      'http://10.0.0.1/a.png',
    );
    expect(() => parseSubmitBody({ prompt: 'x', image: 'AAAAAAAA' }, { maxImageBytes: 5 })).toThrow(
      'image: the image is 6 bytes, above the limit of 5 bytes',
    );
  });

  it('URLs and LoRA paths: at most 8192 characters, or the configured limit; data URIs have the byte limit', () => {
    const url = (n: number) => `https://example.com/${'a'.repeat(n - 20)}`;
    expect(url(URL_MAX_CHARS)).toHaveLength(URL_MAX_CHARS);
    expect(parseSubmitBody({ prompt: 'x', image: url(URL_MAX_CHARS) }).request.image).toBe(
      url(URL_MAX_CHARS),
    );
    expect(rejects({ image: url(URL_MAX_CHARS + 1) })).toBe(
      `image: ${URL_MAX_CHARS + 1} characters, above the limit of ${URL_MAX_CHARS} for a URL`,
    );
    const small = { maxUrlChars: 50 };
    expect(() =>
      parseSubmitBody({ prompt: 'x', image: 'https://example.com/i', mask_image: url(51) }, small),
    ).toThrow('mask_image: 51 characters, above the limit of 50 for a URL');
    expect(() =>
      parseSubmitBody({ prompt: 'x', loras: [{ path: 'a/b' }, { path: url(51) }] }, small),
    ).toThrow('loras[1].path: 51 characters, above the limit of 50 for a URL');
    expect(() => parseSubmitBody({ prompt: 'x', loras: [{ path: `o/r/${'f'.repeat(60)}` }] }, small)).toThrow(
      /^loras\[0\]\.path: 64 characters, above the limit of 50/,
    );
    // An inline image is no URL: 100 characters of base64 pass a 50-character URL limit.
    const b64 = `iVBORw0KGgo${'A'.repeat(89)}`;
    expect(
      parseSubmitBody({ prompt: 'x', image: `data:image/png;base64,${b64}` }, small).request.image,
    ).toMatch(/^data:/);
  });
});
