/**
 * @module weights/safetensors-header
 * Validation of a safetensors JSON header. Everything here comes from an untrusted file (user LoRAs
 * are uploads), so every field is checked before any byte offset or size derived from it is used:
 * after this, a TensorEntry can be read with no further checks and no allocation larger than the
 * file itself.
 */
import { errors } from '../errors.js';
import { DTYPE_BYTES, isSafetensorsDType, type SafetensorsDType } from './dtype.js';

/**
 * Largest JSON header the reader accepts. The Rust reference implementation uses the same bound; a
 * real header (thousands of tensors) is a few hundred KiB.
 */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** One tensor of a safetensors file, located in the file. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Absolute offset of the first data byte in the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function safeNonNegative(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function parseEntry(
  file: string,
  name: string,
  raw: unknown,
  dataStart: number,
  fileSize: number,
): TensorEntry {
  const bad = (why: string) => errors.SAFETENSORS(file, `tensor ${JSON.stringify(name)}: ${why}`);
  if (!isObject(raw)) throw bad(`entry must be an object, got ${describe(raw)}`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string' || !isSafetensorsDType(dtype)) throw bad(`unknown dtype ${describe(dtype)}`);
  if (!Array.isArray(shape)) throw bad(`shape must be an array, got ${describe(shape)}`);
  // BigInt so that the element count is exact however large the dims are.
  let elements = 1n;
  for (const d of shape) {
    if (!safeNonNegative(d)) throw bad(`shape dims must be non-negative integers, got ${describe(shape)}`);
    elements *= BigInt(d);
  }
  if (elements > MAX_SAFE) throw bad(`shape ${describe(shape)} has more elements than can be addressed`);
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw bad(`data_offsets must be [begin, end], got ${describe(offsets)}`);
  }
  const [begin, end] = offsets;
  if (!safeNonNegative(begin) || !safeNonNegative(end) || begin > end) {
    throw bad(`data_offsets must be integers with 0 <= begin <= end, got ${describe(offsets)}`);
  }
  if (dataStart + end > fileSize) {
    throw bad(
      `data_offsets ${describe(offsets)} run past the end of the file (${fileSize - dataStart} data bytes)`,
    );
  }
  const expected = elements * BigInt(DTYPE_BYTES[dtype]);
  if (BigInt(end - begin) !== expected) {
    throw bad(
      `data_offsets span ${end - begin} bytes but ${dtype} shape ${describe(shape)} needs ${expected}`,
    );
  }
  return {
    name,
    dtype,
    shape: Object.freeze([...(shape as number[])]),
    byteOffset: dataStart + begin,
    byteLength: end - begin,
  };
}

function parseMetadata(file: string, raw: unknown): Record<string, string> {
  if (!isObject(raw)) throw errors.SAFETENSORS(file, `__metadata__ must be an object, got ${describe(raw)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') {
      throw errors.SAFETENSORS(file, `__metadata__ value for ${JSON.stringify(k)} must be a string`);
    }
    // defineProperty: a key named "__proto__" must stay data, not swap the prototype.
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: false, configurable: false });
  }
  return Object.freeze(out);
}

function checkNoOverlap(file: string, tensors: Iterable<TensorEntry>): void {
  // Empty tensors occupy no bytes, so they cannot collide with anything.
  const sorted = [...tensors].filter((t) => t.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as TensorEntry;
    const cur = sorted[i] as TensorEntry;
    if (cur.byteOffset < prev.byteOffset + prev.byteLength) {
      throw errors.SAFETENSORS(
        file,
        `tensors ${JSON.stringify(prev.name)} and ${JSON.stringify(cur.name)} overlap in the data section`,
      );
    }
  }
}

/**
 * Parses and validates a safetensors header.
 *
 * @param file - the file's path, only for error messages
 * @param headerJson - the N header bytes (UTF-8 JSON, possibly space-padded)
 * @param dataStart - absolute offset of the data section (8 + N)
 * @param fileSize - the file's size, to bound every tensor's offsets
 * @throws FluxServeError FLUX_ERR_SAFETENSORS naming the problem
 *
 * @example
 * const { tensors, metadata } = parseSafetensorsHeader('lora.safetensors', jsonBytes, 8 + jsonBytes.length, size);
 * const entry = tensors.get('lora_unet_x.lora_up.weight');
 */
export function parseSafetensorsHeader(
  file: string,
  headerJson: Uint8Array,
  dataStart: number,
  fileSize: number,
): { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerJson);
  } catch {
    throw errors.SAFETENSORS(file, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw errors.SAFETENSORS(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) throw errors.SAFETENSORS(file, 'header JSON must be an object');
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = Object.freeze({});
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(file, raw);
    else tensors.set(name, parseEntry(file, name, raw, dataStart, fileSize));
  }
  checkNoOverlap(file, tensors.values());
  return { tensors, metadata };
}
