/**
 * Run by rebuild.test.ts as a child process: `node --import tsx interrupt-build.ts <ckpt> <out>
 * <component>` builds an int4 fp32 model and SIGKILLs itself right after `<component>` is on disk —
 * a real kill (no `finally`, no cleanup) at a known point, never racing the build.
 */
import { buildModel } from '../../src/build/build-model.js';
import type { ComponentName } from '../../src/build/components.js';
import { createLogger } from '../../src/log.js';

const [checkpoint, out, killAfter] = process.argv.slice(2) as [string, string, ComponentName];
await buildModel(checkpoint, out, {
  dtype: 'float32',
  ops: 'fused',
  quant: 'int4',
  log: createLogger('silent'),
  afterComponent: (name) => {
    if (name === killAfter) process.kill(process.pid, 'SIGKILL');
  },
});
