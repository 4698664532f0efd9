// The element types a DeviceSession exchanges with JS, by the names onnxruntime-node's Tensor uses.
#pragma once

#include <cstddef>
#include <string>

namespace flux {

struct ElementKind {
  const char* name;
  int type;  // ONNXTensorElementDataType
  size_t bytes;
};

// The kind named `name`, or nullptr.
const ElementKind* kind_by_name(const std::string& name);
// The kind of ONNX element type `type`, or nullptr when DeviceSession does not exchange it.
const ElementKind* kind_by_type(int type);

}  // namespace flux
