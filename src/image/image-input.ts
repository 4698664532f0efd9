/**
 * @module image/image-input
 * The three forms an image field (`image`, `mask_image`) takes in the hosted contract (api.md): an
 * http(s) URL, a `data:image/…;base64,` URI or bare base64. URLs are only recognised here and
 * fetched by the caller (which applies the private-network and size rules); inline forms are
 * decoded here. The base64 alphabet is validated first because `Buffer.from(s, 'base64')` silently
 * skips characters it does not know, turning garbage into plausible-looking bytes; the decoded size
 * is computed from the text and checked before anything is allocated.
 */
import { errors } from '../errors.js';

/** Default limit on the decoded bytes of one inline image (20 MiB; downloads should use the same). */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/**
 * The name of an image uploaded to this server (`/media/<name>`): 32 random hex digits and nothing
 * else, so a name from a URL can never leave the upload folder.
 */
export const UPLOAD_NAME = /^[0-9a-f]{32}$/;

/** A parsed image field: a URL for the caller to fetch, or the decoded bytes of an inline image. */
export type ImageInput =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'bytes'; readonly bytes: Buffer };

// `image/jpg` is not a registered type but clients send it; parameters (`;name=a.png`) may precede `;base64`.
const DATA_URI = /^data:image\/(png|jpeg|jpg|webp)(;[\w.+-]+=[^;,]*)*;base64,/i;
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
// Standard and URL-safe alphabets (Node decodes both); `=` only as trailing padding.
const INVALID_BASE64_CHAR = /[^A-Za-z0-9+/_-]/;
const WHITESPACE = /[\t\n\f\r ]/;

function tooLarge(field: string, bytes: number, maxBytes: number) {
  return errors.USAGE(`${field}: the image is ${bytes} bytes, above the limit of ${maxBytes} bytes`);
}

function decodeBase64(field: string, text: string, form: string, maxBytes: number): Buffer {
  // MIME encoders wrap lines; whitespace carries no data.
  const b64 = WHITESPACE.test(text) ? text.replace(/[\t\n\f\r ]+/g, '') : text;
  const body = b64.replace(/={1,2}$/, '');
  const bad = INVALID_BASE64_CHAR.exec(body);
  if (bad) {
    throw errors.USAGE(
      `${field}: expected an http(s) URL, a data URI or base64 image data; ${form} has invalid character ` +
        `${JSON.stringify(bad[0])} at offset ${bad.index}`,
    );
  }
  if (body.length === 0) throw errors.USAGE(`${field}: ${form} holds no image data`);
  // A lone trailing character carries < 8 bits; padding must complete a 4-character group.
  if (body.length % 4 === 1 || (body.length !== b64.length && b64.length % 4 !== 0)) {
    throw errors.USAGE(
      `${field}: ${form} is truncated (${b64.length} characters is not a whole base64 group)`,
    );
  }
  const size = Math.floor((body.length * 3) / 4);
  if (size > maxBytes) throw tooLarge(field, size, maxBytes);
  return Buffer.from(body, 'base64');
}

/**
 * Classifies and decodes one image field. `field` names the request field in every error
 * (FLUX_ERR_USAGE, HTTP 400). A data URI's declared type is not trusted: the decoder sniffs the
 * bytes. `maxBytes` bounds the decoded size of inline images; URLs are returned unchecked apart
 * from their syntax, so the fetcher must apply the same limit.
 *
 * @throws FluxServeError FLUX_ERR_USAGE for an empty value, another URL scheme, a non-image or
 *   non-base64 data URI, invalid or truncated base64, or decoded bytes above `maxBytes`
 *
 * @example
 * parseImageInput('image', 'https://example.com/cat.png'); // { kind: 'url', url: 'https://example.com/cat.png' }
 * parseImageInput('image', 'data:image/png;base64,iVBORw0KGgo…'); // { kind: 'bytes', bytes: <Buffer 89 50 4e 47 …> }
 * parseImageInput('mask_image', 'iVBORw0KGgo…', 5 * 1024 * 1024); // bare base64, 5 MiB limit
 */
export function parseImageInput(
  field: string,
  value: string,
  maxBytes: number = MAX_IMAGE_BYTES,
): ImageInput {
  const v = value.trim();
  if (v.length === 0) throw errors.USAGE(`${field}: is empty`);
  const scheme = SCHEME.exec(v)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') {
    if (!URL.canParse(v))
      throw errors.USAGE(`${field}: ${JSON.stringify(v.slice(0, 200))} is not a valid URL`);
    return { kind: 'url', url: v };
  }
  if (scheme === 'data') {
    const prefix = DATA_URI.exec(v);
    if (!prefix) {
      throw errors.USAGE(
        `${field}: data URIs must be data:image/png, image/jpeg or image/webp with ;base64, got ` +
          `${JSON.stringify(v.slice(0, Math.min(v.indexOf(',') + 1 || 40, 60)))}`,
      );
    }
    return { kind: 'bytes', bytes: decodeBase64(field, v.slice(prefix[0].length), 'the data URI', maxBytes) };
  }
  // base64 has no ':', so anything shaped like `word:` is a URL of a scheme we do not fetch.
  if (scheme !== undefined) {
    throw errors.USAGE(`${field}: unsupported URL scheme "${scheme}:"; use http(s), a data URI or base64`);
  }
  return { kind: 'bytes', bytes: decodeBase64(field, v, 'the base64 text', maxBytes) };
}
