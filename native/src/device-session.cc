#include "device-session.h"

#include <cstring>
#include <limits>

#include "session-options.h"
#include "tensor-types.h"

namespace flux {
namespace {

// Frees an ORT-allocated string or array with the allocator that made it.
struct HostFree {
  const Runtime& rt;
  void* p;
  ~HostFree() {
    if (p != nullptr) rt.api.get<ort::entry::AllocatorFree>()(rt.host_allocator, p);
  }
};

std::string type_name(int type) {
  const ElementKind* kind = kind_by_type(type);
  return kind != nullptr ? kind->name : "onnx element type " + std::to_string(type);
}

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); i++) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

TensorSpec describe(Napi::Env env, const Runtime& rt, const ort::Session* session, size_t index, bool input) {
  const ort::Api& api = rt.api;
  char* raw_name = nullptr;
  check(env,
        input ? api.get<ort::entry::SessionGetInputName>()(session, index, rt.host_allocator, &raw_name)
              : api.get<ort::entry::SessionGetOutputName>()(session, index, rt.host_allocator, &raw_name),
        "reading the model's names");
  HostFree name_free{rt, raw_name};
  TensorSpec spec{raw_name, ort::kUndefined, {}};
  ort::TypeInfo* info = nullptr;
  check(env,
        input ? api.get<ort::entry::SessionGetInputTypeInfo>()(session, index, &info)
              : api.get<ort::entry::SessionGetOutputTypeInfo>()(session, index, &info),
        "reading the model's types");
  int onnx_type = 0;
  ort::Status* status = api.get<ort::entry::GetOnnxTypeFromTypeInfo>()(info, &onnx_type);
  if (status == nullptr && onnx_type == ort::kOnnxTypeTensor) {
    const ort::TensorTypeAndShapeInfo* tensor = nullptr;
    status = api.get<ort::entry::CastTypeInfoToTensorInfo>()(info, &tensor);
    size_t rank = 0;
    if (status == nullptr) status = api.get<ort::entry::GetTensorElementType>()(tensor, &spec.type);
    if (status == nullptr) status = api.get<ort::entry::GetDimensionsCount>()(tensor, &rank);
    spec.dims.resize(rank);
    if (status == nullptr) status = api.get<ort::entry::GetDimensions>()(tensor, spec.dims.data(), rank);
  }
  api.get<ort::entry::ReleaseTypeInfo>()(info);
  check(env, status, "reading the model's shapes");
  return spec;
}

const TensorSpec* find(const std::vector<TensorSpec>& specs, const std::string& name) {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

// The bytes of a TypedArray, Buffer or ArrayBuffer.
std::pair<const uint8_t*, size_t> bytes_of(Napi::Env env, const Napi::Value& data, const std::string& name) {
  if (data.IsTypedArray()) {
    Napi::TypedArray a = data.As<Napi::TypedArray>();
    return {static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), a.ByteLength()};
  }
  if (data.IsArrayBuffer()) {
    Napi::ArrayBuffer a = data.As<Napi::ArrayBuffer>();
    return {static_cast<const uint8_t*>(a.Data()), a.ByteLength()};
  }
  throw Napi::TypeError::New(env, "input " + name + ": data must be a TypedArray, Buffer or ArrayBuffer");
}

// The dims of `value` after checking them against the input's declared shape, and their byte size.
std::vector<int64_t> checked_dims(Napi::Env env, const TensorSpec& spec, const Napi::Value& value,
                                  size_t element_bytes, size_t* bytes) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, "input " + spec.name + ": dims must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int64_t> dims;
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value d = array.Get(i);
    const double n = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 0 && n <= 9007199254740991.0 && n == static_cast<double>(static_cast<int64_t>(n))))
      throw Napi::RangeError::New(env, "input " + spec.name + ": dims must be whole numbers ≥ 0");
    dims.push_back(static_cast<int64_t>(n));
  }
  bool fits = dims.size() == spec.dims.size();
  for (size_t i = 0; fits && i < dims.size(); i++) fits = spec.dims[i] < 0 || spec.dims[i] == dims[i];
  if (!fits)
    throw Napi::RangeError::New(env, "input " + spec.name + ": shape " + dims_text(dims) +
                                         " does not fit the model's " + dims_text(spec.dims) +
                                         " (-1 = any size)");
  size_t total = element_bytes;
  for (int64_t d : dims) {
    if (d != 0 && total > std::numeric_limits<size_t>::max() / static_cast<size_t>(d))
      throw Napi::RangeError::New(env, "input " + spec.name + ": shape " + dims_text(dims) + " is too large");
    total *= static_cast<size_t>(d);
  }
  *bytes = total;
  return dims;
}

}  // namespace

