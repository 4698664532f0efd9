/**
 * @module test/weights/fixtures
 * Shared helpers for the weights tests: throwaway folders, hand-assembled safetensors bytes (so
 * the reader is checked against the format, not only against our writer), and error matchers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { FluxServeError } from '../../src/errors.js';

const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/**
 * A fresh folder under the OS temp dir, removed after the current test.
 *
 * @example
 * const dir = await tempDir();
 */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flux-weights-'));
  dirs.push(dir);
  return dir;
}

/**
 * Assembles a safetensors file by hand: u64 LE header length, header text, data bytes.
 * `headerLength` overrides the length field to forge hostile files.
 *
 * @example
 * const bytes = safetensorsBytes({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
 */
export function safetensorsBytes(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  headerLength?: bigint,
): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/**
 * Writes `bytes` to `name` in a fresh temp folder and returns the path.
 *
 * @example
 * const path = await tempFile('x.safetensors', safetensorsBytes({}));
 */
export async function tempFile(name: string, bytes: Uint8Array | string, dir?: string): Promise<string> {
  const path = join(dir ?? (await tempDir()), name);
  await writeFile(path, bytes);
  return path;
}

/**
 * Asserts that `promise` rejects with a FluxServeError of `code` whose message matches `message`.
 *
 * @example
 * await expectFluxError(SafetensorsFile.open(path), 'FLUX_ERR_SAFETENSORS', /header length/);
 */
export async function expectFluxError(
  promise: Promise<unknown>,
  code: string,
  message: RegExp,
): Promise<FluxServeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FluxServeError);
  const flux = err as FluxServeError;
  expect(flux.code).toBe(code);
  expect(flux.message).toMatch(message);
  return flux;
}

/**
 * The synchronous counterpart of expectFluxError.
 *
 * @example
 * expectFluxThrow(() => source.info('nope'), 'FLUX_ERR_WEIGHTS', /"nope"/);
 */
export function expectFluxThrow(fn: () => unknown, code: string, message: RegExp): FluxServeError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FluxServeError);
  const flux = err as FluxServeError;
  expect(flux.code).toBe(code);
  expect(flux.message).toMatch(message);
  return flux;
}

/**
 * Little-endian bytes of float32 values, built with a DataView so they do not depend on our code.
 *
 * @example
 * const data = f32Bytes([1, 2, 3, 4]);
 */
export function f32Bytes(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setFloat32(i * 4, v, true);
  });
  return out;
}
