/**
 * @module config
 * The one place the environment is read. Everything else receives these values explicitly.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LOG_FORMATS, type LogFormat } from './log.js';
import { NATIVE_CHOICES, type NativeChoice, type Provider, parseProvider } from './runtime/provider.js';
import { SAFETY_POLICIES, type SafetyPolicy } from './safety/safety-policy.js';
import { SAFETY_BACKENDS, type SafetyBackend, type SafetySettings } from './safety/safety-screen.js';
export interface Config {
  /** Model home: downloaded checkpoints and built model dirs live here, never in the repo. */
  readonly home: string;
  readonly logLevel: string;
  /** `FLUX_SERVE_LOG_FORMAT`: readable lines on a terminal (`auto`), or always `json` / `pretty`. */
  readonly logFormat: LogFormat;
  /** Largest input image download or data URI, bytes. */
  readonly maxImageBytes: number;
  /** Time limit for one image download, ms. */
  readonly fetchTimeoutMs: number;
  /** URL fetches refuse private and loopback addresses unless these allow them (api.md). */
  readonly fetchPolicy: { readonly allowLoopback: boolean; readonly allowPrivate: boolean };
  readonly host: string;
  readonly port: number;
  /** Base of output URLs; default `http://<host>:<port>`. */
  readonly publicUrl: string | undefined;
  /** File of API keys, one per line; none (and no `keys`) = loopback only, no auth. */
  readonly keysFile: string | undefined;
  /** API keys given in the environment (`FLUX_SERVE_KEYS`, comma-separated), on top of the file's. */
  readonly keys: readonly string[];
  /** Most waiting tasks; beyond it submits get 429. */
  readonly maxQueued: number;
  /** Longest enable_sync_mode wait, ms. */
  readonly syncWaitMs: number;
  /**
   * On SIGTERM, how long the stop may take, ms: requests still waiting (sync mode, OpenAI images,
   * event streams) have their connections closed at it, and a task still running is left to run
   * again after the restart; accepted tasks stay in the store either way.
   */
  readonly shutdownGraceMs: number;
  /** Longest wait of an OpenAI images request (its clients cannot poll; the OpenAI SDK gives up at 10 min), ms. */
  readonly openAiWaitMs: number;
  /** Largest request body, bytes (base64 images travel inside it). */
  readonly bodyLimit: number;
  /** Attempts per task when the worker dies under it. */
  readonly maxAttempts: number;
  /** A task running longer is killed with its worker (which restarts) and requeued, ms. */
  readonly taskTimeoutMs: number;
  /** Unfinished tasks one API key may have; beyond it submits get 429. */
  readonly maxTasksPerKey: number;
  /** Finished tasks, their outputs and uploads older than this are deleted, ms; 0 keeps them forever. */
  readonly retentionMs: number;
  /** Waits before each webhook retry, ms (their count + 1 = tries). */
  readonly webhookRetryDelaysMs: readonly number[];
  /** Deadline of one webhook try, ms. */
  readonly webhookTimeoutMs: number;
  /** Signing secret (`whsec_…`); default: generated once and kept in the home directory. */
  readonly webhookSecret: string | undefined;
  /** Most LoRAs in one request. */
  readonly maxLoras: number;
  /** Largest input image (`image`, `mask_image`) as stored, pixels; checked from the header before decoding. */
  readonly maxInputPixels: number;
  /** Longest prompt, characters (the encoders read at most 512 tokens of it anyway). */
  readonly maxPromptChars: number;
  /** The safety checker (`enable_safety_checker`): backend, threshold, policy, ONNX classifier folder. */
  readonly safety: SafetySettings;
  /** The LoRA folder: request paths that are file names are looked up here. */
  readonly loraDir: string;
  /** Downloaded LoRAs (URLs, hub files), content-addressed. */
  readonly loraCacheDir: string;
  /** Largest LoRA file downloaded or read, bytes. */
  readonly maxLoraBytes: number;
  /** Longest one LoRA download may take in all, ms (a slow server holds the task's queue slot). */
  readonly loraDownloadTimeoutMs: number;
  /** Disk for downloaded LoRAs, bytes; the least recently used go first beyond it. */
  readonly loraCacheBytes: number;
  /** Longest URL or LoRA path a request may carry, characters. */
  readonly maxUrlChars: number;
  /** Log where ONNX Runtime places every node at session creation (verbose; for GPU bring-up). */
  readonly logPlacement: boolean;
  /** On CUDA, fail at session creation when a node would be placed on the CPU. */
  readonly strictPlacement: boolean;
  /** Whether the transformer runs on the native addon (`FLUX_SERVE_NATIVE`: auto, on, off; runtime/model-session). */
  readonly native: NativeChoice;
  /** Memory for parsed LoRAs the worker keeps between requests, bytes. */
  readonly loraMemoryBytes: number;
  /** Hugging Face: endpoint (`HF_ENDPOINT`), token (`HF_TOKEN`), offline (`HF_HUB_OFFLINE`). */
  readonly hub: {
    readonly endpoint: string | undefined;
    readonly token: string | undefined;
    readonly offline: boolean;
    /**
     * The cache shared with Python's huggingface_hub (`models--owner--name/{blobs,snapshots,refs}`):
     * `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
     */
    readonly cacheDir: string;
  };
  /**
   * Execution provider of the worker (`FLUX_SERVE_PROVIDER`: `cpu`, `cuda` or `cuda:N`; `FLUX_SERVE_DEVICE=N`
   * picks the GPU for `cuda`). A real model on `cuda` never falls back to CPU (runtime/session.ts).
   */
  readonly provider: Provider;
  /**
   * Where tasks queue (`FLUX_SERVE_QUEUE`): unset = the embedded SQLite store in the home; a
   * `redis://host:port/db` URL = the shared Redis queue of a scale-out deployment (README, "Scale out").
   */
  readonly queue: string | undefined;
  /** Folder of outputs/, media/ and the webhook secret (`FLUX_SERVE_DATA_DIR`, default the home); scale-out: one every node mounts. */
  readonly dataDir: string;
  /** Scale-out: a worker silent this long loses its task to another, ms (the BullMQ lock). */
  readonly queueLockMs: number;
  /** `LD_LIBRARY_PATH` split into folders: where `flux-serve doctor` looks for the CUDA libraries too. */
  readonly libraryPath: readonly string[];
}

