/**
 * @module onnx/opset
 * What the written models declare. IR 10 with ai.onnx 21 and com.microsoft 1 is what
 * onnxruntime-genai emits and what ONNX Runtime 1.29/1.30 load (onnx-runtime.md §1.4).
 */
export const IR_VERSION = 10n;
export const OPSET_IMPORTS = [
  { domain: '', version: 21n },
  { domain: 'com.microsoft', version: 1n },
] as const;
