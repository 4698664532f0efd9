/**
 * Weight bytes of the full-width FLUX.1 [schnell] transformer and T5-XXL encoder per build variant
 * (fp16, fp16 + int8, fp16 + int4; block 32, float16 scales), computed from models/flux.1-schnell.json
 * with the builders' own accounting (src/arch/weight-bytes.ts). Nothing is built or read.
 *
 * Usage: npx tsx bench/quant-sizes.ts [model-name]
 */
import { parseT5Config } from '../src/arch/t5-config.js';
import { fluxWeightBytes, t5WeightBytes, type WeightVariant } from '../src/arch/weight-bytes.js';
import { loadModelSpec } from '../src/build/model-spec.js';

const spec = await loadModelSpec(process.argv[2] ?? 'flux.1-schnell');
const t5 = parseT5Config(spec.t5Json);
const variants: [string, WeightVariant][] = [
  ['fp16', { dtype: 'float16' }],
  ['fp16 + int8', { dtype: 'float16', quant: 'int8' }],
  ['fp16 + int4', { dtype: 'float16', quant: 'int4' }],
];
const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
const base = fluxWeightBytes(spec.transformer, { dtype: 'float16' });
process.stdout.write(`${spec.name}: weight bytes per variant\n`);
process.stdout.write(
  '| variant | transformer | vs fp16 | T5-XXL | transformer + T5 |\n| --- | --- | --- | --- | --- |\n',
);
for (const [name, v] of variants) {
  const tr = fluxWeightBytes(spec.transformer, v);
  const te = t5WeightBytes(t5, v);
  process.stdout.write(
    `| ${name} | ${tr.toLocaleString('en-US')} B (${gb(tr)}) | ${((100 * tr) / base).toFixed(1)} % | ${gb(te)} | ${gb(tr + te)} |\n`,
  );
}