Napi::Function DeviceSession::Define(Napi::Env env) {
  return DefineClass(env, "DeviceSession",
                     {InstanceMethod<&DeviceSession::Inputs>("inputs"),
                      InstanceMethod<&DeviceSession::Outputs>("outputs"),
                      InstanceMethod<&DeviceSession::Bind>("bind"), InstanceMethod<&DeviceSession::Run>("run"),
                      InstanceMethod<&DeviceSession::Stats>("stats"),
                      InstanceMethod<&DeviceSession::Release>("release")});
}

DeviceSession::DeviceSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceSession>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "DeviceSession(path, options): path must be a string");
  const Napi::Object options = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  rt_ = &runtime(env);
  const ort::Api& api = rt_->api;
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  try {
    {
      SessionOptionsFromJs session_options(env, *rt_, options);
      check(env, api.get<ort::entry::CreateSession>()(rt_->env, path.c_str(), session_options.get(), &session_),
            ("creating the session for " + path).c_str());
    }
    size_t count = 0;
    check(env, api.get<ort::entry::SessionGetInputCount>()(session_, &count), "SessionGetInputCount");
    for (size_t i = 0; i < count; i++) inputs_.push_back(describe(env, *rt_, session_, i, true));
    check(env, api.get<ort::entry::SessionGetOutputCount>()(session_, &count), "SessionGetOutputCount");
    for (size_t i = 0; i < count; i++) outputs_.push_back(describe(env, *rt_, session_, i, false));
    check(env, api.get<ort::entry::CreateIoBinding>()(session_, &binding_), "CreateIoBinding");
    check(env, api.get<ort::entry::CreateCpuMemoryInfo>()(ort::kAllocatorDevice, ort::kMemTypeDefault, &host_memory_),
          "CreateCpuMemoryInfo");
  } catch (...) {
    Free();
    throw;
  }
}

DeviceSession::~DeviceSession() { Free(); }

void DeviceSession::Free() {
  if (rt_ == nullptr) return;
  const ort::Api& api = rt_->api;
  if (binding_ != nullptr) api.get<ort::entry::ReleaseIoBinding>()(binding_);
  if (session_ != nullptr) api.get<ort::entry::ReleaseSession>()(session_);
  if (host_memory_ != nullptr) api.get<ort::entry::ReleaseMemoryInfo>()(host_memory_);
  binding_ = nullptr;
  session_ = nullptr;
  host_memory_ = nullptr;
  bound_.clear();
  bound_bytes_ = 0;
}

const Runtime& DeviceSession::Live(Napi::Env env) const {
  if (session_ == nullptr) throw Napi::Error::New(env, "this DeviceSession was released");
  return *rt_;
}

static Napi::Value specs_to_js(Napi::Env env, const std::vector<TensorSpec>& specs) {
  Napi::Array out = Napi::Array::New(env, specs.size());
  for (size_t i = 0; i < specs.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", specs[i].name);
    o.Set("type", type_name(specs[i].type));
    Napi::Array dims = Napi::Array::New(env, specs[i].dims.size());
    for (size_t j = 0; j < specs[i].dims.size(); j++) dims.Set(j, static_cast<double>(specs[i].dims[j]));
    o.Set("dims", dims);
    out.Set(i, o);
  }
  return out;
}

Napi::Value DeviceSession::Inputs(const Napi::CallbackInfo& info) {
  Live(info.Env());
  return specs_to_js(info.Env(), inputs_);
}

Napi::Value DeviceSession::Outputs(const Napi::CallbackInfo& info) {
  Live(info.Env());
  return specs_to_js(info.Env(), outputs_);
}

void DeviceSession::BindFeed(Napi::Env env, const Napi::Value& feed) {
  const Runtime& rt = Live(env);
  const ort::Api& api = rt.api;
  if (!feed.IsObject()) throw Napi::TypeError::New(env, "a feed must be {name, type, dims, data}");
  const Napi::Object f = feed.As<Napi::Object>();
  const std::string name = f.Get("name").ToString().Utf8Value();
  const TensorSpec* spec = find(inputs_, name);
  if (spec == nullptr) throw Napi::Error::New(env, "the model has no input named " + name);
  const std::string type = f.Get("type").ToString().Utf8Value();
  const ElementKind* kind = kind_by_name(type);
  if (kind == nullptr || kind->type != spec->type)
    throw Napi::TypeError::New(env, "input " + name + ": type " + type + " given, the model takes " +
                                        type_name(spec->type));
  size_t bytes = 0;
  const std::vector<int64_t> dims = checked_dims(env, *spec, f.Get("dims"), kind->bytes, &bytes);
  const auto [data, length] = bytes_of(env, f.Get("data"), name);
  if (length != bytes)
    throw Napi::RangeError::New(env, "input " + name + ": " + std::to_string(length) + " bytes of data for shape " +
                                         dims_text(dims) + ", which needs " + std::to_string(bytes));
  // An ORT-owned host copy: the binding may keep this very value (CPU) or copy it to the GPU, and
  // either way the JS memory may be collected as soon as this returns.
  ort::Value* value = nullptr;
  check(env, api.get<ort::entry::CreateTensorAsOrtValue>()(rt.host_allocator, dims.data(), dims.size(), spec->type, &value),
        ("allocating input " + name).c_str());
  void* target = nullptr;
  ort::Status* status = api.get<ort::entry::GetTensorMutableData>()(value, &target);
  if (status == nullptr && bytes > 0) std::memcpy(target, data, bytes);
  if (status == nullptr) status = api.get<ort::entry::BindInput>()(binding_, name.c_str(), value);
  api.get<ort::entry::ReleaseValue>()(value);
  check(env, status, ("binding input " + name).c_str());
  bound_.insert(name);
  bound_bytes_ += static_cast<double>(bytes);
}

