// flux-serve's native addon: ONNX Runtime sessions with device-resident inputs, over the very
// libonnxruntime.so.1 that onnxruntime-node loads (src/runtime/native-addon.ts finds it).
#include <napi.h>

#include "device-session.h"
#include "runtime.h"

namespace flux {
namespace {

// load(libraryPath) → { version, buildInfo, providers }
Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "load(libraryPath): expected a string");
  const Runtime& rt = load(env, info[0].As<Napi::String>().Utf8Value());
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", ort::kRuntimeVersion);
  out.Set("buildInfo", rt.api.get<ort::entry::GetBuildInfoString>()());
  char** names = nullptr;
  int count = 0;
  check(env, rt.api.get<ort::entry::GetAvailableProviders>()(&names, &count), "GetAvailableProviders");
  Napi::Array providers = Napi::Array::New(env, count);
  for (int i = 0; i < count; i++) providers.Set(i, names[i]);
  check(env, rt.api.get<ort::entry::ReleaseAvailableProviders>()(names, count), "ReleaseAvailableProviders");
  out.Set("providers", providers);
  return out;
}

}  // namespace
}  // namespace flux

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("load", Napi::Function::New<flux::Load>(env, "load"));
  exports.Set("DeviceSession", flux::DeviceSession::Define(env));
  return exports;
}

NODE_API_MODULE(flux_native, Init)
