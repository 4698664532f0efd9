/**
 * @module arch/flux
 * The FLUX.1 flow transformer as an ONNX graph: `(config, weights, options) → Graph`.
 * Ported from black-forest-labs/flux src/flux/model.py and modules/layers.py @802fb47 via
 * flux.md §3; the same code builds the 12B model and the tiny test models.
 *
 * ```
 * img ─► img_in ─┐                    txt ─► txt_in ─┐
 *                ▼                                   ▼
 *        19 × double block (img, txt, vec, rope) ── concat(txt, img)
 *                                        ─► 38 × single block ─► image tokens ─► final layer ─► out
 * vec = time_in(E(σ)) [+ guidance_in(E(g))] + vector_in(y)
 * ```
 */
import { Graph } from '../onnx/graph.js';
import { Scope } from '../onnx/scope.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { WeightQuant } from '../weights/quantize.js';
import { attention } from './attention.js';
import type { BuildContext, ComputeDType, OpsVariant } from './build-context.js';
import type { FluxConfig } from './flux-config.js';
import { FLUX_IO, fluxInputs, fluxOutputs } from './flux-io.js';
import { fluxLinears } from './flux-layers.js';
import { checkFluxWeights } from './flux-weights.js';
import { linear } from './linear.js';
import { modulate, qkRmsNorm } from './norm.js';
import type { LinearLayer } from './param-tensor.js';
import { clampFp16, geluTanh, int64s, silu, split, toCompute, toFloat32 } from './primitives.js';
import { applyRope, type RopeTables, ropeTables } from './rope.js';
import { timestepEmbedding } from './timestep-embedding.js';

export interface FluxBuildOptions {
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
  /** Block-quantized linear weights for MatMulNBits (arch/linear-nbits.ts); absent: float weights. */
  readonly quant?: WeightQuant;
}

interface FluxContext extends BuildContext {
  readonly c: FluxConfig;
  readonly layers: ReadonlyMap<string, LinearLayer>;
  readonly rope: RopeTables;
  /** int64 [2] = [txt tokens, img tokens], to split the joint sequence back. */
  readonly seqSplit: string;
}

function dense(f: FluxContext, s: Scope, x: string): string {
  const layer = f.layers.get(s.name);
  if (!layer) throw new Error(`no linear layer ${s.name} in the FLUX layer table`);
  return linear(f, s, x, layer);
}

/** in_layer ─► SiLU ─► out_layer (BFL MLPEmbedder). */
function mlpEmbedder(f: FluxContext, s: Scope, x: string): string {
  return dense(f, s.at('out_layer'), silu(f, s.at('silu'), dense(f, s.at('in_layer'), x)));
}

/** Linear(SiLU(vec)) [B, n·D] ─► n chunks [B, 1, D] (shift, scale, gate, …). */
function modulation(f: FluxContext, s: Scope, vecAct: string, n: number): string[] {
  const m = dense(f, s, vecAct);
  const rows = f.g.node(s.node('Unsqueeze'), 'Unsqueeze', [m, int64s(f, [1])]); // [B, 1, n·D]
  return split(f, s.at('chunks'), rows, 2, new Array(n).fill(f.c.hiddenSize));
}

function residual(f: FluxContext, s: Scope, x: string, gate: string, y: string): string {
  return f.g.node(s.node('Add'), 'Add', [x, f.g.node(s.node('Mul_gate'), 'Mul', [gate, y])]);
}

/** Projects, splits and QK-normalizes one stream's q, k, v (each [B, n, D]). */
function streamQkv(f: FluxContext, s: Scope, y: string): [string, string, string] {
  const { hiddenSize: d, numHeads: h, headDim } = f.c;
  const [q, k, v] = split(f, s.at('split'), dense(f, s.at('qkv'), y), 2, [d, d, d]) as [
    string,
    string,
    string,
  ];
  const norm = s.at('norm');
  return [
    qkRmsNorm(f, norm.at('query_norm'), q, h, headDim),
    qkRmsNorm(f, norm.at('key_norm'), k, h, headDim),
    v,
  ];
}

