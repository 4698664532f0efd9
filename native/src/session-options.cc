#include "session-options.h"

#include <string>
#include <vector>

namespace flux {
namespace {

int integer_option(Napi::Env env, const Napi::Object& options, const char* key, int fallback) {
  if (!options.Has(key) || options.Get(key).IsUndefined()) return fallback;
  Napi::Value v = options.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("options.") + key + ": expected a number");
  return v.As<Napi::Number>().Int32Value();
}

// The string pairs of `options[key]` ({} when absent).
std::vector<std::pair<std::string, std::string>> string_pairs(Napi::Env env, const Napi::Object& options,
                                                              const char* key) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (!options.Has(key) || options.Get(key).IsUndefined()) return pairs;
  if (!options.Get(key).IsObject())
    throw Napi::TypeError::New(env, std::string("options.") + key + ": expected an object of strings");
  Napi::Object object = options.Get(key).As<Napi::Object>();
  Napi::Array names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).ToString();
    Napi::Value value = object.Get(name);
    if (!value.IsString())
      throw Napi::TypeError::New(env, std::string("options.") + key + "." + name + ": expected a string");
    pairs.emplace_back(name, value.As<Napi::String>().Utf8Value());
  }
  return pairs;
}

}  // namespace

SessionOptionsFromJs::SessionOptionsFromJs(Napi::Env env, const Runtime& rt, const Napi::Object& options)
    : rt_(rt) {
  const ort::Api& api = rt.api;
  check(env, api.get<ort::entry::CreateSessionOptions>()(&options_), "CreateSessionOptions");
  try {
    check(env,
          api.get<ort::entry::SetSessionGraphOptimizationLevel>()(
              options_, integer_option(env, options, "optimizationLevel", ort::kGraphOptimizationAll)),
          "SetSessionGraphOptimizationLevel");
    const int threads = integer_option(env, options, "threads", 0);
    if (threads < 0) throw Napi::RangeError::New(env, "options.threads: expected 0 (one per core) or more");
    check(env, api.get<ort::entry::SetIntraOpNumThreads>()(options_, threads), "SetIntraOpNumThreads");
    check(env,
          api.get<ort::entry::SetSessionLogSeverityLevel>()(
              options_, integer_option(env, options, "logSeverityLevel", ort::kLoggingWarning)),
          "SetSessionLogSeverityLevel");
    for (const auto& [key, value] : string_pairs(env, options, "config"))
      check(env, api.get<ort::entry::AddSessionConfigEntry>()(options_, key.c_str(), value.c_str()),
            "AddSessionConfigEntry");
    const std::string provider =
        options.Has("provider") ? options.Get("provider").ToString().Utf8Value() : std::string("cpu");
    if (provider == "cuda")
      AppendCuda(env, options);
    else if (provider != "cpu")
      throw Napi::RangeError::New(env, "options.provider: expected cpu or cuda, got " + provider);
  } catch (...) {
    api.get<ort::entry::ReleaseSessionOptions>()(options_);
    options_ = nullptr;
    throw;
  }
}

SessionOptionsFromJs::~SessionOptionsFromJs() {
  if (options_ != nullptr) rt_.api.get<ort::entry::ReleaseSessionOptions>()(options_);
}

void SessionOptionsFromJs::AppendCuda(Napi::Env env, const Napi::Object& options) {
  const ort::Api& api = rt_.api;
  ort::CudaProviderOptionsV2* cuda = nullptr;
  check(env, api.get<ort::entry::CreateCUDAProviderOptions>()(&cuda), "CreateCUDAProviderOptions");
  try {
    auto pairs = string_pairs(env, options, "cuda");
    pairs.emplace_back("device_id", std::to_string(integer_option(env, options, "deviceId", 0)));
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [k, v] : pairs) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    check(env, api.get<ort::entry::UpdateCUDAProviderOptions>()(cuda, keys.data(), values.data(), keys.size()),
          "CUDA provider options");
    check(env, api.get<ort::entry::SessionOptionsAppendExecutionProvider_CUDA_V2>()(options_, cuda),
          "the CUDA execution provider");
  } catch (...) {
    api.get<ort::entry::ReleaseCUDAProviderOptions>()(cuda);
    throw;
  }
  api.get<ort::entry::ReleaseCUDAProviderOptions>()(cuda);
}

}  // namespace flux
