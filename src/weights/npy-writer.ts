/**
 * @module weights/npy-writer
 * NumPy `.npy` (format 1.0) files, so intermediate tensors can be loaded with `numpy.load` and
 * compared against other FLUX implementations.
 */
import { writeFile } from 'node:fs/promises';

/**
 * Encodes a little-endian float32 (`<f4`) or float64 (`<f8`) C-order array.
 * @example await writeFile('noise.npy', npyBytes(noise, [1, 16, 128, 128]));
 */
export function npyBytes(data: Float32Array | Float64Array, shape: readonly number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npy: ${data.length} values do not fill shape [${shape}]`);
  const descr = data instanceof Float64Array ? '<f8' : '<f4';
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic (6) + version (2) + header length (2) + header + '\n' must be a multiple of 64.
  const unpadded = 10 + header.length + 1;
  header = `${header}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix.writeUInt8(1, 6);
  prefix.writeUInt8(0, 7);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

export async function writeNpy(
  path: string,
  data: Float32Array | Float64Array,
  shape: readonly number[],
): Promise<void> {
  await writeFile(path, npyBytes(data, shape));
}
