#include "runtime.h"

#include <dlfcn.h>

#include <cstring>
#include <memory>
#include <mutex>

namespace flux {
namespace {

std::mutex loading;
std::unique_ptr<Runtime> loaded;
std::string loaded_from;

[[noreturn]] void fail(Napi::Env env, const std::string& message) {
  throw Napi::Error::New(env, message);
}

// Calls whose answers are known, so that a table whose slots are not the ones declared in
// ort-api.h is refused here instead of calling the wrong function later.
void probe(Napi::Env env, const ort::Api& api) {
  ort::Status* status = api.get<ort::entry::CreateStatus>()(ort::kErrorFail, "flux-serve probe");
  const bool ok = status != nullptr &&
                  api.get<ort::entry::GetErrorCode>()(status) == ort::kErrorFail &&
                  std::strcmp(api.get<ort::entry::GetErrorMessage>()(status), "flux-serve probe") == 0;
  if (status != nullptr) api.get<ort::entry::ReleaseStatus>()(status);
  const char* build = api.get<ort::entry::GetBuildInfoString>()();
  if (!ok || build == nullptr || std::strstr(build, "ORT Build Info") == nullptr)
    fail(env, "the ONNX Runtime API table does not answer as version 1.29.0's does (ort-api.h slots)");
}

}  // namespace

void check(Napi::Env env, ort::Status* status, const char* what) {
  if (status == nullptr) return;
  const Runtime& rt = *loaded;
  std::string message = std::string(what) + ": " + rt.api.get<ort::entry::GetErrorMessage>()(status);
  rt.api.get<ort::entry::ReleaseStatus>()(status);
  fail(env, message);
}

const Runtime& runtime(Napi::Env env) {
  std::lock_guard<std::mutex> lock(loading);
  if (!loaded) fail(env, "the ONNX Runtime library is not loaded (call load first)");
  return *loaded;
}

const Runtime& load(Napi::Env env, const std::string& library_path) {
  std::lock_guard<std::mutex> lock(loading);
  if (loaded) {
    if (library_path != loaded_from)
      fail(env, "ONNX Runtime is already loaded from " + loaded_from + ", not " + library_path);
    return *loaded;
  }
  // Global, so that onnxruntime-node's binding, which loads the same file, shares this copy.
  void* handle = dlopen(library_path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) fail(env, std::string("cannot load ") + library_path + ": " + dlerror());
  auto get_base = reinterpret_cast<const ort::ApiBase* (*)()>(dlsym(handle, "OrtGetApiBase"));
  if (get_base == nullptr) fail(env, library_path + " exports no OrtGetApiBase: not ONNX Runtime");
  const ort::ApiBase* base = get_base();
  const std::string version = base->GetVersionString();
  if (version != ort::kRuntimeVersion)
    fail(env, library_path + " is ONNX Runtime " + version + "; this addon is written for " +
                  ort::kRuntimeVersion + " (the version onnxruntime-node is pinned to)");
  const void* table = base->GetApi(ort::kApiVersion);
  if (table == nullptr) fail(env, library_path + " does not offer API version 29");
  ort::Api api(table);
  probe(env, api);
  auto rt = std::make_unique<Runtime>(Runtime{api, nullptr, nullptr});
  loaded = std::move(rt);
  loaded_from = library_path;
  try {
    // ORT keeps one environment per process: this returns the binding's when it made one first.
    check(env, api.get<ort::entry::CreateEnv>()(ort::kLoggingWarning, "flux-serve", &loaded->env), "CreateEnv");
    check(env, api.get<ort::entry::GetAllocatorWithDefaultOptions>()(&loaded->host_allocator),
          "GetAllocatorWithDefaultOptions");
  } catch (...) {
    loaded.reset();
    throw;
  }
  return *loaded;
}

}  // namespace flux
