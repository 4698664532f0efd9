// The loaded ONNX Runtime: its API table and the process's one OrtEnv, and the rule that turns
// every failed ORT call into a JS exception carrying ORT's own message.
#pragma once

#include <napi.h>

#include <string>

#include "ort-api.h"

namespace flux {

struct Runtime {
  ort::Api api;
  ort::Env* env;
  ort::Allocator* host_allocator;  // ORT's default CPU allocator: never freed (header rule)
};

// The runtime `load` opened; throws a JS error when `load` has not succeeded yet.
const Runtime& runtime(Napi::Env env);

// Loads the runtime at `library_path` once per process (every thread after the first gets it too).
const Runtime& load(Napi::Env env, const std::string& library_path);

// Throws a JS error with ORT's message (prefixed by `what`) when `status` is not success.
void check(Napi::Env env, ort::Status* status, const char* what);

}  // namespace flux