function ropeAttention(f: FluxContext, s: Scope, q: string, k: string, v: string): string {
  const { numHeads: h, headDim } = f.c;
  const qr = applyRope(f, s.at('rope_q'), q, f.rope, h, headDim);
  const kr = applyRope(f, s.at('rope_k'), k, f.rope, h, headDim);
  return attention(f, s.at('attention'), qr, kr, v, h, headDim);
}

/** BFL DoubleStreamBlock (flux.md §3.5): separate weights per stream, joint attention over [txt; img]. */
function doubleBlock(f: FluxContext, s: Scope, img: string, txt: string, vecAct: string): [string, string] {
  const { g } = f;
  const d = f.c.hiddenSize;
  const streams = { img, txt };
  const mods = {} as Record<'img' | 'txt', string[]>;
  const qkv = {} as Record<'img' | 'txt', [string, string, string]>;
  for (const name of ['img', 'txt'] as const) {
    mods[name] = modulation(f, s.at(`${name}_mod`).at('lin'), vecAct, 6);
    const [shift1, scale1] = mods[name] as [string, string];
    qkv[name] = streamQkv(
      f,
      s.at(`${name}_attn`),
      modulate(f, s.at(`${name}_norm1`), streams[name], d, shift1, scale1),
    );
  }
  const joint = (i: 0 | 1 | 2, n: string) =>
    g.node(s.node(`Concat_${n}`), 'Concat', [qkv.txt[i], qkv.img[i]], { axis: 1 });
  const attn = ropeAttention(f, s, joint(0, 'q'), joint(1, 'k'), joint(2, 'v'));
  const [attnTxt, attnImg] = g.nodeN(
    s.node('Split_attn'),
    'Split',
    [attn, f.seqSplit],
    { axis: 1 },
    { outputs: 2 },
  );
  const attnOut = { img: attnImg as string, txt: attnTxt as string };

  const out = {} as Record<'img' | 'txt', string>;
  for (const name of ['img', 'txt'] as const) {
    const [, , gate1, shift2, scale2, gate2] = mods[name] as string[];
    const proj = dense(f, s.at(`${name}_attn`).at('proj'), attnOut[name]);
    const x = residual(f, s.at(`${name}_residual1`), streams[name], gate1 as string, proj);
    const hidden = modulate(f, s.at(`${name}_norm2`), x, d, shift2 as string, scale2 as string);
    const mlp = s.at(`${name}_mlp`);
    const y = dense(f, mlp.at(2), geluTanh(f, mlp.at('gelu'), dense(f, mlp.at(0), hidden)));
    out[name] = residual(f, s.at(`${name}_residual2`), x, gate2 as string, y);
  }
  return [out.img, clampFp16(f, s.at('txt_clamp'), out.txt)];
}

/** BFL SingleStreamBlock (flux.md §3.6): linear1 → [q | k | v | mlp], linear2 over [attn | gelu(mlp)]. */
function singleBlock(f: FluxContext, s: Scope, x: string, vecAct: string): string {
  const { hiddenSize: d, numHeads: h, headDim, mlpHidden } = f.c;
  const [shift, scale, gate] = modulation(f, s.at('modulation').at('lin'), vecAct, 3) as [
    string,
    string,
    string,
  ];
  const y = modulate(f, s.at('pre_norm'), x, d, shift, scale);
  const [q, k, v, mlp] = split(f, s.at('split'), dense(f, s.at('linear1'), y), 2, [
    d,
    d,
    d,
    mlpHidden,
  ]) as string[];
  const norm = s.at('norm');
  const attn = ropeAttention(
    f,
    s,
    qkRmsNorm(f, norm.at('query_norm'), q as string, h, headDim),
    qkRmsNorm(f, norm.at('key_norm'), k as string, h, headDim),
    v as string,
  );
  const both = f.g.node(
    s.node('Concat_attn_mlp'),
    'Concat',
    [attn, geluTanh(f, s.at('gelu'), mlp as string)],
    { axis: 2 },
  );
  return clampFp16(f, s.at('clamp'), residual(f, s.at('residual'), x, gate, dense(f, s.at('linear2'), both)));
}

