/**
 * @module weights/shard-index
 * Hugging Face sharded checkpoints: `*.safetensors.index.json` maps each tensor to the shard file
 * holding it. Shard names come from a downloaded file, so they are confined to the index's folder:
 * an absolute name or a `..` segment could otherwise make us read any file on the host.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, win32 } from 'node:path';
import { errors, FluxServeError } from '../errors.js';
import { MAX_HEADER_BYTES } from './safetensors-header.js';

/** A parsed index: the absolute path of every shard, and which shard each tensor is claimed to be in. */
export interface ShardIndex {
  readonly indexPath: string;
  /** Absolute shard paths, each once, in first-mention order. */
  readonly shards: readonly string[];
  /** Tensor name to absolute shard path. */
  readonly weightMap: ReadonlyMap<string, string>;
}

/**
 * Whether `path` names an index rather than a safetensors file.
 *
 * @example
 * isShardIndexPath('model.safetensors.index.json'); // true
 */
export function isShardIndexPath(path: string): boolean {
  return path.toLowerCase().endsWith('.json');
}

function shardPath(indexPath: string, shard: unknown, tensor: string): string {
  const bad = (why: string) =>
    errors.SAFETENSORS(indexPath, `weight_map entry for ${JSON.stringify(tensor)}: shard ${why}`);
  if (typeof shard !== 'string' || shard.length === 0) {
    throw bad(`must be a non-empty string, got ${JSON.stringify(shard)}`);
  }
  // Both flavours of absolute: an index written on Windows is still read on Linux and vice versa.
  if (isAbsolute(shard) || posix.isAbsolute(shard) || win32.isAbsolute(shard)) {
    throw bad(`${JSON.stringify(shard)} is an absolute path; shards must be inside the index's folder`);
  }
  if (shard.split(/[\\/]/).includes('..') || shard.includes('\0')) {
    throw bad(`${JSON.stringify(shard)} leaves the index's folder ('..' not allowed)`);
  }
  return join(dirname(indexPath), shard);
}

/**
 * Reads and validates a sharded-checkpoint index. Shards are not opened here.
 *
 * @throws FluxServeError FLUX_ERR_SAFETENSORS naming the index and the problem
 *
 * @example
 * const index = await readShardIndex('/models/flux/transformer/diffusion_pytorch_model.safetensors.index.json');
 * console.log(index.shards.length);
 */
export async function readShardIndex(indexPath: string): Promise<ShardIndex> {
  let text: string;
  try {
    // Bounded like a safetensors header: the index is as untrusted and should be far smaller.
    const { size } = await stat(indexPath);
    if (size > MAX_HEADER_BYTES) {
      throw errors.SAFETENSORS(indexPath, `index is ${size} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
    }
    text = await readFile(indexPath, 'utf8');
  } catch (e) {
    if (e instanceof FluxServeError) throw e;
    const err = errors.SAFETENSORS(indexPath, `cannot read index (${(e as Error).message})`);
    err.cause = e;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw errors.SAFETENSORS(indexPath, `index is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw errors.SAFETENSORS(indexPath, 'index must be a JSON object');
  }
  const map = (json as Record<string, unknown>).weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw errors.SAFETENSORS(indexPath, 'index has no weight_map object');
  }
  const weightMap = new Map<string, string>();
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(map)) {
    const path = shardPath(indexPath, shard, tensor);
    weightMap.set(tensor, path);
    shards.add(path);
  }
  return { indexPath, shards: [...shards], weightMap };
}
