/**
 * @module worker/generation-thread
 * A worker thread that owns a loaded model and renders requests: session.run blocks the thread it
 * runs on, so inference never shares a thread with an event loop that must stay responsive.
 * Messages in: `{ type: 'task', id, request }` and `{ type: 'cancel', id }`; out: `{ id, type: 'step', step, total }`, then
 * `{ id, type: 'done', result }` or `{ id, type: 'error', error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.js';
import type { ThreadCommand, ThreadInit, ThreadMessage } from './generation-protocol.js';
import { startRenderService } from './render-service.js';

const init = workerData as ThreadInit;
const log = createLogger(init.logLevel).child({ thread: 'generation' });
const port = parentPort;
if (!port) throw new Error('generation-thread must run as a worker thread');

const service = await startRenderService(init, log, (m) => port.postMessage(m));
port.on('message', (m: ThreadCommand) => (m.type === 'task' ? service.handle(m) : service.cancel(m.id)));
port.postMessage({ type: 'ready', provider: service.provider } satisfies ThreadMessage);
