/**
 * @module onnx/model-writer
 * Writes a Graph as `<name>.onnx` plus one external data file `<name>.onnx.data` holding every
 * weight. Tensors are produced and written one at a time, so peak memory is the largest single
 * tensor whatever the model's size, and the .onnx stays far below protobuf's 2 GiB limit. The
 * builder's own small constants (axes, shapes, split sizes) stay inline: ONNX Runtime's shape
 * inference cannot read them from external data ("Cannot parse data from external tensors").
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { ONNX_DTYPE } from './dtype.js';
import type { Graph, InitializerSpec, ValueSpec } from './graph.js';
import { IR_VERSION, OPSET_IMPORTS } from './opset.js';

/** Tensors of at least a page start on a page boundary so ONNX Runtime can mmap them in place. */
const PAGE_BYTES = 4096;
/** Smaller tensors only need an alignment that every element type and SIMD load is happy with. */
const SMALL_ALIGN_BYTES = 64;

export interface WriteProgress {
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensor: string;
}

export interface WriteOptions {
  readonly onProgress?: (p: WriteProgress) => void;
  /** Stored as model metadata_props (e.g. the flux-serve version and build options). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface WrittenModel {
  readonly modelPath: string;
  readonly dataPath: string;
  readonly modelBytes: number;
  readonly dataBytes: number;
}

function alignUp(offset: number, tensorBytes: number): number {
  const a = tensorBytes >= PAGE_BYTES ? PAGE_BYTES : SMALL_ALIGN_BYTES;
  return Math.ceil(offset / a) * a;
}

function valueInfo(v: ValueSpec): ValueInfoProto {
  const dim = v.dims.map((d) =>
    typeof d === 'number'
      ? create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } })
      : create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: d } }),
  );
  const tensorType = create(TypeProto_TensorSchema, {
    elemType: ONNX_DTYPE[v.dtype],
    shape: create(TensorShapeProtoSchema, { dim }),
  });
  return create(ValueInfoProtoSchema, {
    name: v.name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

function externalTensor(init: InitializerSpec, location: string, offset: number) {
  const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
  return create(TensorProtoSchema, {
    name: init.name,
    dims: init.dims.map((d) => BigInt(d)),
    dataType: ONNX_DTYPE[init.dtype],
    dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [
      entry('location', location),
      entry('offset', String(offset)),
      entry('length', String(init.byteLength)),
    ],
  });
}

function inlineTensor(init: InitializerSpec, rawData: Uint8Array) {
  return create(TensorProtoSchema, {
    name: init.name,
    dims: init.dims.map((d) => BigInt(d)),
    dataType: ONNX_DTYPE[init.dtype],
    rawData: new Uint8Array(rawData),
  });
}

/**
 * @example await writeModel(graph, 'out/transformer.onnx', { onProgress: (p) => bar.update(p.bytesDone) })
 */
export async function writeModel(
  graph: Graph,
  modelPath: string,
  options: WriteOptions = {},
): Promise<WrittenModel> {
  const dataPath = `${modelPath}.data`;
  const location = basename(dataPath);
  const weights = graph.initializers.filter((t) => !t.constant);
  const bytesTotal = weights.reduce((n, t) => n + t.byteLength, 0);
  const tensors = [];
  for (const c of graph.initializers.filter((t) => t.constant))
    tensors.push(inlineTensor(c, await c.bytes()));
  const fd = await open(`${dataPath}.partial`, 'w');
  let offset = 0;
  let bytesDone = 0;
  try {
    for (const [i, init] of weights.entries()) {
      const start = alignUp(offset, init.byteLength);
      const bytes = await init.bytes();
      if (bytes.byteLength !== init.byteLength) {
        throw new Error(
          `initializer ${init.name}: produced ${bytes.byteLength} bytes, expected ${init.byteLength}`,
        );
      }
      if (start > offset) await fd.write(new Uint8Array(start - offset), 0, start - offset, offset);
      await fd.write(bytes, 0, bytes.byteLength, start);
      tensors.push(externalTensor(init, location, start));
      offset = start + bytes.byteLength;
      bytesDone += bytes.byteLength;
      options.onProgress?.({
        tensorsDone: i + 1,
        tensorsTotal: weights.length,
        bytesDone,
        bytesTotal,
        tensor: init.name,
      });
    }
  } catch (error) {
    await fd.close();
    await rm(`${dataPath}.partial`, { force: true });
    throw error;
  }
  await fd.close();

  const model = create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'flux-serve',
    opsetImport: OPSET_IMPORTS.map((o) => create(OperatorSetIdProtoSchema, o)),
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) =>
      create(StringStringEntryProtoSchema, { key, value }),
    ),
    graph: create(GraphProtoSchema, {
      name: graph.name,
      node: graph.nodes.map((n) =>
        create(NodeProtoSchema, {
          name: n.name,
          opType: n.opType,
          domain: n.domain,
          input: [...n.inputs],
          output: [...n.outputs],
          attribute: n.attributes,
        }),
      ),
      initializer: tensors,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    }),
  });
  const modelBytes = toBinary(ModelProtoSchema, model);
  const mfd = await open(`${modelPath}.partial`, 'w');
  await mfd.writeFile(modelBytes);
  await mfd.close();
  await rename(`${dataPath}.partial`, dataPath);
  await rename(`${modelPath}.partial`, modelPath);
  return { modelPath, dataPath, modelBytes: modelBytes.byteLength, dataBytes: offset };
}
