/**
 * @module weights/in-memory-weights
 * A WeightSource over float32 arrays already in memory: tests and random-weight models use it to
 * drive the graph builder without writing a file.
 */
import { errors } from '../errors.js';
import { f32ToF16 } from './float16.js';
import type { TensorInfo, WeightSource } from './weight-source.js';
import { missingTensor } from './weight-source.js';

interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

function elementCount(name: string, shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw errors.WEIGHTS(`tensor ${JSON.stringify(name)} has invalid shape ${JSON.stringify(shape)}`);
    }
    n *= d;
  }
  return n;
}

/**
 * Wraps float32 tensors as an F32 WeightSource. `readF32` returns the caller's arrays themselves,
 * not copies (random weights for a full-size model would otherwise double in memory), so treat
 * them as read-only.
 *
 * @throws FluxServeError FLUX_ERR_WEIGHTS if a tensor's data length does not match its shape
 *
 * @example
 * const weights = inMemoryWeights(new Map([['img_in.bias', { shape: [3072], data: new Float32Array(3072) }]]));
 * await weights.readF16('img_in.bias');
 */
export function inMemoryWeights(
  tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
): WeightSource {
  const table = new Map<string, Tensor>();
  for (const [name, t] of tensors) {
    const n = elementCount(name, t.shape);
    if (t.data.length !== n) {
      throw errors.WEIGHTS(
        `tensor ${JSON.stringify(name)} has ${t.data.length} values but shape ${JSON.stringify(t.shape)} needs ${n}`,
      );
    }
    table.set(name, { shape: Object.freeze([...t.shape]), data: t.data });
  }
  const sorted = [...table.keys()].sort();
  const get = (name: string): Tensor => {
    const t = table.get(name);
    if (t === undefined) throw missingTensor(name);
    return t;
  };
  return {
    names: () => [...sorted],
    has: (name) => table.has(name),
    info: (name): TensorInfo => ({ dtype: 'F32', shape: get(name).shape }),
    readF32: async (name) => get(name).data,
    readF16: async (name) => f32ToF16(get(name).data),
    close: async () => {},
  };
}
