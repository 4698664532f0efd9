/**
 * @module runtime/manifest
 * `manifest.json` of a built model dir: what each component graph is, how it was built, its I/O
 * contract and layer table, and the source files it came from.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComputeDType, OpsVariant } from '../arch/build-context.js';
import type { ValueSpec } from '../onnx/graph.js';
import type { WeightQuant } from '../weights/quantize.js';

/** A file a component was built from. */
export interface SourceFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 1;

export interface ManifestLayer {
  readonly name: string;
  readonly in: number;
  readonly out: number;
  readonly loraA: string;
  readonly loraB: string;
}

export interface ComponentManifest {
  readonly file: string;
  readonly data: string;
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
  /** The architecture config the graph was built from (diffusers config.json fields). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly tensors: number;
  readonly parameters: number;
  /** The variant of a quantized component (`build --quant`); absent = float weights. */
  readonly quant?: WeightQuant;
  /**
   * `in_out`: linear weights are MatMul initializers named by their checkpoint key, stored
   * transposed [in, out]. `nbits_out_in`: quantized linears are MatMulNBits inputs `<key>_Q<bits>`
   * [out, in/32, 32·bits/8] and `<key>_scales` [out·in/32], in the checkpoint's [out, in] order.
   */
  readonly weightLayout: 'in_out' | 'nbits_out_in';
  /** The LoRA-targetable linears and their runtime inputs (transformer only; empty elsewhere). */
  readonly layers: readonly ManifestLayer[];
  readonly sources: readonly SourceFile[];
}

export interface Manifest {
  readonly format: number;
  readonly builtAt: string;
  readonly builder: string;
  readonly source: string;
  readonly components: Readonly<Record<string, ComponentManifest>>;
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

export async function readManifest(dir: string): Promise<Manifest> {
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
  if (manifest.format !== MANIFEST_FORMAT) {
    throw new Error(
      `${dir}/${MANIFEST_FILE} has format ${manifest.format}; this flux-serve reads ${MANIFEST_FORMAT}`,
    );
  }
  return manifest;
}
