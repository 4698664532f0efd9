/**
 * @module onnx/scope
 * One hierarchical name serves the checkpoint key, the ONNX node and the LoRA target, so no layer
 * name is ever typed twice.
 */

export class Scope {
  constructor(readonly path: readonly string[] = []) {}

  /** @example new Scope().at('double_blocks').at(3).at('img_attn').name === 'double_blocks.3.img_attn' */
  at(part: string | number): Scope {
    return new Scope([...this.path, String(part)]);
  }

  /** The dotted layer name, as in BFL checkpoints and LoRA targets. */
  get name(): string {
    return this.path.join('.');
  }

  /** @example scope.key('weight') === 'double_blocks.3.img_attn.qkv.weight' */
  key(leaf: string): string {
    return [...this.path, leaf].join('.');
  }

  /** @example scope.node('MatMul') === '/double_blocks.3/img_attn/qkv/MatMul' */
  node(op: string): string {
    return `/${[...this.path, op].join('/').replace(/\/(\d+)(?=\/)/g, '.$1')}`;
  }
}