function positive(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${key}=${raw}: expected a positive integer`);
  return n;
}

function nonNegative(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${key}=${raw}: expected a number ≥ 0`);
  return n;
}

function msList(env: NodeJS.ProcessEnv, key: string, fallback: readonly number[]): readonly number[] {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const list = raw.split(',').map((v) => Number(v.trim()));
  if (list.some((n) => !Number.isSafeInteger(n) || n < 0))
    throw new Error(`${key}=${raw}: expected comma-separated milliseconds, e.g. 10000,30000,60000`);
  return Object.freeze(list);
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, key: string, allowed: readonly T[], fallback: T): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw))
    throw new Error(`${key}=${raw}: expected ${allowed.join(', ')}`);
  return raw as T;
}

function fraction(env: NodeJS.ProcessEnv, key: string): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`${key}=${raw}: expected a number in 0–1`);
  return n;
}

function safety(env: NodeJS.ProcessEnv, home: string): SafetySettings {
  const threshold = fraction(env, 'FLUX_SERVE_SAFETY_THRESHOLD');
  return Object.freeze({
    backend: oneOf<SafetyBackend>(env, 'FLUX_SERVE_SAFETY_CHECKER', SAFETY_BACKENDS, 'auto'),
    ...(threshold === undefined ? {} : { threshold }),
    policy: oneOf<SafetyPolicy>(env, 'FLUX_SERVE_SAFETY_POLICY', SAFETY_POLICIES, 'report'),
    dir: env.FLUX_SERVE_SAFETY_DIR || join(home, 'safety'),
  });
}

function flag(env: NodeJS.ProcessEnv, key: string): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env[key] ?? '').toLowerCase());
}

function provider(env: NodeJS.ProcessEnv): Provider {
  const raw = env.FLUX_SERVE_PROVIDER || 'cpu';
  const device = env.FLUX_SERVE_DEVICE;
  if (device === undefined || device === '') return parseProvider(raw, 'FLUX_SERVE_PROVIDER');
  if (raw !== 'cuda') throw new Error(`FLUX_SERVE_DEVICE=${device} needs FLUX_SERVE_PROVIDER=cuda`);
  return parseProvider(`cuda:${device}`, 'FLUX_SERVE_DEVICE');
}

