/**
 * @module cli/worker-command
 * `flux-serve worker --queue redis://…`: one GPU worker of a scale-out deployment, on any host that
 * reaches the Redis queue and mounts the shared data dir (README, "Scale out"). It loads the model
 * once, takes tasks from the shared queue one at a time, writes their outputs to the data dir and
 * reports progress to every API node. Run one per GPU (`--device N`).
 */
import type { Command } from 'commander';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import { parseProvider } from '../runtime/provider.js';
import { resolveModelDir } from './model-dir.js';
import { settledWithin } from './shutdown-grace.js';
import { startRedisWorker } from './worker-node.js';

interface WorkerFlags {
  queue?: string;
  model?: string;
  device?: string;
}

/** How often the start-up waits to see the model loaded before saying so, ms. */
const READY_POLL_MS = 100;

export function registerWorker(program: Command, config: Readonly<Config>, log: Logger): void {
  program
    .command('worker')
    .description('run one scale-out worker on the shared Redis queue (see README, "Scale out")')
    .option('--queue <url>', 'redis://host:port/db, the queue the API nodes use', config.queue)
    .option('--model <dir|name>', 'built model dir or name (default: FLUX.1 [schnell], else the tiny model)')
    .option('--device <n>', 'the CUDA GPU of this worker (provider cuda:N)')
    .action(async (flags: WorkerFlags) => {
      if (!flags.queue)
        throw errors.USAGE('worker: --queue redis://host:port/db (or FLUX_SERVE_QUEUE) is required');
      const modelDir = await resolveModelDir(config, log, flags.model);
      const provider =
        flags.device === undefined ? undefined : parseProvider(`cuda:${flags.device}`, '--device');
      // Upload URLs the API nodes hand out start with the public URL; the worker reads them from the data dir.
      const publicBaseUrl = config.publicUrl ?? `http://${config.host}:${config.port}`;
      const worker = await startRedisWorker(config, log, {
        queueUrl: flags.queue,
        modelDir,
        publicBaseUrl,
        ...(provider ? { provider } : {}),
      });
      const announce = setInterval(() => {
        if (!worker.ready) return;
        clearInterval(announce);
        log.info({ queue: flags.queue?.replace(/\/\/[^@/]*@/, '//***@'), modelDir }, 'worker ready');
      }, READY_POLL_MS);
      const shutdown = async () => {
        log.info('worker stopping after its current task');
        clearInterval(announce);
        // Past the grace, the task is left: its BullMQ lock lapses and another worker takes it.
        if (!(await settledWithin(worker.stop(), config.shutdownGraceMs)))
          log.warn('the running task did not end within the shutdown grace; another worker takes it over');
        process.exit(0);
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
}