/** BFL LastLayer (flux.md §3.7): adaLN halves in BFL order [shift; scale]. */
function finalLayer(f: FluxContext, s: Scope, img: string, vecAct: string): string {
  const [shift, scale] = modulation(f, s.at('adaLN_modulation').at(1), vecAct, 2) as [string, string];
  return dense(f, s.at('linear'), modulate(f, s.at('norm_final'), img, f.c.hiddenSize, shift, scale));
}

/**
 * @example
 * const graph = buildFlux(parseFluxConfig(json), await openCheckpoint([file]), { dtype: 'float16', ops: 'fused' });
 * await writeModel(graph, 'model/transformer.onnx');
 */
export function buildFlux(c: FluxConfig, weights: WeightSource, options: FluxBuildOptions): Graph {
  checkFluxWeights(c, weights);
  const g = new Graph('flux_transformer');
  const root = new Scope();
  const base: BuildContext = { g, weights, dtype: options.dtype, ops: options.ops, quant: options.quant };
  for (const io of fluxInputs(c)) g.input(io.name, io.dtype, io.dims);

  const ids = g.node('/ids/Concat', 'Concat', [FLUX_IO.txtIds, FLUX_IO.imgIds], { axis: 1 }); // [B, T+L, 3]
  const tokens = (x: string, n: string) => g.node(`/tokens/Shape_${n}`, 'Shape', [x], { start: 1, end: 2 });
  const f: FluxContext = {
    ...base,
    c,
    layers: new Map(fluxLinears(c).map((l) => [l.name, l])),
    rope: ropeTables(base, root.at('rope'), ids, c.axesDimsRope, c.ropeTheta),
    seqSplit: g.node('/tokens/Concat', 'Concat', [tokens(FLUX_IO.txt, 'txt'), tokens(FLUX_IO.img, 'img')], {
      axis: 0,
    }),
  };

  let vec = g.node('/vec/Add_vector', 'Add', [
    mlpEmbedder(
      f,
      root.at('time_in'),
      timestepEmbedding(f, root.at('time_embedding'), FLUX_IO.timesteps, c.timestepEmbeddingDim),
    ),
    mlpEmbedder(f, root.at('vector_in'), toCompute(f, root.at('y'), FLUX_IO.y)),
  ]);
  if (c.guidanceEmbeds) {
    const guidance = timestepEmbedding(
      f,
      root.at('guidance_embedding'),
      FLUX_IO.guidance,
      c.timestepEmbeddingDim,
    );
    vec = g.node('/vec/Add_guidance', 'Add', [vec, mlpEmbedder(f, root.at('guidance_in'), guidance)]);
  }
  const vecAct = silu(f, root.at('vec_silu'), vec); // every consumer of vec applies SiLU first

  let img = dense(f, root.at('img_in'), toCompute(f, root.at('img'), FLUX_IO.img));
  let txt = dense(f, root.at('txt_in'), toCompute(f, root.at('txt'), FLUX_IO.txt));
  for (let i = 0; i < c.numLayers; i++)
    [img, txt] = doubleBlock(f, root.at('double_blocks').at(i), img, txt, vecAct);
  let x = g.node('/single_stream/Concat', 'Concat', [txt, img], { axis: 1 }); // [B, T+L, D]
  for (let i = 0; i < c.numSingleLayers; i++) x = singleBlock(f, root.at('single_blocks').at(i), x, vecAct);
  const [, imgTokens] = g.nodeN(
    '/single_stream/Split',
    'Split',
    [x, f.seqSplit],
    { axis: 1 },
    { outputs: 2 },
  );
  const out = finalLayer(f, root.at('final_layer'), imgTokens as string, vecAct);
  const [spec] = fluxOutputs(c);
  if (!spec) throw new Error('unreachable');
  g.output(toFloat32(f, root.at('out'), out), spec.name, spec.dtype, spec.dims);
  return g;
}
