/**
 * @module safety
 * The safety checker behind `enable_safety_checker` / `has_nsfw_contents`: an NSFW classifier
 * (nsfwjs MobileNetV2 on tfjs-wasm by default, or an ONNX model from the model home), a threshold,
 * and a policy for flagged images (report, blur, black).
 */
export { loadNsfwjsChecker, NSFWJS_DEFAULT_THRESHOLD, NSFWJS_LABELS } from './nsfwjs-checker.js';
export { loadOnnxChecker, ONNX_CLASSIFIER_FILES } from './onnx-checker.js';
export {
  ONNX_DEFAULT_THRESHOLD,
  type OnnxClassifierSpec,
  parseOnnxClassifierSpec,
} from './onnx-classifier-spec.js';
export { isFlagged, type SafetyChecker, type SafetyVerdict, verdict } from './safety-checker.js';
export { applySafetyPolicy, BLUR_SIDE, SAFETY_POLICIES, type SafetyPolicy } from './safety-policy.js';
export {
  loadSafetyScreen,
  SAFETY_BACKENDS,
  type SafetyBackend,
  type SafetyScreen,
  type SafetySettings,
  type ScreenedImage,
} from './safety-screen.js';
