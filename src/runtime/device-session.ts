/**
 * @module runtime/device-session
 * A session over the native addon (runtime/native-addon) whose inputs stay on its device between
 * runs. `bind` copies a tensor there once; `run` copies only what changed: a feed that is the very
 * Tensor object bound last under its name is taken as already there. So the LoRA factors and the
 * prompt's tensors, built once per task (or once per LoRA set), cross PCIe once, where
 * onnxruntime-node sends every feed at every step (docs/runtime.md, "Device-resident inputs").
 * Tensors are treated as values: one that is changed in place after a run must be bound again.
 *
 * `run` has the shape of onnxruntime-node's, so the pipeline takes either session.
 */
import * as ort from 'onnxruntime-node';
import { errors } from '../errors.js';
import { type NativeSession, type NativeTensor, nativeRuntime } from './native-addon.js';
import { type Provider, providerChoice } from './provider.js';
import { cudaError, type SessionOptions, sessionConfig } from './session.js';

/**
 * CUDA provider options beyond the device. CUDA graphs are not offered: a captured graph replays
 * fixed device addresses, and `run` binds each step's latents anew (docs/runtime.md).
 */
export interface CudaOptions {
  /** TF32 tensor cores for float32 MatMul and Conv (`use_tf32`). */
  readonly useTf32?: boolean;
  readonly cudnnConvAlgoSearch?: 'EXHAUSTIVE' | 'HEURISTIC' | 'DEFAULT';
  /** `kNextPowerOfTwo` (ORT's default) or `kSameAsRequested`, which wastes less of a card that is nearly full. */
  readonly arenaExtendStrategy?: 'kNextPowerOfTwo' | 'kSameAsRequested';
  /** Bytes the CUDA arena may grow to (`gpu_mem_limit`). */
  readonly gpuMemLimit?: number;
  readonly doCopyInDefaultStream?: boolean;
}

export interface DeviceSessionOptions extends Omit<SessionOptions, 'log' | 'cpuFallback'> {
  readonly cuda?: CudaOptions;
}

/** The V2 provider options by ONNX Runtime's names. */
export function cudaProviderOptions(o: CudaOptions): Record<string, string> {
  const out: Record<string, string> = {};
  if (o.useTf32 !== undefined) out.use_tf32 = o.useTf32 ? '1' : '0';
  if (o.cudnnConvAlgoSearch) out.cudnn_conv_algo_search = o.cudnnConvAlgoSearch;
  if (o.arenaExtendStrategy) out.arena_extend_strategy = o.arenaExtendStrategy;
  if (o.gpuMemLimit !== undefined) out.gpu_mem_limit = String(Math.floor(o.gpuMemLimit));
  if (o.doCopyInDefaultStream !== undefined)
    out.do_copy_in_default_stream = o.doCopyInDefaultStream ? '1' : '0';
  return out;
}

const ARRAYS: Record<string, new (buffer: ArrayBuffer) => ort.Tensor.DataType> = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint64: BigUint64Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function toNative(name: string, tensor: ort.Tensor): NativeTensor {
  if (!(tensor instanceof ort.Tensor) || tensor.location !== 'cpu')
    throw errors.USAGE(`input ${name}: expected a CPU ort.Tensor`);
  return { name, type: tensor.type, dims: tensor.dims, data: tensor.data as ArrayBufferView };
}

export class DeviceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** What each input was last bound from; weak, so that binding keeps no host copy alive. */
  private readonly boundFrom = new Map<string, WeakRef<ort.Tensor>>();

  private constructor(
    private readonly native: NativeSession,
    readonly provider: Provider,
  ) {
    this.inputNames = native.inputs().map((s) => s.name);
    this.outputNames = native.outputs().map((s) => s.name);
  }

  /**
   * @throws FluxServeError FLUX_ERR_RUNTIME when the addon is unavailable or the session cannot be created
   * @example const s = DeviceSession.create('model/transformer.onnx', { provider: 'cuda:0', cuda: { useTf32: true } });
   */
  static create(path: string, options: DeviceSessionOptions): DeviceSession {
    const native = nativeRuntime();
    if (!native.available) throw errors.RUNTIME(native.reason);
    const { name, deviceId } = providerChoice(options.provider);
    const config = Object.fromEntries(
      Object.entries(sessionConfig(options)).map(([k, v]) => [`session.${k}`, v]),
    );
    try {
      const session = new native.addon.DeviceSession(path, {
        provider: name,
        deviceId: deviceId ?? 0,
        threads: options.threads ?? 0,
        ...(options.logPlacement ? { logSeverityLevel: 0 } : {}),
        config,
        cuda: cudaProviderOptions(options.cuda ?? {}),
      });
      return new DeviceSession(session, options.provider);
    } catch (error) {
      if (name === 'cuda') throw cudaError(path, options.provider, error);
      throw errors.RUNTIME(`creating the device session for ${path} failed: ${(error as Error).message}`);
    }
  }

  /** Copies `tensor` to the device as input `name`, where it stays for every run until bound again. */
  bind(name: string, tensor: ort.Tensor): void {
    this.native.bind(toNative(name, tensor));
    this.boundFrom.set(name, new WeakRef(tensor));
  }

  /** Runs with `feeds` on top of what is bound; feeds already bound (the same objects) are not copied. */
  async run(feeds: Readonly<Record<string, ort.Tensor>>): Promise<Record<string, ort.Tensor>> {
    const fresh = Object.entries(feeds).filter(([name, t]) => this.boundFrom.get(name)?.deref() !== t);
    const outputs = this.native.run(fresh.map(([name, t]) => toNative(name, t)));
    for (const [name, t] of fresh) this.boundFrom.set(name, new WeakRef(t));
    const result: Record<string, ort.Tensor> = {};
    for (const o of outputs) {
      const View = ARRAYS[o.type];
      if (!View) throw errors.RUNTIME(`output ${o.name} has type ${o.type}, which flux-serve does not read`);
      result[o.name] = new ort.Tensor(o.type as 'float32', new View(o.data) as Float32Array, o.dims);
    }
    return result;
  }

  /** Bytes copied to the device so far, and how many inputs are bound now. */
  stats(): { uploadedBytes: number; bound: number } {
    return this.native.stats();
  }

  async release(): Promise<void> {
    this.native.release();
    this.boundFrom.clear();
  }
}
