/**
 * @module build/build-model
 * `flux-serve build`: checkpoint dir → model dir. Each component of the table in components.ts
 * becomes `<name>.onnx` + `<name>.onnx.data`, `manifest.json` describes them all, and the tokenizer
 * and scheduler files are copied so a model dir is all the runtime needs.
 *
 * Into an existing dir: `--only` keeps the earlier build's other components (refusing ones that
 * may come from other weights), and the build marker (runtime/manifest.ts) stands in for the
 * manifest until the new one is in place, so a killed build leaves a dir the loaders refuse; the
 * rerun keeps the components the killed build finished with the same settings and sources.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { ComputeDType, OpsVariant } from '../arch/build-context.js';
import { parameterCount } from '../arch/param-tensor.js';
import { errors } from '../errors.js';
import { fileExists } from '../file-exists.js';
import type { Logger } from '../log.js';
import { writeModel } from '../onnx/model-writer.js';
import {
  BUILD_MARKER,
  type ComponentManifest,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  type Manifest,
  modelDirState,
  parseManifestFile,
  type SourceFile,
  writeManifest,
} from '../runtime/manifest.js';
import { openCheckpoint } from '../weights/checkpoint.js';
import type { WeightQuant } from '../weights/quantize.js';
import {
  COMPONENTS,
  type ComponentDef,
  type ComponentName,
  type ComponentPlan,
  locateWeights,
  readComponentConfig,
} from './components.js';
import { progress } from './progress.js';
import { describeSources } from './source-files.js';

export interface BuildOptions {
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
  readonly log: Logger;
  /** Build only these components (default: all five). */
  readonly only?: readonly ComponentName[];
  /** Block-quantized linears (MatMulNBits, block 32) in the transformer and T5 (default: float). */
  readonly quant?: WeightQuant;
  /**
   * Awaited once a component's graph and manifest entry are on disk; tests end the process here
   * to interrupt a build at a known point.
   */
  readonly afterComponent?: (name: ComponentName) => void | Promise<void>;
}

export const BUILDER = 'flux-serve 0.1.0';

/** What the runtime needs besides the graphs, copied verbatim from the checkpoint. */
const RUNTIME_FILES = ['tokenizer', 'tokenizer_2', 'scheduler'] as const;

interface Planned {
  readonly def: ComponentDef;
  readonly plan: ComponentPlan;
  readonly file: string;
  readonly entry: ComponentManifest;
}

/** What an earlier build left in the dir: an interrupted build's marker, else a manifest. */
interface Previous {
  readonly state: 'built' | 'interrupted';
  readonly manifest: Manifest;
}

async function readPrevious(outDir: string, options: BuildOptions): Promise<Previous | undefined> {
  const state = await modelDirState(outDir);
  if (state === 'absent') return undefined;
  const name = state === 'interrupted' ? BUILD_MARKER : MANIFEST_FILE;
  try {
    return { state, manifest: await parseManifestFile(outDir, name) };
  } catch (e) {
    // A full build replaces every component; only --only needs the earlier ones.
    if (!options.only) return undefined;
    throw errors.USAGE(
      `build --only cannot keep the other components of ${outDir}: ${(e as Error).message}; build all components (without --only) or into a new --out`,
    );
  }
}

/** The components whose graph and weights files are both there (the others are warned about). */
async function present(
  outDir: string,
  components: Readonly<Record<string, ComponentManifest>>,
  log?: Logger,
): Promise<Record<string, ComponentManifest>> {
  const out: Record<string, ComponentManifest> = {};
  for (const [name, c] of Object.entries(components)) {
    if ((await fileExists(join(outDir, c.file))) && (await fileExists(join(outDir, c.data)))) out[name] = c;
    else log?.warn({ component: name, outDir }, `${name}: its files are gone from ${outDir}; dropped`);
  }
  return out;
}

