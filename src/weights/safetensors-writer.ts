/**
 * @module weights/safetensors-writer
 * Writes safetensors files (converted checkpoints, baked LoRAs, test fixtures). The header comes
 * first but lists every offset, so the plan (names, dtypes, shapes) is known up front and the data
 * is produced one tensor at a time: peak memory is one tensor, whatever the file size. The file
 * appears under its final name only once complete, so a crash never leaves a truncated checkpoint
 * that a later run would trust.
 */
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { errors, FluxServeError } from '../errors.js';
import { DTYPE_BYTES } from './dtype.js';
import { encodeFloats } from './tensor-decode.js';

/** Float dtypes the writer produces. */
export type WritableDType = 'F32' | 'F16' | 'BF16';

/**
 * A tensor with its data in hand. A Uint16Array holds raw F16/BF16 bits; a Float32Array with dtype
 * F16/BF16 is converted (round to nearest even).
 */
export interface TensorToWrite {
  readonly name: string;
  readonly dtype: WritableDType;
  readonly shape: readonly number[];
  readonly data: Float32Array | Uint16Array;
}

/** A tensor whose data is produced on demand, right before it is written. */
export interface TensorPlan {
  readonly name: string;
  readonly dtype: WritableDType;
  readonly shape: readonly number[];
  readonly data: () => Float32Array | Uint16Array | Promise<Float32Array | Uint16Array>;
}

const WRITABLE: ReadonlySet<string> = new Set<WritableDType>(['F32', 'F16', 'BF16']);

/** Same bound as the read side: 1 GiB per write call keeps every call under the OS's per-write limit. */
const CHUNK = 1 << 30;

interface Laid {
  readonly plan: TensorToWrite | TensorPlan;
  readonly elements: number;
  readonly begin: number;
  readonly end: number;
}

function layOut(path: string, tensors: readonly (TensorToWrite | TensorPlan)[]): Laid[] {
  const seen = new Set<string>();
  const laid: Laid[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bad = (why: string) => errors.SAFETENSORS(path, `tensor ${JSON.stringify(t.name)}: ${why}`);
    if (t.name === '__metadata__') throw bad('the name is reserved for the metadata entry');
    if (seen.has(t.name)) throw bad('listed twice');
    seen.add(t.name);
    if (!WRITABLE.has(t.dtype)) throw bad(`cannot write dtype ${String(t.dtype)}`);
    let elements = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw bad(`invalid shape ${JSON.stringify(t.shape)}`);
      elements *= d;
    }
    const bytes = elements * DTYPE_BYTES[t.dtype];
    if (!Number.isSafeInteger(offset + bytes)) throw bad(`shape ${JSON.stringify(t.shape)} is too large`);
    laid.push({ plan: t, elements, begin: offset, end: offset + bytes });
    offset += bytes;
  }
  return laid;
}

function headerBytes(
  laid: readonly Laid[],
  metadata: Record<string, string> | undefined,
  path: string,
): Uint8Array {
  // Built by hand rather than from an object: JSON.stringify would move integer-like names first.
  const parts: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw errors.SAFETENSORS(path, `metadata value for ${JSON.stringify(k)} must be a string`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  for (const { plan, begin, end } of laid) {
    const entry = { dtype: plan.dtype, shape: plan.shape, data_offsets: [begin, end] };
    parts.push(`${JSON.stringify(plan.name)}:${JSON.stringify(entry)}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  // Spaces up to a multiple of 8, so the data section (and every F64/F32 tensor in it) is 8-byte aligned.
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

async function writeFully(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(
      bytes,
      done,
      Math.min(CHUNK, bytes.length - done),
      position + done,
    );
    done += bytesWritten;
  }
}

async function tensorBytes(path: string, { plan, elements }: Laid): Promise<Uint8Array> {
  const raw = typeof plan.data === 'function' ? await plan.data() : plan.data;
  const bad = (why: string) => errors.SAFETENSORS(path, `tensor ${JSON.stringify(plan.name)}: ${why}`);
  if (raw.length !== elements) {
    throw bad(`data has ${raw.length} values but shape ${JSON.stringify(plan.shape)} needs ${elements}`);
  }
  let data: Float32Array | Uint16Array;
  if (raw instanceof Float32Array) data = encodeFloats(plan.dtype, raw);
  else if (raw instanceof Uint16Array && plan.dtype !== 'F32') data = raw;
  else throw bad(`${plan.dtype} data must be a Float32Array${plan.dtype === 'F32' ? '' : ' or Uint16Array'}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Writes a safetensors file: `path + '.partial'` first, renamed to `path` when complete. Tensors are
 * laid out in the given order; plans' data functions are called one at a time, in that order.
 *
 * @throws FluxServeError FLUX_ERR_SAFETENSORS for a bad name, shape, dtype or data length
 *
 * @example
 * await writeSafetensors('out.safetensors', [
 *   { name: 'w', dtype: 'BF16', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
 *   { name: 'b', dtype: 'F32', shape: [2], data: () => new Float32Array([0.5, -0.5]) },
 * ], { format: 'pt' });
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly (TensorToWrite | TensorPlan)[],
  metadata?: Record<string, string>,
): Promise<void> {
  const laid = layOut(path, tensors);
  const header = headerBytes(laid, metadata, path);
  const partial = `${path}.partial`;
  try {
    const fh = await open(partial, 'w');
    try {
      await writeFully(fh, header, 0);
      for (const t of laid) await writeFully(fh, await tensorBytes(path, t), header.length + t.begin);
      // Flush before the rename, or a power cut could leave a complete name over incomplete data.
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(partial, path);
  } catch (e) {
    await rm(partial, { force: true }).catch(() => {});
    if (e instanceof FluxServeError) throw e;
    const err = errors.SAFETENSORS(path, `cannot write (${(e as Error).message})`);
    err.cause = e;
    throw err;
  }
}
