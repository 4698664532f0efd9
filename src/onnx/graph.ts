/**
 * @module onnx/graph
 * An ONNX graph under construction: typed inputs and outputs, lazily produced initializers (the
 * weights are read one tensor at a time when the model is written), deduplicated small constants and
 * nodes named by path. Every node input must already exist, so a graph is topologically ordered by
 * construction and a wiring mistake fails at build time, not in ONNX Runtime.
 */
import { f32ToF16 } from '../weights/float16.js';
import { type Attrs, toAttributeProtos } from './attributes.js';
import { DTYPE_BYTES, type DType } from './dtype.js';

/** A dimension: a fixed size, or a symbolic name such as 'batch'. */
export type Dim = number | string;

export interface ValueSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly Dim[];
}

export interface InitializerSpec extends ValueSpec {
  readonly dims: readonly number[];
  readonly byteLength: number;
  /** Produces the little-endian bytes when the model is written; called once. */
  readonly bytes: () => Uint8Array | Promise<Uint8Array>;
  /** Small tensors created by the builder itself (shape constants, epsilons), not weights. */
  readonly constant: boolean;
}

export interface NodeSpec {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReturnType<typeof toAttributeProtos>;
}

export interface NodeOptions {
  readonly domain?: string;
  readonly outputs?: number;
  /** Explicit output names instead of `<node>/output_<i>` (graph outputs). */
  readonly outputNames?: readonly string[];
}

export const MS_DOMAIN = 'com.microsoft';

function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

function constantBytes(dtype: DType, values: readonly number[]): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'float16':
      return new Uint8Array(f32ToF16(Float32Array.from(values)).buffer);
    case 'int64':
      return new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values).buffer);
    case 'bool':
    case 'uint8':
      return Uint8Array.from(values);
  }
}

export class Graph {
  readonly inputs: ValueSpec[] = [];
  readonly outputs: ValueSpec[] = [];
  readonly initializers: InitializerSpec[] = [];
  readonly nodes: NodeSpec[] = [];
  private readonly known = new Set<string>();

  constructor(readonly name: string) {}

  private define(name: string): void {
    if (this.known.has(name)) throw new Error(`graph ${this.name}: value ${name} defined twice`);
    this.known.add(name);
  }

  has(name: string): boolean {
    return this.known.has(name);
  }

  input(name: string, dtype: DType, dims: readonly Dim[]): string {
    this.define(name);
    this.inputs.push({ name, dtype, dims });
    return name;
  }

  /** Declares `value` as graph output `name` (renaming through Identity when they differ). */
  output(value: string, name: string, dtype: DType, dims: readonly Dim[]): void {
    if (value !== name) this.nodeN(`/outputs/${name}`, 'Identity', [value], {}, { outputNames: [name] });
    this.outputs.push({ name, dtype, dims });
  }

  /** A weight: `bytes()` is called once, when the model is written. */
  initializer(name: string, dtype: DType, dims: readonly number[], bytes: InitializerSpec['bytes']): string {
    this.define(name);
    const byteLength = elementCount(dims) * DTYPE_BYTES[dtype];
    this.initializers.push({ name, dtype, dims, byteLength, bytes, constant: false });
    return name;
  }

  /** A small constant, named by its value and shared by every user. */
  constant(dtype: DType, dims: readonly number[], values: readonly number[]): string {
    if (elementCount(dims) !== values.length) {
      throw new Error(`constant of shape [${dims}] needs ${elementCount(dims)} values, got ${values.length}`);
    }
    const name = `/constants/${dtype}/[${dims}]/${values.length <= 8 ? `[${values}]` : hashValues(values)}`;
    if (this.known.has(name)) return name;
    this.define(name);
    const data = constantBytes(dtype, values);
    this.initializers.push({
      name,
      dtype,
      dims,
      byteLength: data.byteLength,
      bytes: () => data,
      constant: true,
    });
    return name;
  }

  /** Adds a node with one output and returns the output's name (`<node>/output_0`). */
  node(
    name: string,
    opType: string,
    inputs: readonly string[],
    attrs: Attrs = {},
    options: NodeOptions = {},
  ): string {
    const [out] = this.nodeN(name, opType, inputs, attrs, { ...options, outputs: 1 });
    return out as string;
  }

  /** Adds a node with `options.outputs` outputs and returns their names. */
  nodeN(
    name: string,
    opType: string,
    inputs: readonly string[],
    attrs: Attrs = {},
    options: NodeOptions = {},
  ): string[] {
    for (const input of inputs) {
      if (input !== '' && !this.known.has(input)) {
        throw new Error(
          `graph ${this.name}: node ${name} (${opType}) reads ${input}, which is not defined yet`,
        );
      }
    }
    const outputs = options.outputNames
      ? [...options.outputNames]
      : Array.from({ length: options.outputs ?? 1 }, (_, i) => `${name}/output_${i}`);
    this.define(name);
    for (const o of outputs) this.define(o);
    this.nodes.push({
      name,
      opType,
      domain: options.domain ?? '',
      inputs: [...inputs],
      outputs,
      attributes: toAttributeProtos(attrs),
    });
    return outputs;
  }
}

function hashValues(values: readonly number[]): string {
  // FNV-1a over the decimal text: a short stable name for constants too long to spell out.
  let h = 0x811c9dc5;
  for (const ch of values.join(',')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${values.length}x${h.toString(16)}`;
}
