#include "tensor-types.h"

#include "ort-api.h"

namespace flux {
namespace {

constexpr ElementKind kKinds[] = {
    {"float32", ort::kFloat, 4}, {"float16", ort::kFloat16, 2}, {"bfloat16", ort::kBfloat16, 2},
    {"float64", ort::kDouble, 8}, {"int64", ort::kInt64, 8},     {"int32", ort::kInt32, 4},
    {"int16", ort::kInt16, 2},    {"int8", ort::kInt8, 1},       {"uint64", ort::kUint64, 8},
    {"uint32", ort::kUint32, 4},  {"uint16", ort::kUint16, 2},   {"uint8", ort::kUint8, 1},
    {"bool", ort::kBool, 1},
};

}  // namespace

const ElementKind* kind_by_name(const std::string& name) {
  for (const auto& k : kKinds)
    if (name == k.name) return &k;
  return nullptr;
}

const ElementKind* kind_by_type(int type) {
  for (const auto& k : kKinds)
    if (type == k.type) return &k;
  return nullptr;
}

}  // namespace flux
