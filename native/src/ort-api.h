// The few entries of the ONNX Runtime C API this addon calls, declared here because no ORT header
// can be installed where flux-serve is built. Facts from include/onnxruntime/core/session/
// onnxruntime_c_api.h of ONNX Runtime 1.29.0 (ORT_API_VERSION 29); docs/runtime.md tells how they
// were checked.
//
// `OrtApi` is a struct of function pointers that ORT only ever appends to, so an entry's 0-based
// slot in it is its identity: each ORT_ENTRY below names the slot and the exact signature. A wrong
// slot calls the wrong function, so load-time probes (addon.cc) and test/runtime/native-api.test.ts
// call entries whose results are known before anything else is trusted.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ort {

constexpr uint32_t kApiVersion = 29;
constexpr const char* kRuntimeVersion = "1.29.0";

struct Status;
struct Env;
struct SessionOptions;
struct Session;
struct TypeInfo;
struct TensorTypeAndShapeInfo;
struct MemoryInfo;
struct Value;
struct RunOptions;
struct IoBinding;
struct CudaProviderOptionsV2;
struct Allocator;

// ONNXTensorElementDataType (the values the graphs use).
enum ElementType : int {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBfloat16 = 16,
};

constexpr int kErrorFail = 1;                  // OrtErrorCode ORT_FAIL
constexpr int kLoggingWarning = 2;             // OrtLoggingLevel ORT_LOGGING_LEVEL_WARNING
constexpr int kOnnxTypeTensor = 1;             // ONNXType ONNX_TYPE_TENSOR
constexpr int kAllocatorDevice = 0;            // OrtAllocatorType OrtDeviceAllocator
constexpr int kMemTypeDefault = 0;             // OrtMemType OrtMemTypeDefault
constexpr int kGraphOptimizationAll = 99;      // GraphOptimizationLevel ORT_ENABLE_ALL

// What `OrtGetApiBase()` returns: not versioned, two pointers.
struct ApiBase {
  const void* (*GetApi)(uint32_t version) noexcept;
  const char* (*GetVersionString)() noexcept;
};

template <size_t Slot, typename Fn>
struct Entry {
  static constexpr size_t slot = Slot;
  using type = Fn;
};

#define ORT_ENTRY(name, slot, ...) using name = Entry<slot, __VA_ARGS__>;

