/**
 * @module arch/conv
 * A 2-D convolution with bias from a PyTorch weight [out, in, k, k] (ONNX Conv uses the same layout,
 * so the checkpoint bytes go in unchanged).
 */
import type { Scope } from '../onnx/scope.js';
import type { BuildContext } from './build-context.js';
import { weightBytes } from './linear.js';

/** A Conv2d layer named by its BFL module path (weight = `<name>.weight` [out, in, k, k], bias [out]). */
export interface Conv2dLayer {
  readonly name: string;
  readonly in: number;
  readonly out: number;
  readonly kernel: number;
}

export interface Conv2dOptions {
  /** Default 1. */
  readonly stride?: number;
  /**
   * Zero padding [top, left, bottom, right]; default (k - 1) / 2 on every side ("same" for odd k).
   * [0, 0, 1, 1] with stride 2 is the VAE downsample's F.pad(0, 1, 0, 1) + conv(padding 0), in one node.
   */
  readonly pads?: readonly [number, number, number, number];
}

/**
 * x [B, in, H, W] ─► Conv(W, b) ─► [B, out, H', W'], weights in the compute dtype.
 * @example const y = conv2d(b, s.at('conv_in'), x, { name: 'decoder.conv_in', in: 16, out: 512, kernel: 3 });
 */
export function conv2d(
  b: BuildContext,
  s: Scope,
  x: string,
  layer: Conv2dLayer,
  options: Conv2dOptions = {},
): string {
  const { g, weights, dtype } = b;
  const k = layer.kernel;
  const wKey = s.key('weight');
  const bKey = s.key('bias');
  const w = g.initializer(wKey, dtype, [layer.out, layer.in, k, k], async () =>
    weightBytes(await weights.readF32(wKey), dtype),
  );
  const bias = g.initializer(bKey, dtype, [layer.out], async () =>
    weightBytes(await weights.readF32(bKey), dtype),
  );
  const p = (k - 1) / 2;
  if (!Number.isInteger(p) && options.pads === undefined) {
    throw new Error(`conv ${layer.name}: even kernel ${k} needs explicit pads`);
  }
  const stride = options.stride ?? 1;
  return g.node(s.node('Conv'), 'Conv', [x, w, bias], {
    kernel_shape: [k, k],
    strides: [stride, stride],
    pads: [...(options.pads ?? [p, p, p, p])],
    dilations: [1, 1],
    group: 1,
  });
}
