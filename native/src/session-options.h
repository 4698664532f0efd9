// SessionOptions from the JS options object of a DeviceSession.
#pragma once

#include <napi.h>

#include "runtime.h"

namespace flux {

// Owns the options for the duration of a CreateSession call.
class SessionOptionsFromJs {
 public:
  SessionOptionsFromJs(Napi::Env env, const Runtime& rt, const Napi::Object& options);
  ~SessionOptionsFromJs();
  SessionOptionsFromJs(const SessionOptionsFromJs&) = delete;
  SessionOptionsFromJs& operator=(const SessionOptionsFromJs&) = delete;

  const ort::SessionOptions* get() const { return options_; }

 private:
  void AppendCuda(Napi::Env env, const Napi::Object& options);

  const Runtime& rt_;
  ort::SessionOptions* options_ = nullptr;
};

}  // namespace flux
