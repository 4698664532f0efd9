/**
 * @module worker/worker-process
 * The worker child process: it owns the loaded model and its ONNX Runtime sessions and renders one
 * request at a time. Started by {@link WorkerSupervisor} with `child_process.fork` and
 * `serialization: 'advanced'`. The init comes as argv JSON or as the first IPC message
 * (`{ type: 'init', init }`); it answers `{ type: 'ready' }` once the model is loaded, then
 * `{ type: 'task', id, request }` messages get `step` messages and one `done` or `error`;
 * `{ type: 'cancel', id }` stops a queued or running task at its next step.
 */
import { createLogger } from '../log.js';
import type { ThreadInit, ThreadMessage } from './generation-protocol.js';
import { startRenderService } from './render-service.js';
import type { WorkerCommand } from './worker-ipc.js';

const send = process.send?.bind(process);
if (!send) throw new Error('worker-process must be started with child_process.fork (an IPC channel)');
const reply = (m: ThreadMessage) => send(m);

// The supervisor gone: nobody can read the results.
process.on('disconnect', () => process.exit(0));

function readInit(): Promise<ThreadInit> {
  const arg = process.argv[2];
  if (arg) return Promise.resolve(JSON.parse(arg) as ThreadInit);
  return new Promise((resolve) => {
    const onMessage = (m: WorkerCommand) => {
      if (m.type !== 'init') return;
      process.off('message', onMessage);
      resolve(m.init);
    };
    process.on('message', onMessage);
  });
}

const init = await readInit();
const log = createLogger(init.logLevel).child({ worker: process.pid });

const service = await startRenderService(init, log, reply);
process.on('message', (message: WorkerCommand) => {
  if (message.type === 'task') service.handle(message);
  else if (message.type === 'cancel') service.cancel(message.id);
});
reply({ type: 'ready', provider: service.provider });
