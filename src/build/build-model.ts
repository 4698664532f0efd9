/**
 * @module build/build-model
 * `flux-serve build`: checkpoint dir → model dir. Each component of the table in components.ts
 * becomes `<name>.onnx` + `<name>.onnx.data`, `manifest.json` describes them all, and the tokenizer
 * and scheduler files are copied so a model dir is all the runtime needs.
 */
import { access, cp, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ComputeDType, OpsVariant } from '../arch/build-context.js';
import { parameterCount } from '../arch/param-tensor.js';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import { writeModel } from '../onnx/model-writer.js';
import { type ComponentManifest, MANIFEST_FORMAT, writeManifest } from '../runtime/manifest.js';
import { openCheckpoint } from '../weights/checkpoint.js';
import type { WeightQuant } from '../weights/quantize.js';
import { COMPONENTS, type ComponentName, locateWeights, readComponentConfig } from './components.js';
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
}

export const BUILDER = 'flux-serve 0.1.0';

/** What the runtime needs besides the graphs, copied verbatim from the checkpoint. */
const RUNTIME_FILES = ['tokenizer', 'tokenizer_2', 'scheduler'] as const;

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
  // Read every config and locate every file first: a broken checkpoint fails before any writing.
  const planned = await Promise.all(
    wanted.map(async (def) => {
      const configJson = (await readComponentConfig(checkpointDir, def)) as Record<string, unknown>;
      return {
        def,
        configJson,
        plan: def.plan(configJson, options),
        file: await locateWeights(checkpointDir, def),
      };
    }),
  );
  const missing = [];
  for (const f of RUNTIME_FILES) {
    if (
      !(await access(join(checkpointDir, f)).then(
        () => true,
        () => false,
      ))
    )
      missing.push(f);
  }
  if (missing.length > 0 && !options.only) {
    throw errors.USAGE(
      `${checkpointDir} lacks ${missing.join(', ')}: a model dir needs the tokenizers and scheduler config`,
    );
  }
  await mkdir(outDir, { recursive: true });
  for (const f of RUNTIME_FILES) {
    if (!missing.includes(f)) await cp(join(checkpointDir, f), join(outDir, f), { recursive: true });
  }
  const components: Record<string, ComponentManifest> = {};
  for (const { def, configJson, plan, file } of planned) {
    const quant: Record<string, WeightQuant> = plan.quant ? { quant: plan.quant } : {};
    log.info({ component: def.name, weights: file, dtype: plan.dtype, ...quant }, `building ${def.name}`);
    const source = await openCheckpoint([file]);
    try {
      const graph = plan.build(source);
      const total = graph.initializers.reduce((n, t) => n + (t.constant ? 0 : t.byteLength), 0);
      const bar = progress(log, `writing ${def.name}`, total);
      await writeModel(graph, resolve(outDir, `${def.name}.onnx`), {
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
    components[def.name] = {
      file: `${def.name}.onnx`,
      data: `${def.name}.onnx.data`,
      dtype: plan.dtype,
      ...quant,
      ops: options.ops,
      config: configJson,
      inputs: plan.inputs,
      outputs: plan.outputs,
      tensors: plan.tensors.length,
      parameters: parameterCount(plan.tensors),
      weightLayout: plan.quant ? 'nbits_out_in' : 'in_out',
      layers: plan.layers,
      sources: await describeSources(checkpointDir, [file]),
    };
  }
  await writeManifest(outDir, {
    format: MANIFEST_FORMAT,
    builtAt: new Date().toISOString(),
    builder: BUILDER,
    source: resolve(checkpointDir),
    components,
  });
  log.info({ outDir, components: Object.keys(components) }, 'model built');
  return components;
}
