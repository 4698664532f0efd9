/**
 * @module weights/checkpoint
 * The weight source the graph builder consumes: every tensor of a checkpoint by name, whichever
 * files hold it (one safetensors file, HF shards behind an index, or several files such as a
 * transformer plus a separate text encoder). Tensors are read lazily, one at a time.
 */
import { resolve } from 'node:path';
import { errors } from '../errors.js';
import { SafetensorsFile } from './safetensors-file.js';
import { isShardIndexPath, readShardIndex, type ShardIndex } from './shard-index.js';
import { checkFloat, decodeF16, decodeF32 } from './tensor-decode.js';
import { missingTensor, type TensorInfo, type WeightSource } from './weight-source.js';

export { inMemoryWeights } from './in-memory-weights.js';
export { prefixStripped } from './prefix-stripped.js';
export { missingTensor, type TensorInfo, type WeightSource } from './weight-source.js';

class FileWeights implements WeightSource {
  readonly #files: readonly SafetensorsFile[];
  readonly #where: ReadonlyMap<string, SafetensorsFile>;
  readonly #names: readonly string[];

  constructor(files: readonly SafetensorsFile[], where: ReadonlyMap<string, SafetensorsFile>) {
    this.#files = files;
    this.#where = where;
    this.#names = [...where.keys()].sort();
  }

  names(): string[] {
    return [...this.#names];
  }

  has(name: string): boolean {
    return this.#where.has(name);
  }

  #locate(name: string) {
    const file = this.#where.get(name);
    const entry = file?.tensors.get(name);
    if (file === undefined || entry === undefined) throw missingTensor(name);
    return { file, entry };
  }

  info(name: string): TensorInfo {
    const { entry } = this.#locate(name);
    return { dtype: entry.dtype, shape: entry.shape };
  }

  async readF32(name: string): Promise<Float32Array> {
    const { file, entry } = this.#locate(name);
    // Reject non-float dtypes before reading a possibly large tensor for nothing.
    checkFloat(name, entry.dtype, 'float32');
    return decodeF32(name, entry.dtype, await file.readRaw(name));
  }

  async readF16(name: string): Promise<Uint16Array> {
    const { file, entry } = this.#locate(name);
    checkFloat(name, entry.dtype, 'float16');
    return decodeF16(name, entry.dtype, await file.readRaw(name));
  }

  async close(): Promise<void> {
    await Promise.all(this.#files.map((f) => f.close()));
  }
}

/** Opens every distinct path; if any fails, closes the ones that opened and rethrows the first failure. */
async function openAll(paths: readonly string[]): Promise<Map<string, SafetensorsFile>> {
  const results = await Promise.allSettled(paths.map((p) => SafetensorsFile.open(p)));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    throw failed.reason;
  }
  const files = new Map<string, SafetensorsFile>();
  for (const r of results) if (r.status === 'fulfilled') files.set(r.value.path, r.value);
  return files;
}

function locateAll(files: Iterable<SafetensorsFile>): Map<string, SafetensorsFile> {
  const where = new Map<string, SafetensorsFile>();
  for (const file of files) {
    for (const name of file.tensors.keys()) {
      const other = where.get(name);
      if (other !== undefined) {
        throw errors.SAFETENSORS(file.path, `tensor ${JSON.stringify(name)} is also in ${other.path}`);
      }
      where.set(name, file);
    }
  }
  return where;
}

function checkIndex(index: ShardIndex, files: ReadonlyMap<string, SafetensorsFile>): void {
  for (const [name, shard] of index.weightMap) {
    if (!files.get(shard)?.tensors.has(name)) {
      throw errors.SAFETENSORS(
        index.indexPath,
        `weight_map puts ${JSON.stringify(name)} in ${shard}, which lacks it`,
      );
    }
  }
}

/**
 * Opens a checkpoint made of safetensors files and/or `*.safetensors.index.json` shard indexes.
 * A file named twice (directly or through an index) is opened once; a tensor in two different
 * files is an error, as is an index entry whose shard lacks the tensor.
 *
 * @throws FluxServeError FLUX_ERR_SAFETENSORS for unreadable, hostile or inconsistent files
 *
 * @example
 * const weights = await openCheckpoint(['/models/schnell/transformer/diffusion_pytorch_model.safetensors.index.json']);
 * try {
 *   const w = await weights.readF32('x_embedder.weight');
 * } finally {
 *   await weights.close();
 * }
 */
export async function openCheckpoint(paths: readonly string[]): Promise<WeightSource> {
  if (paths.length === 0) throw errors.WEIGHTS('no checkpoint files given');
  const indexes: ShardIndex[] = [];
  const filePaths = new Set<string>();
  for (const p of paths) {
    if (isShardIndexPath(p)) {
      const index = await readShardIndex(resolve(p));
      indexes.push(index);
      for (const shard of index.shards) filePaths.add(shard);
    } else {
      filePaths.add(resolve(p));
    }
  }
  const files = await openAll([...filePaths]);
  try {
    const where = locateAll(files.values());
    for (const index of indexes) checkIndex(index, files);
    return new FileWeights([...files.values()], where);
  } catch (e) {
    await Promise.all([...files.values()].map((f) => f.close()));
    throw e;
  }
}