const shas = (sources: readonly SourceFile[]) => sources.map((s) => s.sha256);
/** A value as manifest.json gives it back (undefined fields gone), to compare with what was read. */
const asStored = <T>(value: T): T => JSON.parse(JSON.stringify(value));
const io = (c: ComponentManifest) => asStored({ inputs: c.inputs, outputs: c.outputs });

/**
 * The earlier build's components that `--only` leaves in place. Refused when they may come from
 * other weights: graphs of two checkpoints load and run together and render garbage.
 */
async function keptComponents(
  previous: Manifest,
  planned: readonly Planned[],
  checkpointDir: string,
  outDir: string,
  log: Logger,
): Promise<Record<string, ComponentManifest>> {
  const refuse = (why: string) =>
    errors.USAGE(
      `build --only: ${outDir} ${why}, so its other components would not match; build all components (without --only) or into a new --out`,
    );
  const replaced = planned.filter((p) => previous.components[p.def.name]);
  for (const { def, entry } of replaced) {
    const old = previous.components[def.name] as ComponentManifest;
    if (!isDeepStrictEqual(shas(old.sources), shas(entry.sources))) {
      throw refuse(
        `has a ${def.name} built from other weights (sha256 ${shas(old.sources).join(', ')}; now ${shas(entry.sources).join(', ')})`,
      );
    }
    if (!isDeepStrictEqual(io(old), io(entry))) {
      throw refuse(
        `has a ${def.name} with other inputs or outputs (names, dtypes, shapes) than the one built now`,
      );
    }
  }
  // Nothing to compare weights with (the dir is being built component by component): the
  // checkpoint dir itself must be the same.
  if (replaced.length === 0 && previous.source !== resolve(checkpointDir)) {
    throw refuse(`was built from ${previous.source}, not ${resolve(checkpointDir)}`);
  }
  const others = Object.fromEntries(
    Object.entries(previous.components).filter(([name]) => !planned.some((p) => p.def.name === name)),
  );
  const kept = await present(outDir, others, log);
  const settings = (c: ComponentManifest) => [c.dtype, c.quant, c.ops].filter(Boolean).join(' ');
  log.info(
    { kept: Object.fromEntries(Object.entries(kept).map(([n, c]) => [n, settings(c)])) },
    'keeping the other components of the earlier build',
  );
  return kept;
}

/** Components in the table's order, whatever order they were built or kept in. */
function ordered(components: Readonly<Record<string, ComponentManifest>>): Record<string, ComponentManifest> {
  const out: Record<string, ComponentManifest> = {};
  for (const { name } of COMPONENTS) {
    const c = components[name];
    if (c) out[name] = c;
  }
  return out;
}

