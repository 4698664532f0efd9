/**
 * parseImageInput on real PNG/JPEG/WebP bytes: the three contract forms, and every refusal naming
 * the field.
 */
import { describe, expect, it } from 'vitest';
import { FluxServeError } from '../../src/errors.js';
import { MAX_IMAGE_BYTES, parseImageInput } from '../../src/image/image-input.js';
import { fromRaw, pattern } from './fixtures.js';

const bytesOf = (input: ReturnType<typeof parseImageInput>) => {
  if (input.kind !== 'bytes') throw new Error(`expected bytes, got ${input.kind}`);
  return input.bytes;
};

describe('parseImageInput', () => {
  it('returns http(s) URLs for the caller to fetch', () => {
    expect(parseImageInput('image', 'https://example.com/a.png?x=1')).toEqual({
      kind: 'url',
      url: 'https://example.com/a.png?x=1',
    });
    expect(parseImageInput('image', '  HTTP://example.com/a.png\n')).toEqual({
      kind: 'url',
      url: 'HTTP://example.com/a.png',
    });
  });

  it.each(['png', 'jpeg', 'webp'] as const)('decodes a data URI of a real %s exactly', async (format) => {
    const image = await fromRaw(8, 8, 3, pattern).toFormat(format).toBuffer();
    const uri = `data:image/${format};base64,${image.toString('base64')}`;
    expect(bytesOf(parseImageInput('image', uri)).equals(image)).toBe(true);
  });

  it('accepts image/jpg, parameters, upper case and MIME line breaks in data URIs', async () => {
    const jpeg = await fromRaw(16, 16, 3, pattern).jpeg().toBuffer();
    const wrapped = jpeg.toString('base64').replace(/.{76}/g, '$&\r\n');
    expect(wrapped).toContain('\r\n');
    for (const uri of [
      `data:image/jpg;base64,${wrapped}`,
      `DATA:IMAGE/JPEG;name=photo.jpg;base64,${wrapped}`,
    ]) {
      expect(bytesOf(parseImageInput('image', uri)).equals(jpeg)).toBe(true);
    }
  });

  it('decodes bare base64, padded or not, standard or URL-safe', async () => {
    const png = await fromRaw(5, 3, 3, pattern).png().toBuffer();
    const b64 = png.toString('base64');
    expect(bytesOf(parseImageInput('image', b64)).equals(png)).toBe(true);
    expect(bytesOf(parseImageInput('image', b64.replace(/=+$/, ''))).equals(png)).toBe(true);
    expect(bytesOf(parseImageInput('image', png.toString('base64url'))).equals(png)).toBe(true);
  });

  it.each([
    ['', /^image: is empty$/],
    ['   ', /^image: is empty$/],
    [
      'not base64 !!',
      /^image: expected an http\(s\) URL, a data URI or base64 image data; .* "!" at offset 9$/,
    ],
    ['iVBORw0KGgo%3D', /^image: .*invalid character "%" at offset 11$/],
    ['QUJDR', /^image: the base64 text is truncated/],
    ['QUI=Q', /invalid character "="/],
    ['QQ=', /^image: the base64 text is truncated/],
    [
      'data:text/plain;base64,aGVsbG8=',
      /^image: data URIs must be data:image\/png, image\/jpeg or image\/webp/,
    ],
    ['data:image/gif;base64,R0lGODlh', /^image: data URIs must be/],
    ['data:image/png,%89PNG', /^image: data URIs must be .* with ;base64/],
    ['data:image/png;base64,', /^image: the data URI holds no image data$/],
    ['ftp://example.com/a.png', /^image: unsupported URL scheme "ftp:"/],
    ['file:///etc/passwd', /^image: unsupported URL scheme "file:"/],
    ['http://', /^image: "http:\/\/" is not a valid URL$/],
  ])('refuses %j with a 400 naming the field', (value, message) => {
    let err: unknown;
    try {
      parseImageInput('image', value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FluxServeError);
    expect((err as FluxServeError).statusCode).toBe(400);
    expect((err as FluxServeError).message).toMatch(message);
  });

  it('applies the byte limit to the decoded size, before decoding', () => {
    expect(MAX_IMAGE_BYTES).toBe(20 * 1024 * 1024);
    // 1000 characters decode to exactly 750 bytes.
    expect(bytesOf(parseImageInput('mask_image', 'A'.repeat(1000), 750))).toHaveLength(750);
    expect(() => parseImageInput('mask_image', 'A'.repeat(1004), 750)).toThrow(
      /^mask_image: the image is 753 bytes, above the limit of 750 bytes$/,
    );
    expect(() => parseImageInput('mask_image', `data:image/png;base64,${'A'.repeat(1004)}`, 750)).toThrow(
      /above the limit of 750 bytes/,
    );
  });

  it('refuses an inline image over the default 20 MiB limit', () => {
    const justOver = 'A'.repeat(Math.ceil(((MAX_IMAGE_BYTES + 1) * 4) / 3 / 4) * 4);
    expect(() => parseImageInput('image', justOver)).toThrow(/above the limit of 20971520 bytes/);
  });
});
