/**
 * @module build/build-model
 * `flux-serve build`: checkpoint dir → model dir (ONNX graphs, external weights, manifest.json).
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ComputeDType, OpsVariant } from '../arch/build-context.js';
import { buildFlux } from '../arch/flux.js';
import { fluxInputs, fluxOutputs, loraInputs } from '../arch/flux-io.js';
import { fluxLinears, fluxTensors, parameterCount } from '../arch/flux-layers.js';
import { fluxWeightsAsBfl } from '../arch/flux-names.js';
import type { Logger } from '../log.js';
import { writeModel } from '../onnx/model-writer.js';
import { openCheckpoint } from '../weights/checkpoint.js';
import { locateTransformer } from './locate-checkpoint.js';
import { type ComponentManifest, writeManifest } from './manifest.js';
import { progress } from './progress.js';
import { describeSources } from './source-files.js';

export interface BuildOptions {
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
  readonly log: Logger;
}

const BUILDER = 'flux-serve 0.1.0';

/** @example await buildModel('ckpt/FLUX.1-schnell', 'models/schnell-fp16', { dtype: 'float16', ops: 'fused', log }); */
export async function buildModel(
  checkpointDir: string,
  outDir: string,
  options: BuildOptions,
): Promise<ComponentManifest> {
  const { log } = options;
  const located = await locateTransformer(checkpointDir);
  const c = located.config;
  log.info(
    { checkpoint: checkpointDir, layout: located.layout, files: located.files },
    'building transformer',
  );
  const source = await openCheckpoint(located.files);
  try {
    const graph = buildFlux(c, fluxWeightsAsBfl(c, source), { dtype: options.dtype, ops: options.ops });
    await mkdir(outDir, { recursive: true });
    const total = graph.initializers.reduce((n, t) => n + (t.constant ? 0 : t.byteLength), 0);
    const bar = progress(log, 'writing transformer', total);
    const written = await writeModel(graph, resolve(outDir, 'transformer.onnx'), {
      onProgress: (p) => bar.update(p.bytesDone, p.tensor),
      metadata: { builder: BUILDER, dtype: options.dtype, ops: options.ops },
    });
    bar.stop();
    log.info(
      { modelBytes: written.modelBytes, dataBytes: written.dataBytes },
      'transformer written; hashing sources',
    );
    const tensors = fluxTensors(c);
    const component: ComponentManifest = {
      file: 'transformer.onnx',
      data: 'transformer.onnx.data',
      dtype: options.dtype,
      ops: options.ops,
      config: located.configJson,
      inputs: fluxInputs(c),
      outputs: fluxOutputs(c),
      tensors: tensors.length,
      parameters: parameterCount(tensors),
      weightLayout: 'in_out',
      layers: fluxLinears(c).map((l) => {
        const lora = loraInputs(l);
        return { name: l.name, in: l.in, out: l.out, loraA: lora.a.name, loraB: lora.b.name };
      }),
      sources: await describeSources(checkpointDir, located.files),
    };
    await writeManifest(outDir, {
      format: 1,
      builtAt: new Date().toISOString(),
      builder: BUILDER,
      source: resolve(checkpointDir),
      components: { transformer: component },
    });
    log.info({ outDir }, 'model built');
    return component;
  } finally {
    await source.close();
  }
}
