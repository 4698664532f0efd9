/**
 * @module weights/safetensors-file
 * One safetensors file, opened lazily: only the header is read up front, and each tensor is read on
 * demand with positional reads, so a 24 GB checkpoint costs one tensor of memory at a time. The
 * header length is checked against the file size and MAX_HEADER_BYTES before anything is
 * allocated, because it is the first thing a hostile file controls.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { errors } from '../errors.js';
import { readFully } from './read-fully.js';
import { MAX_HEADER_BYTES, parseSafetensorsHeader, type TensorEntry } from './safetensors-header.js';

function withCause<E extends Error>(err: E, cause: unknown): E {
  err.cause = cause;
  return err;
}

/**
 * A safetensors file with a validated header and an open handle for reading tensors.
 *
 * @example
 * const f = await SafetensorsFile.open('model.safetensors');
 * try {
 *   const bytes = await f.readRaw('img_in.weight');
 * } finally {
 *   await f.close();
 * }
 */
export class SafetensorsFile {
  #fh: FileHandle | undefined;

  private constructor(
    readonly path: string,
    fh: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorEntry>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.#fh = fh;
  }

  /**
   * Opens `path` and validates its header.
   *
   * @throws FluxServeError FLUX_ERR_SAFETENSORS if the file cannot be opened or is not a valid safetensors file
   *
   * @example
   * const f = await SafetensorsFile.open('/models/flux1-schnell.safetensors');
   * console.log([...f.tensors.keys()].length);
   */
  static async open(path: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw withCause(errors.SAFETENSORS(path, `cannot open (${(e as Error).message})`), e);
    }
    try {
      const { size } = await fh.stat();
      if (size < 8)
        throw errors.SAFETENSORS(path, `file is ${size} bytes, shorter than the 8-byte header length`);
      const head = new Uint8Array(8);
      await readFully(fh, path, head, 0);
      const n = new DataView(head.buffer).getBigUint64(0, true);
      if (n > BigInt(MAX_HEADER_BYTES)) {
        throw errors.SAFETENSORS(path, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
      }
      if (n > BigInt(size - 8)) {
        throw errors.SAFETENSORS(path, `header length ${n} exceeds the file's remaining ${size - 8} bytes`);
      }
      const headerJson = new Uint8Array(Number(n));
      await readFully(fh, path, headerJson, 8);
      const { tensors, metadata } = parseSafetensorsHeader(path, headerJson, 8 + headerJson.length, size);
      return new SafetensorsFile(path, fh, tensors, metadata);
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
  }

  /**
   * Reads one tensor's bytes (little-endian, row-major). The result owns a fresh buffer at offset 0,
   * so it can be viewed as any typed array of the tensor's dtype without copying.
   *
   * @throws FluxServeError FLUX_ERR_SAFETENSORS for an unknown name, a closed file, or a truncated file
   *
   * @example
   * const raw = await f.readRaw('final_layer.linear.bias');
   * const values = new Float32Array(raw.buffer, 0, raw.byteLength / 4);
   */
  async readRaw(name: string): Promise<Uint8Array> {
    const entry = this.tensors.get(name);
    if (entry === undefined) throw errors.SAFETENSORS(this.path, `no tensor named ${JSON.stringify(name)}`);
    const fh = this.#fh;
    if (fh === undefined) throw errors.SAFETENSORS(this.path, `read of ${JSON.stringify(name)} after close`);
    const buf = new Uint8Array(entry.byteLength);
    await readFully(fh, this.path, buf, entry.byteOffset);
    return buf;
  }

  /**
   * Closes the file handle; later reads fail. Safe to call more than once.
   *
   * @example
   * await f.close();
   */
  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close();
  }
}
