/**
 * The worker process: the model loads in a child, results cross the IPC channel as structured
 * clones (Buffers, typed arrays), and a crashed or hung child fails its task with a retryable
 * code and is replaced.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { ThreadInit } from '../../src/worker/generation-protocol.js';
import { WorkerSupervisor } from '../../src/worker/worker-supervisor.js';
import { captureLog } from '../support/log-capture.js';
import { buildTinyModel, TINY_REQUEST, tinyWorkerInit } from '../support/tiny-model.js';

let root: string;
let init: ThreadInit;
let worker: WorkerSupervisor;
const log = createLogger('silent');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'worker-'));
  const modelDir = await buildTinyModel(root, 'tiny-dev', 8);
  init = tinyWorkerInit(modelDir);
  worker = WorkerSupervisor.start(init, { taskTimeoutMs: 30_000, log, restartDelayMs: 10 });
});
afterAll(async () => {
  await worker?.close();
  await rm(root, { recursive: true, force: true });
});

const request = TINY_REQUEST;

describe('WorkerSupervisor', () => {
  it('is not ready until the child has loaded the model, then renders in the child', async () => {
    expect(worker.ready).toBe(false);
    await worker.waitReady();
    expect(worker.ready).toBe(true);
    expect(worker.pid).not.toBe(process.pid);
    expect(worker.provider).toBe('cpu');
    const steps: string[] = [];
    const result = await worker.run(request, (p) => steps.push(`${p.stage} ${p.step}`), { dump: true });
    expect(steps).toEqual(['encode 0', 'denoise 1', 'denoise 2', 'denoise 3', 'decode 1']);
    expect(result.seed).toBe(11);
    expect(Buffer.isBuffer(result.outputs[0])).toBe(true);
    expect(await sharp(result.outputs[0] as Buffer).metadata()).toMatchObject({
      format: 'webp',
      width: 512,
      height: 512,
    });
    expect(result.dump?.sigmas).toBeInstanceOf(Float64Array);
    expect(result.dump?.sigmas.length).toBe(4);
    expect(result.dump?.latents).toBeInstanceOf(Float32Array);
    expect(result.dump?.noise).toBeInstanceOf(Float32Array);
    expect(result.dump?.txtTokens).toBe(512);
  });

  it('serves the next request, runs queued requests one at a time and passes coded errors through', async () => {
    const [a, b, bad] = await Promise.allSettled([
      worker.run({ ...request, steps: 1, seed: 5 }),
      worker.run({ ...request, steps: 1, seed: 6, width: 256, height: 256, outputFormat: 'png' }),
      worker.run({ ...request, image: 'AAAA' }),
    ]);
    expect(a).toMatchObject({ status: 'fulfilled', value: { seed: 5 } });
    expect(b).toMatchObject({ status: 'fulfilled', value: { seed: 6, width: 256 } });
    if (b.status === 'fulfilled')
      expect((await sharp(b.value.outputs[0] as Buffer).metadata()).format).toBe('png');
    expect(bad).toMatchObject({ status: 'rejected', reason: { statusCode: 400 } });
    expect(bad.status === 'rejected' && bad.reason.retryable).toBeFalsy();
  });

  it('rejects a task whose child is killed with a retryable WORKER_CRASHED and restarts the child', async () => {
    const pid = worker.pid as number;
    const task = worker.run({ ...request, width: 1024, height: 1024, steps: 8 }, (p) => {
      if (p.stage === 'denoise' && p.step === 1) process.kill(pid, 'SIGKILL');
    });
    await expect(task).rejects.toMatchObject({ code: 'FLUX_ERR_WORKER_CRASHED', retryable: true });
    expect(worker.ready).toBe(false);
    const next = await worker.run({ ...request, steps: 1, seed: 3 });
    expect(next.seed).toBe(3);
    expect(worker.ready).toBe(true);
    expect(worker.pid).not.toBe(pid);
  });
});

describe('WorkerSupervisor task timeout and start failures', () => {
  it('kills a child whose task runs past taskTimeoutMs, rejects it retryably and recovers', async () => {
    const { log, records } = captureLog();
    const short = WorkerSupervisor.start(
      { ...init, logLevel: 'info' },
      { taskTimeoutMs: 150, log, restartDelayMs: 10 },
    );
    try {
      await short.waitReady();
      const pid = short.pid;
      await expect(short.run({ ...request, width: 1024, height: 1024, steps: 8 })).rejects.toMatchObject({
        code: 'FLUX_ERR_TASK_TIMEOUT',
        retryable: true,
      });
      expect(short.ready).toBe(false);
      await short.waitReady();
      expect(short.ready).toBe(true);
      expect(short.pid).not.toBe(pid);
    } finally {
      await short.close();
    }
    expect(short.ready).toBe(false);
    await expect(short.run(request)).rejects.toMatchObject({ code: 'FLUX_ERR_WORKER_CLOSED' });
    // Loading progress from the child and the supervisor's view of the restart reach the logs.
    const messages = records.map((r) => r.msg);
    expect(messages).toContain('loading model');
    expect(messages).toContain('model loaded');
    expect(messages).toContain('task timed out; killing the worker');
    expect(messages.filter((m) => m === 'worker ready')).toHaveLength(2);
    expect(records.find((r) => r.msg === 'model loaded')).toMatchObject({ level: 30, provider: 'cpu' });
  });

  it('keeps retrying a child that cannot load its model, never ready, until closed', async () => {
    const broken = WorkerSupervisor.start(
      { ...init, modelDir: join(root, 'missing') },
      { taskTimeoutMs: 1000, log, restartDelayMs: 10 },
    );
    const ready = broken.waitReady();
    const task = broken.run(request);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(broken.ready).toBe(false);
    await broken.close();
    await expect(ready).rejects.toMatchObject({ code: 'FLUX_ERR_WORKER_CLOSED' });
    await expect(task).rejects.toMatchObject({ code: 'FLUX_ERR_WORKER_CLOSED' });
  });
});
