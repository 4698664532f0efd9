/**
 * @module runtime/manifest
 * `manifest.json` of a built model dir: what each component graph is, how it was built, its I/O
 * contract and layer table, and the source files it came from.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComputeDType, OpsVariant } from '../arch/build-context.js';
import type { LoraLayer } from '../arch/flux-io.js';
import { errors } from '../errors.js';
import { fileExists } from '../file-exists.js';
import { writeFileAtomic } from '../jobs/atomic-write.js';
import type { ValueSpec } from '../onnx/graph.js';
import type { WeightQuant } from '../weights/quantize.js';

/** A file a component was built from. */
export interface SourceFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export const MANIFEST_FILE = 'manifest.json';
/**
 * 2: the transformer's LoRA inputs are in the compute dtype (`layers[].loraDType`), and the parts
 * of its fused linears have inputs of their own (`layers[].parts`). A flux-serve that reads only
 * format 1 refuses these dirs by their number instead of failing in ONNX Runtime on an input it
 * does not feed; format 1 dirs are still read (see `upgraded`).
 */
export const MANIFEST_FORMAT = 2;
/**
 * Present while a build writes into a model dir (manifest-shaped: the components already
 * consistent on disk). A build killed midway leaves it there, so the dir is refused instead of
 * being served with graphs that no manifest describes.
 */
export const BUILD_MARKER = 'build-in-progress.json';

/** A LoRA-targetable linear of the transformer and the names and dtype of its runtime inputs. */
export type ManifestLayer = LoraLayer;

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

/**
 * Fewer parameters than this in all five graphs: a test model (the tiny random one, its images
 * noise), never a FLUX.1 (12B transformer + 4.7B T5). Such a model may fall back to the CPU, and
 * the server says on every surface that it is serving one.
 */
export const TEST_MODEL_MAX_PARAMETERS = 1e9;

/** Whether `manifest` is a test model (TEST_MODEL_MAX_PARAMETERS). */
export function isTestModel(manifest: Manifest): boolean {
  return Object.values(manifest.components).reduce((n, c) => n + c.parameters, 0) < TEST_MODEL_MAX_PARAMETERS;
}

/** What every task of a test model says (api.md `warnings`), and the playground and /api/v3/models show. */
export const TEST_MODEL_WARNING =
  'this server runs a tiny random test model, not FLUX.1: its images are noise (to serve FLUX.1 [schnell]: flux-serve pull flux.1-schnell && flux-serve build flux.1-schnell)';

/** Atomic, so a reader (or a crash) never sees half a manifest. `name` is for the build marker. */
export async function writeManifest(dir: string, manifest: Manifest, name = MANIFEST_FILE): Promise<void> {
  await writeFileAtomic(dir, name, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
}

/** `interrupted`: a build started there and has not finished (killed, failed, or still running). */
export async function modelDirState(dir: string): Promise<'built' | 'interrupted' | 'absent'> {
  if (await fileExists(join(dir, BUILD_MARKER))) return 'interrupted';
  return (await fileExists(join(dir, MANIFEST_FILE))) ? 'built' : 'absent';
}

export function interruptedBuildError(dir: string): Error {
  return errors.RUNTIME(
    `${dir}: its build was interrupted (or is still running; ${BUILD_MARKER} is there): run flux-serve build again`,
  );
}

/**
 * A format 1 manifest as format 2 describes the same graphs: its builds took every LoRA input in
 * float32, whatever the compute dtype, and had whole-layer LoRA inputs only. Such a dir keeps
 * working as before (split q/k/v LoRAs zero-padded on the fused layers, fp32 uploads); rebuilding
 * it makes a LoRA's upload its own factors' bytes, at half that size in fp16.
 */
function upgraded(manifest: Manifest): Manifest {
  if (manifest.format !== 1) return manifest;
  const components: Record<string, ComponentManifest> = {};
  for (const [name, c] of Object.entries(manifest.components)) {
    components[name] = { ...c, layers: c.layers.map((l) => ({ ...l, loraDType: 'float32', parts: [] })) };
  }
  return { ...manifest, format: MANIFEST_FORMAT, components };
}

/** Parses `dir/name` (the manifest or the build marker), refusing another format. */
export async function parseManifestFile(dir: string, name: string): Promise<Manifest> {
  const manifest = JSON.parse(await readFile(join(dir, name), 'utf8')) as Manifest;
  if (manifest.format !== MANIFEST_FORMAT && manifest.format !== 1) {
    throw new Error(
      `${dir}/${name} has format ${manifest.format}; this flux-serve reads 1 and ${MANIFEST_FORMAT}: rebuild the model with this flux-serve`,
    );
  }
  return upgraded(manifest);
}

export async function readManifest(dir: string): Promise<Manifest> {
  if ((await modelDirState(dir)) === 'interrupted') throw interruptedBuildError(dir);
  return parseManifestFile(dir, MANIFEST_FILE);
}
