/** Test support: runs a built T5 encoder graph on the CPU EP from plain token ids. */
import * as ort from 'onnxruntime-node';
import { T5_IO } from '../../src/arch/t5.js';

/** Feeds `ids` ([batch, seq], row-major) and returns `hidden` [batch, seq, d_model] as float32. */
export async function runT5(
  session: ort.InferenceSession,
  ids: readonly number[],
  batch: number,
  seq: number,
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const input = new ort.Tensor(
    'int64',
    BigInt64Array.from(ids, (v) => BigInt(v)),
    [batch, seq],
  );
  const out = (await session.run({ [T5_IO.inputIds]: input }))[T5_IO.hidden];
  if (!out) throw new Error('no output');
  if (out.type !== 'float32') throw new Error(`hidden is ${out.type}, not float32`);
  return { data: out.data as Float32Array, dims: out.dims };
}
