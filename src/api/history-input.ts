/**
 * @module api/history-input
 * A task's `input` as the history page shows it. Inline images (data URIs, bare base64 in `image`
 * and `mask_image`) can be tens of MiB each, so a page of 100 items would be gigabytes; history
 * names them by size instead, and any other long string (clients may send unknown fields of up to
 * the body limit) by its length; the prompt and everything else stay for clients that reuse a request.
 * Webhooks still send the full input (api.md, "Webhooks").
 */

/** Image fields of the submit body whose non-URL value is base64 image data. */
const IMAGE_FIELDS: ReadonlySet<string> = new Set(['image', 'mask_image']);
const DATA_URI_PREFIX = /^\s*(data:[^,]{0,200};base64,)/i;
const HTTP_URL = /^\s*https?:/i;
/** Strings longer than this, characters, other than the prompt, are named by length: no known field is. */
const LONG_STRING_CHARS = 10_000;
/**
 * A field whose values and keys add up to more than this (each string counted up to 100) is named
 * by its size: real request fields are a few values (`loras` at most five entries).
 */
const BULKY_FIELD_UNITS = 10_000;

/** Whether `value` is bulkier than `limit` units; stops counting as soon as it is. */
function bulky(value: unknown, limit: number): boolean {
  let units = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    units += typeof v === 'string' ? Math.min(v.length, 100) : 1;
    if (units > limit) return true;
    if (typeof v === 'object' && v !== null)
      for (const [k, child] of Object.entries(v)) {
        units += Math.min(k.length, 100);
        stack.push(child);
      }
  }
  return false;
}

/** Decoded size of base64 text; line breaks of MIME-wrapped data carry no bytes. */
function base64Bytes(text: string): number {
  return Buffer.byteLength(/\s/.test(text) ? text.replace(/\s+/g, '') : text, 'base64');
}

function placeholder(form: string, payload: string): string {
  return `${form}… (${base64Bytes(payload)} bytes, not repeated in history)`;
}

/** The placeholder for an inline image string, or undefined when `value` is not one. */
function inlineImage(value: string, imageField: boolean): string | undefined {
  const prefix = DATA_URI_PREFIX.exec(value);
  if (prefix?.[1]) return placeholder(prefix[1], value.slice(prefix[0].length));
  if (imageField && value.trim() !== '' && !HTTP_URL.test(value)) return placeholder('base64', value.trim());
  return undefined;
}

function shrink(value: unknown, imageField: boolean): unknown {
  if (typeof value === 'string')
    return (
      inlineImage(value, imageField) ??
      (value.length > LONG_STRING_CHARS
        ? `${value.slice(0, 40)}… (${value.length} characters, not repeated in history)`
        : value)
    );
  if (Array.isArray(value)) return value.map((v) => shrink(v, false));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shrink(v, false)]));
  return value;
}

/**
 * `input` with every inline image replaced by a short placeholder naming its size. The body passed
 * submit's depth check (BODY_MAX_DEPTH), so the recursion is shallow.
 * @example historyInput({ prompt: 'a cat', image: 'data:image/png;base64,iVBORw0KGgo=' })
 * // { prompt: 'a cat', image: 'data:image/png;base64,… (8 bytes, not repeated in history)' }
 */
export function historyInput(input: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(input).map(([k, v]) => {
      if (k === 'prompt') return [k, v];
      if (typeof v === 'object' && v !== null && bulky(v, BULKY_FIELD_UNITS))
        return [
          k,
          `${Array.isArray(v) ? 'an array' : 'an object'} of more than ${BULKY_FIELD_UNITS} values, not repeated in history`,
        ];
      return [k, shrink(v, IMAGE_FIELDS.has(k))];
    }),
  );
}