/** @example await buildModel('ckpt/FLUX.1-schnell', 'models/schnell-fp16', { dtype: 'float16', ops: 'fused', log }); */
export async function buildModel(
  checkpointDir: string,
  outDir: string,
  options: BuildOptions,
): Promise<Record<string, ComponentManifest>> {
  const { log } = options;
  if (options.quant && options.ops === 'plain') {
    throw errors.USAGE(
      `--quant ${options.quant} needs --ops fused: MatMulNBits is a com.microsoft contrib operator`,
    );
  }
  const wanted = COMPONENTS.filter((d) => !options.only || options.only.includes(d.name));
  // Read every config, locate and hash every file first: a broken checkpoint fails before any
  // writing, and the manifest entry is known up front (to compare with an earlier build's).
  const planned: Planned[] = await Promise.all(
    wanted.map(async (def) => {
      const config = (await readComponentConfig(checkpointDir, def)) as Record<string, unknown>;
      const plan = def.plan(config, options);
      const file = await locateWeights(checkpointDir, def);
      const entry: ComponentManifest = {
        file: `${def.name}.onnx`,
        data: `${def.name}.onnx.data`,
        dtype: plan.dtype,
        ...(plan.quant ? { quant: plan.quant } : {}),
        ops: options.ops,
        config,
        inputs: plan.inputs,
        outputs: plan.outputs,
        tensors: plan.tensors.length,
        parameters: parameterCount(plan.tensors),
        weightLayout: plan.quant ? 'nbits_out_in' : 'in_out',
        layers: plan.layers,
        sources: await describeSources(checkpointDir, [file]),
      };
      return { def, plan, file, entry };
    }),
  );
  const missing = [];
  for (const f of RUNTIME_FILES) if (!(await fileExists(join(checkpointDir, f)))) missing.push(f);
  if (missing.length > 0 && !options.only) {
    throw errors.USAGE(
      `${checkpointDir} lacks ${missing.join(', ')}: a model dir needs the tokenizers and scheduler config`,
    );
  }
  const previous = await readPrevious(outDir, options);
  const kept =
    previous && options.only
      ? await keptComponents(previous.manifest, planned, checkpointDir, outDir, log)
      : {};
  const done: Record<string, ComponentManifest> = { ...kept };
  const resumable =
    previous?.state === 'interrupted' && previous.manifest.builder === BUILDER
      ? await present(outDir, previous.manifest.components)
      : {};
  const record = (name: string) =>
    writeManifest(
      outDir,
      {
        format: MANIFEST_FORMAT,
        builtAt: new Date().toISOString(),
        builder: BUILDER,
        source: resolve(checkpointDir),
        components: ordered(done),
      },
      name,
    );
  // Marker first, then the old manifest goes: from here until the new manifest is in place, the
  // dir is refused, so a kill never leaves an old manifest describing new graphs.
  await mkdir(outDir, { recursive: true });
  await record(BUILD_MARKER);
  await rm(join(outDir, MANIFEST_FILE), { force: true });
  for (const f of RUNTIME_FILES) {
    if (!missing.includes(f)) await cp(join(checkpointDir, f), join(outDir, f), { recursive: true });
  }
  for (const { def, plan, file, entry } of planned) {
    const earlier = resumable[def.name];
    if (earlier && isDeepStrictEqual(earlier, asStored(entry))) {
      log.info({ component: def.name }, `${def.name}: already written by the interrupted build, kept`);
      done[def.name] = earlier;
      await record(BUILD_MARKER);
      continue;
    }
    const quant: Record<string, WeightQuant> = plan.quant ? { quant: plan.quant } : {};
    log.info({ component: def.name, weights: file, dtype: plan.dtype, ...quant }, `building ${def.name}`);
    const source = await openCheckpoint([file]);
    try {
      const graph = plan.build(source);
      const total = graph.initializers.reduce((n, t) => n + (t.constant ? 0 : t.byteLength), 0);
      const bar = progress(log, `writing ${def.name}`, total);
      await writeModel(graph, resolve(outDir, entry.file), {
        onProgress: (p) => bar.update(p.bytesDone, p.tensor),
        metadata: {
          builder: BUILDER,
          component: def.name,
          dtype: plan.dtype,
          ops: options.ops,
          ...quant,
        },
      });
      bar.stop();
    } finally {
      await source.close();
    }
    done[def.name] = entry;
    await record(BUILD_MARKER);
    await options.afterComponent?.(def.name);
  }
  await record(MANIFEST_FILE);
  await rm(join(outDir, BUILD_MARKER));
  const lacking = COMPONENTS.filter((d) => !done[d.name]).map((d) => d.name);
  if (lacking.length > 0) {
    log.warn(
      { outDir, lacking },
      `${outDir} lacks ${lacking.join(', ')}: build ${lacking.length === 1 ? 'it' : 'them'} (--only) before serving it`,
    );
  }
  const components = Object.fromEntries(
    planned.map((p) => [p.def.name, done[p.def.name] as ComponentManifest]),
  );
  log.info({ outDir, components: Object.keys(components) }, 'model built');
  return components;
}