Napi::Value DeviceSession::Bind(const Napi::CallbackInfo& info) {
  BindFeed(info.Env(), info[0]);
  check(info.Env(), rt_->api.get<ort::entry::SynchronizeBoundInputs>()(binding_), "SynchronizeBoundInputs");
  return info.Env().Undefined();
}

Napi::Value DeviceSession::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Runtime& rt = Live(env);
  const ort::Api& api = rt.api;
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "run(feeds): feeds must be an array");
  Napi::Array feeds = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < feeds.Length(); i++) BindFeed(env, feeds.Get(i));
  std::string missing;
  for (const auto& s : inputs_)
    if (bound_.count(s.name) == 0) missing += (missing.empty() ? "" : ", ") + s.name;
  if (!missing.empty()) throw Napi::Error::New(env, "inputs neither bound nor fed: " + missing);
  check(env, api.get<ort::entry::SynchronizeBoundInputs>()(binding_), "SynchronizeBoundInputs");
  // Outputs are small (latents, embeddings): ORT allocates them on the host, anew at every run,
  // since a binding keeps the value of the last run and its shape would bind the next one.
  api.get<ort::entry::ClearBoundOutputs>()(binding_);
  for (const auto& o : outputs_)
    check(env, api.get<ort::entry::BindOutputToDevice>()(binding_, o.name.c_str(), host_memory_),
          ("binding output " + o.name).c_str());
  check(env, api.get<ort::entry::RunWithBinding>()(session_, nullptr, binding_), "run");

  ort::Value** values = nullptr;
  size_t count = 0;
  check(env, api.get<ort::entry::GetBoundOutputValues>()(binding_, rt.host_allocator, &values, &count),
        "GetBoundOutputValues");
  HostFree values_free{rt, values};
  Napi::Array out = Napi::Array::New(env, count);
  ort::Status* status = nullptr;
  for (size_t i = 0; i < count; i++) {
    ort::TensorTypeAndShapeInfo* shape = nullptr;
    int type = 0;
    size_t rank = 0;
    std::vector<int64_t> dims;
    void* data = nullptr;
    if (status == nullptr) status = api.get<ort::entry::GetTensorTypeAndShape>()(values[i], &shape);
    if (status == nullptr) status = api.get<ort::entry::GetTensorElementType>()(shape, &type);
    if (status == nullptr) status = api.get<ort::entry::GetDimensionsCount>()(shape, &rank);
    dims.resize(rank);
    if (status == nullptr) status = api.get<ort::entry::GetDimensions>()(shape, dims.data(), rank);
    if (status == nullptr) status = api.get<ort::entry::GetTensorMutableData>()(values[i], &data);
    if (shape != nullptr) api.get<ort::entry::ReleaseTensorTypeAndShapeInfo>()(shape);
    const ElementKind* kind = kind_by_type(type);
    if (status == nullptr && kind != nullptr) {
      size_t bytes = kind->bytes;
      for (int64_t d : dims) bytes *= static_cast<size_t>(d);
      Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
      if (bytes > 0) std::memcpy(buffer.Data(), data, bytes);
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", i < outputs_.size() ? outputs_[i].name : std::to_string(i));
      o.Set("type", kind->name);
      Napi::Array js_dims = Napi::Array::New(env, rank);
      for (size_t j = 0; j < rank; j++) js_dims.Set(j, static_cast<double>(dims[j]));
      o.Set("dims", js_dims);
      o.Set("data", buffer);
      out.Set(i, o);
    }
    if (status == nullptr && kind == nullptr)
      status = api.get<ort::entry::CreateStatus>()(ort::kErrorFail, ("output of " + type_name(type)).c_str());
  }
  for (size_t i = 0; i < count; i++) api.get<ort::entry::ReleaseValue>()(values[i]);
  check(env, status, "reading the outputs");
  return out;
}

Napi::Value DeviceSession::Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("uploadedBytes", bound_bytes_);
  o.Set("bound", static_cast<double>(bound_.size()));
  return o;
}

Napi::Value DeviceSession::Release(const Napi::CallbackInfo& info) {
  Free();
  return info.Env().Undefined();
}

}  // namespace flux
