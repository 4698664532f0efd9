/**
 * Test support: a tiny ONNX image classifier built with the project's own graph writer, standing in
 * for a converted Falconsai ViT. pixel_values [1, 3, 8, 8] → GlobalAveragePool → Flatten → MatMul →
 * logits [1, 2] over labels (normal, nsfw), with weights that make "nsfw" the red-minus-blue
 * channel mean: a red image scores ~1, a blue one ~0, grey 0.5.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Graph } from '../../src/onnx/graph.js';
import { writeModel } from '../../src/onnx/model-writer.js';

export const TINY_CLASSIFIER_SPEC = {
  size: { height: 8, width: 8 },
  image_mean: [0.5, 0.5, 0.5],
  image_std: [0.5, 0.5, 0.5],
  labels: ['normal', 'nsfw'],
  nsfw_labels: ['nsfw'],
  threshold: 0.85,
};

/** Writes `model.onnx` (+ its external data) and `model.json` into `dir`. */
export async function writeTinyClassifier(dir: string, spec: object = TINY_CLASSIFIER_SPEC): Promise<void> {
  const g = new Graph('tiny-safety');
  const x = g.input('pixel_values', 'float32', [1, 3, 8, 8]);
  // Rows: R, G, B channel means; columns: normal, nsfw logits.
  const w = Float32Array.from([-4, 4, 0, 0, 4, -4]);
  const weight = g.initializer('classifier.weight', 'float32', [3, 2], () => new Uint8Array(w.buffer));
  const pooled = g.node('/pool/GlobalAveragePool', 'GlobalAveragePool', [x]);
  const flat = g.node('/pool/Flatten', 'Flatten', [pooled], { axis: 1 });
  const logits = g.node('/classifier/MatMul', 'MatMul', [flat, weight]);
  g.output(logits, 'logits', 'float32', [1, 2]);
  await writeModel(g, join(dir, 'model.onnx'));
  await writeFile(join(dir, 'model.json'), JSON.stringify(spec));
}