namespace entry {
// clang-format off
ORT_ENTRY(CreateStatus, 0, Status* (*)(int code, const char* msg) noexcept)
ORT_ENTRY(GetErrorCode, 1, int (*)(const Status* status) noexcept)
ORT_ENTRY(GetErrorMessage, 2, const char* (*)(const Status* status) noexcept)
ORT_ENTRY(CreateEnv, 3, Status* (*)(int log_severity_level, const char* logid, Env** out) noexcept)
ORT_ENTRY(CreateSession, 7, Status* (*)(const Env* env, const char* model_path, const SessionOptions* options, Session** out) noexcept)
ORT_ENTRY(CreateSessionOptions, 10, Status* (*)(SessionOptions** options) noexcept)
ORT_ENTRY(SetSessionLogSeverityLevel, 22, Status* (*)(SessionOptions* options, int level) noexcept)
ORT_ENTRY(SetSessionGraphOptimizationLevel, 23, Status* (*)(SessionOptions* options, int level) noexcept)
ORT_ENTRY(SetIntraOpNumThreads, 24, Status* (*)(SessionOptions* options, int threads) noexcept)
ORT_ENTRY(SessionGetInputCount, 30, Status* (*)(const Session* session, size_t* out) noexcept)
ORT_ENTRY(SessionGetOutputCount, 31, Status* (*)(const Session* session, size_t* out) noexcept)
ORT_ENTRY(SessionGetInputTypeInfo, 33, Status* (*)(const Session* session, size_t index, TypeInfo** type_info) noexcept)
ORT_ENTRY(SessionGetOutputTypeInfo, 34, Status* (*)(const Session* session, size_t index, TypeInfo** type_info) noexcept)
ORT_ENTRY(SessionGetInputName, 36, Status* (*)(const Session* session, size_t index, Allocator* allocator, char** value) noexcept)
ORT_ENTRY(SessionGetOutputName, 37, Status* (*)(const Session* session, size_t index, Allocator* allocator, char** value) noexcept)
ORT_ENTRY(CreateTensorAsOrtValue, 48, Status* (*)(Allocator* allocator, const int64_t* shape, size_t shape_len, int type, Value** out) noexcept)
ORT_ENTRY(GetTensorMutableData, 51, Status* (*)(Value* value, void** out) noexcept)
ORT_ENTRY(CastTypeInfoToTensorInfo, 55, Status* (*)(const TypeInfo* type_info, const TensorTypeAndShapeInfo** out) noexcept)
ORT_ENTRY(GetOnnxTypeFromTypeInfo, 56, Status* (*)(const TypeInfo* type_info, int* out) noexcept)
ORT_ENTRY(GetTensorElementType, 60, Status* (*)(const TensorTypeAndShapeInfo* info, int* out) noexcept)
ORT_ENTRY(GetDimensionsCount, 61, Status* (*)(const TensorTypeAndShapeInfo* info, size_t* out) noexcept)
ORT_ENTRY(GetDimensions, 62, Status* (*)(const TensorTypeAndShapeInfo* info, int64_t* dim_values, size_t dim_values_length) noexcept)
ORT_ENTRY(GetTensorTypeAndShape, 65, Status* (*)(const Value* value, TensorTypeAndShapeInfo** out) noexcept)
ORT_ENTRY(CreateMemoryInfo, 68, Status* (*)(const char* name, int type, int id, int mem_type, MemoryInfo** out) noexcept)
ORT_ENTRY(CreateCpuMemoryInfo, 69, Status* (*)(int type, int mem_type, MemoryInfo** out) noexcept)
ORT_ENTRY(AllocatorFree, 76, Status* (*)(Allocator* allocator, void* p) noexcept)
ORT_ENTRY(GetAllocatorWithDefaultOptions, 78, Status* (*)(Allocator** out) noexcept)
ORT_ENTRY(ReleaseStatus, 93, void (*)(Status* input))
ORT_ENTRY(ReleaseMemoryInfo, 94, void (*)(MemoryInfo* input))
ORT_ENTRY(ReleaseSession, 95, void (*)(Session* input))
ORT_ENTRY(ReleaseValue, 96, void (*)(Value* input))
ORT_ENTRY(ReleaseTypeInfo, 98, void (*)(TypeInfo* input))
ORT_ENTRY(ReleaseTensorTypeAndShapeInfo, 99, void (*)(TensorTypeAndShapeInfo* input))
ORT_ENTRY(ReleaseSessionOptions, 100, void (*)(SessionOptions* input))
ORT_ENTRY(GetAvailableProviders, 125, Status* (*)(char*** out, int* length) noexcept)
ORT_ENTRY(ReleaseAvailableProviders, 126, Status* (*)(char** ptr, int length) noexcept)
ORT_ENTRY(AddSessionConfigEntry, 130, Status* (*)(SessionOptions* options, const char* key, const char* value) noexcept)
ORT_ENTRY(RunWithBinding, 133, Status* (*)(Session* session, const RunOptions* run_options, const IoBinding* binding) noexcept)
ORT_ENTRY(CreateIoBinding, 134, Status* (*)(Session* session, IoBinding** out) noexcept)
ORT_ENTRY(ReleaseIoBinding, 135, void (*)(IoBinding* input))
ORT_ENTRY(BindInput, 136, Status* (*)(IoBinding* binding, const char* name, const Value* value) noexcept)
ORT_ENTRY(BindOutputToDevice, 138, Status* (*)(IoBinding* binding, const char* name, const MemoryInfo* mem_info) noexcept)
ORT_ENTRY(GetBoundOutputValues, 140, Status* (*)(const IoBinding* binding, Allocator* allocator, Value*** output, size_t* count) noexcept)
ORT_ENTRY(ClearBoundOutputs, 142, void (*)(IoBinding* binding) noexcept)
ORT_ENTRY(SynchronizeBoundInputs, 202, Status* (*)(IoBinding* binding) noexcept)
ORT_ENTRY(SessionOptionsAppendExecutionProvider_CUDA_V2, 204, Status* (*)(SessionOptions* options, const CudaProviderOptionsV2* cuda_options) noexcept)
ORT_ENTRY(CreateCUDAProviderOptions, 205, Status* (*)(CudaProviderOptionsV2** out) noexcept)
ORT_ENTRY(UpdateCUDAProviderOptions, 206, Status* (*)(CudaProviderOptionsV2* options, const char* const* keys, const char* const* values, size_t count) noexcept)
ORT_ENTRY(ReleaseCUDAProviderOptions, 208, void (*)(CudaProviderOptionsV2* input))
ORT_ENTRY(GetBuildInfoString, 254, const char* (*)())
// clang-format on
}  // namespace entry

#undef ORT_ENTRY

// The table of the loaded runtime, read by slot.
class Api {
 public:
  explicit Api(const void* table) : table_(static_cast<void* const*>(table)) {}

  template <typename E>
  typename E::type get() const {
    return reinterpret_cast<typename E::type>(table_[E::slot]);
  }

 private:
  void* const* table_;
};

}  // namespace ort
