// An ONNX Runtime session whose inputs live on its device between runs (IO binding): `bind` copies
// a host tensor there once and it stays for every later run until it is bound again; `run` copies
// only the inputs given to it, runs, and returns host copies of the outputs. This is what
// onnxruntime-node cannot do: it sends every feed to the device on every run (docs/runtime.md).
#pragma once

#include <napi.h>

#include <set>
#include <string>
#include <vector>

#include "runtime.h"

namespace flux {

struct TensorSpec {
  std::string name;
  int type;
  std::vector<int64_t> dims;  // -1 for a symbolic dimension
};

class DeviceSession : public Napi::ObjectWrap<DeviceSession> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit DeviceSession(const Napi::CallbackInfo& info);
  ~DeviceSession() override;

 private:
  Napi::Value Inputs(const Napi::CallbackInfo& info);
  Napi::Value Outputs(const Napi::CallbackInfo& info);
  Napi::Value Bind(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);

  void Free();
  const Runtime& Live(Napi::Env env) const;
  // Copies the tensor described by `feed` ({name, type, dims, data}) to the device and binds it.
  void BindFeed(Napi::Env env, const Napi::Value& feed);

  const Runtime* rt_ = nullptr;
  ort::Session* session_ = nullptr;
  ort::IoBinding* binding_ = nullptr;
  ort::MemoryInfo* host_memory_ = nullptr;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  std::set<std::string> bound_;
  double bound_bytes_ = 0;
};

}  // namespace flux
