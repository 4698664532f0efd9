/**
 * @module errors
 * One table of coded errors. Every failure the project reports carries a stable `FLUX_ERR_*` code and
 * the HTTP status it maps to, and wraps the low-level failure as `cause`.
 */

export class FluxServeError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'FluxServeError';
  }
}

function define<A extends unknown[]>(code: string, statusCode: number, message: (...args: A) => string) {
  return (...args: A) => new FluxServeError(code, statusCode, message(...args));
}

export const errors = {
  /** A model config (models/*.json, transformer/config.json) breaks an invariant of the architecture. */
  CONFIG: define('FLUX_ERR_CONFIG', 500, (why: string) => `invalid model config: ${why}`),
  /** A safetensors file (model or user LoRA) is corrupt, truncated or hostile. */
  SAFETENSORS: define(
    'FLUX_ERR_SAFETENSORS',
    400,
    (file: string, why: string) => `invalid safetensors file ${file}: ${why}`,
  ),
  /** A checkpoint lacks a tensor the architecture needs, or has one of the wrong shape. */
  WEIGHTS: define(
    'FLUX_ERR_WEIGHTS',
    500,
    (why: string) => `checkpoint does not fit the architecture: ${why}`,
  ),
  /** The graph builder was asked for something inconsistent (a bug in a caller, not user input). */
  GRAPH: define('FLUX_ERR_GRAPH', 500, (why: string) => `graph build failed: ${why}`),
  /** The queue holds its configured maximum of waiting tasks. */
  QUEUE_FULL: define(
    'FLUX_ERR_QUEUE_FULL',
    429,
    (limit: number) => `the queue is full (${limit} waiting tasks); retry later`,
  ),
  /** An API key already has its limit of queued and running tasks (api.md, "Auth"). */
  KEY_BUSY: define(
    'FLUX_ERR_KEY_BUSY',
    429,
    (limit: number) =>
      `this API key has ${limit} tasks queued or running, its limit; retry when one finishes`,
  ),
  /** A task was cancelled by its client (api.md: it ends `failed` with this error). */
  CANCELLED: define('FLUX_ERR_CANCELLED', 409, () => 'cancelled'),
  /** An upload or body part over its configured limit. */
  TOO_LARGE: define(
    'FLUX_ERR_TOO_LARGE',
    413,
    (field: string, limit: number) => `${field}: larger than the limit of ${limit} bytes`,
  ),
  /** A task id that does not exist (or was purged by retention). */
  TASK_NOT_FOUND: define('FLUX_ERR_TASK_NOT_FOUND', 404, (id: string) => `task ${id} not found`),
  /** A task asked to move backwards or sideways in its state machine. */
  TASK_STATE: define(
    'FLUX_ERR_TASK_STATE',
    409,
    (id: string, from: string, to: string) => `task ${id} cannot go from ${from} to ${to}`,
  ),
  /** A missing or wrong `Authorization: Bearer` key. */
  UNAUTHORIZED: define(
    'FLUX_ERR_UNAUTHORIZED',
    401,
    () => 'missing or invalid API key (Authorization: Bearer <key>)',
  ),
  /** An output file that does not exist (never written, or removed by retention). */
  OUTPUT_NOT_FOUND: define('FLUX_ERR_OUTPUT_NOT_FOUND', 404, (name: string) => `output ${name} not found`),
  /** A user LoRA that cannot be applied exactly (wrong model, unsupported algorithm, bad values). */
  LORA: define('FLUX_ERR_LORA', 400, (name: string, why: string) => `LoRA ${name}: ${why}`),
  /** The runtime cannot run the model as asked (CUDA provider missing, GPU out of memory). */
  RUNTIME: define('FLUX_ERR_RUNTIME', 500, (why: string) => why),
  /** The task store (Redis, in scale-out mode) does not answer; the detail is in `cause` and the log. */
  STORE_UNAVAILABLE: (why: string, options?: ErrorOptions) =>
    new FluxServeError(
      'FLUX_ERR_STORE_UNAVAILABLE',
      503,
      'the task queue is unavailable; retry later',
      options ?? { cause: new Error(why) },
    ),
  /** Another `serve` holds this home (jobs/home-lock): two servers on one task database would corrupt each other's tasks. */
  HOME_IN_USE: define(
    'FLUX_ERR_HOME_IN_USE',
    409,
    (home: string, holder: string) =>
      `the home ${home} is in use by ${holder}; stop it first, or give this server another home (--home or FLUX_SERVE_HOME)`,
  ),
  /** A command-line invocation is wrong. */
  USAGE: define('FLUX_ERR_USAGE', 400, (why: string) => why),
} as const;

/** Whether `error` is errors.STORE_UNAVAILABLE: the store may answer again, nothing was decided. */
export function isStoreUnavailable(error: unknown): boolean {
  return error instanceof FluxServeError && error.code === 'FLUX_ERR_STORE_UNAVAILABLE';
}