/** The Hugging Face hub cache, resolved the way Python's huggingface_hub does. */
function hubCacheDir(env: NodeJS.ProcessEnv): string {
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  return env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(hfHome, 'hub');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const home = env.FLUX_SERVE_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flux-serve');
  return Object.freeze({
    home,
    logLevel: env.LOG_LEVEL ?? 'info',
    logFormat: oneOf<LogFormat>(env, 'FLUX_SERVE_LOG_FORMAT', LOG_FORMATS, 'auto'),
    maxImageBytes: positive(env, 'FLUX_SERVE_MAX_IMAGE_BYTES', 20 * 1024 * 1024), // 20 MiB
    fetchTimeoutMs: positive(env, 'FLUX_SERVE_FETCH_TIMEOUT_MS', 30_000), // 30 s
    host: env.FLUX_SERVE_HOST ?? '127.0.0.1',
    port: positive(env, 'FLUX_SERVE_PORT', 8080),
    publicUrl: env.FLUX_SERVE_PUBLIC_URL || undefined,
    keysFile: env.FLUX_SERVE_KEYS_FILE || undefined,
    keys: Object.freeze(
      (env.FLUX_SERVE_KEYS ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== ''),
    ),
    maxQueued: positive(env, 'FLUX_SERVE_MAX_QUEUE', 100),
    syncWaitMs: positive(env, 'FLUX_SERVE_SYNC_WAIT_MS', 90_000), // 90 s
    shutdownGraceMs: nonNegative(env, 'FLUX_SERVE_SHUTDOWN_GRACE_MS', 8_000), // inside docker stop's 10 s
    // Just under the OpenAI SDK's 10-minute timeout, so its clients get the 504 before they give up.
    openAiWaitMs: positive(env, 'FLUX_SERVE_OPENAI_WAIT_MS', 590_000),
    bodyLimit: positive(env, 'FLUX_SERVE_BODY_LIMIT', 64 * 1024 * 1024), // 64 MiB: two 20 MiB images as base64
    maxAttempts: positive(env, 'FLUX_SERVE_MAX_ATTEMPTS', 3),
    taskTimeoutMs: positive(env, 'FLUX_SERVE_TASK_TIMEOUT_MS', 600_000), // 10 min
    maxTasksPerKey: positive(env, 'FLUX_SERVE_MAX_TASKS_PER_KEY', 20),
    retentionMs: nonNegative(env, 'FLUX_SERVE_RETENTION_HOURS', 7 * 24) * 3_600_000, // 7 days
    // 10 s, 30 s, 1 min, 3 min, 5 min: six tries over 9.7 minutes (api.md: ≥ 5 over ~10 min).
    webhookRetryDelaysMs: msList(
      env,
      'FLUX_SERVE_WEBHOOK_RETRY_MS',
      [10_000, 30_000, 60_000, 180_000, 300_000],
    ),
    webhookTimeoutMs: positive(env, 'FLUX_SERVE_WEBHOOK_TIMEOUT_MS', 10_000),
    webhookSecret: env.FLUX_SERVE_WEBHOOK_SECRET || undefined,
    maxLoras: positive(env, 'FLUX_SERVE_MAX_LORAS', 5),
    maxInputPixels: positive(env, 'FLUX_SERVE_MAX_INPUT_PIXELS', 40_000_000), // 40 MP, e.g. 8000×5000
    maxPromptChars: positive(env, 'FLUX_SERVE_MAX_PROMPT_CHARS', 10_000),
    safety: safety(env, home),
    loraDir: env.FLUX_SERVE_LORA_DIR || join(home, 'loras'),
    loraCacheDir: join(home, 'lora-cache'),
    maxLoraBytes: positive(env, 'FLUX_SERVE_MAX_LORA_BYTES', 2 * 1024 ** 3), // 2 GiB
    loraDownloadTimeoutMs: positive(env, 'FLUX_SERVE_LORA_DOWNLOAD_TIMEOUT_MS', 600_000), // 10 min: 2 GiB at ~3.5 MB/s
    loraCacheBytes: positive(env, 'FLUX_SERVE_LORA_CACHE_BYTES', 20 * 1024 ** 3), // 20 GiB
    maxUrlChars: positive(env, 'FLUX_SERVE_MAX_URL_CHARS', 8192),
    logPlacement: flag(env, 'FLUX_SERVE_LOG_PLACEMENT'),
    strictPlacement: flag(env, 'FLUX_SERVE_STRICT_PLACEMENT'),
    native: oneOf<NativeChoice>(env, 'FLUX_SERVE_NATIVE', NATIVE_CHOICES, 'auto'),
    loraMemoryBytes: positive(env, 'FLUX_SERVE_LORA_MEMORY_BYTES', 4 * 1024 ** 3), // 4 GiB
    hub: Object.freeze({
      endpoint: env.HF_ENDPOINT || undefined,
      token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
      offline: flag(env, 'HF_HUB_OFFLINE'),
      cacheDir: hubCacheDir(env),
    }),
    provider: provider(env),
    queue: env.FLUX_SERVE_QUEUE || undefined,
    dataDir: env.FLUX_SERVE_DATA_DIR || home,
    queueLockMs: positive(env, 'FLUX_SERVE_QUEUE_LOCK_MS', 30_000), // 30 s
    libraryPath: Object.freeze((env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== '')),
    fetchPolicy: Object.freeze({
      allowLoopback: flag(env, 'FLUX_SERVE_FETCH_ALLOW_LOOPBACK'),
      allowPrivate: flag(env, 'FLUX_SERVE_FETCH_ALLOW_PRIVATE'),
    }),
  });
}
