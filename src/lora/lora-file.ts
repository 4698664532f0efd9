/**
 * @module lora/lora-file
 * A LoRA `.safetensors` file held in memory (LoRAs are megabytes, and arrive as downloads or
 * uploads): the validated header, the metadata, and float32 reads that refuse NaN/Inf, because one
 * non-finite factor turns every image black (lora.md §6.7, §11).
 */
import { errors } from '../errors.js';
import { MAX_HEADER_BYTES, parseSafetensorsHeader, type TensorEntry } from '../weights/safetensors-header.js';
import { checkFloat, decodeF32 } from '../weights/tensor-decode.js';

export interface LoraFile {
  /** The LoRA's display name, for messages. */
  readonly name: string;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensor's values as float32 (a fresh array), checked finite. */
  read(key: string): Float32Array;
}

/**
 * Validates the header of a whole safetensors file in memory.
 *
 * @throws FluxServeError FLUX_ERR_SAFETENSORS for a corrupt, truncated or hostile file
 *
 * @example
 * const file = readLoraFile(await readFile('lora.safetensors'), 'lora.safetensors');
 * const down = file.read('lora_unet_img_in.lora_down.weight');
 */
export function readLoraFile(bytes: Uint8Array, name: string): LoraFile {
  if (bytes.length < 8) {
    throw errors.SAFETENSORS(name, `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw errors.SAFETENSORS(name, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (n > BigInt(bytes.length - 8)) {
    throw errors.SAFETENSORS(
      name,
      `header length ${n} exceeds the file's remaining ${bytes.length - 8} bytes`,
    );
  }
  const headerEnd = 8 + Number(n);
  const { tensors, metadata } = parseSafetensorsHeader(
    name,
    bytes.subarray(8, headerEnd),
    headerEnd,
    bytes.length,
  );
  return {
    name,
    tensors,
    metadata,
    read(key: string): Float32Array {
      const entry = tensors.get(key);
      if (!entry) throw errors.LORA(name, `no tensor ${JSON.stringify(key)}`);
      try {
        checkFloat(key, entry.dtype, 'float32');
      } catch {
        throw errors.LORA(
          name,
          `tensor ${key} has dtype ${entry.dtype}; LoRA factors must be F32, F16 or BF16`,
        );
      }
      const raw = bytes.subarray(entry.byteOffset, entry.byteOffset + entry.byteLength);
      const decoded = decodeF32(key, entry.dtype, raw);
      // F32 decodes to a view of the file's bytes, which a cached LoRA must not retain.
      const values = entry.dtype === 'F32' ? decoded.slice() : decoded;
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) {
          throw errors.LORA(name, `tensor ${key} holds a non-finite value (${values[i]}) at index ${i}`);
        }
      }
      return values;
    },
  };
}
