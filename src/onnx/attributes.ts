/**
 * @module onnx/attributes
 * Node attributes from plain values. An integer JS number becomes an INT attribute; wrap it in
 * `float()` when the operator's schema wants a FLOAT (epsilon, alpha, scale), because ONNX Runtime
 * rejects an attribute of the wrong type at session creation.
 */
import { create } from '@bufbuild/protobuf';
import { type AttributeProto, AttributeProto_AttributeType, AttributeProtoSchema } from 'onnx-buf';

export class FloatAttr {
  constructor(readonly values: number | readonly number[]) {}
}

/**
 * @example node('LayerNormalization', [x, s, b], { axis: -1, epsilon: float(1e-6) })
 */
export function float(value: number | readonly number[]): FloatAttr {
  return new FloatAttr(value);
}

export type AttrValue = number | readonly number[] | string | FloatAttr;
export type Attrs = Readonly<Record<string, AttrValue>>;

function toInt(name: string, v: number): bigint {
  if (!Number.isSafeInteger(v)) throw new TypeError(`attribute ${name}: ${v} is not an integer; use float()`);
  return BigInt(v);
}

export function toAttributeProtos(attrs: Attrs): AttributeProto[] {
  return Object.entries(attrs).map(([name, v]) => {
    if (v instanceof FloatAttr) {
      return typeof v.values === 'number'
        ? create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: v.values })
        : create(AttributeProtoSchema, {
            name,
            type: AttributeProto_AttributeType.FLOATS,
            floats: [...v.values],
          });
    }
    if (typeof v === 'string') {
      return create(AttributeProtoSchema, {
        name,
        type: AttributeProto_AttributeType.STRING,
        s: new TextEncoder().encode(v),
      });
    }
    if (typeof v === 'number') {
      return create(AttributeProtoSchema, {
        name,
        type: AttributeProto_AttributeType.INT,
        i: toInt(name, v),
      });
    }
    return create(AttributeProtoSchema, {
      name,
      type: AttributeProto_AttributeType.INTS,
      ints: v.map((x) => toInt(name, x)),
    });
  });
}
