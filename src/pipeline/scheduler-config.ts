/**
 * @module pipeline/scheduler-config
 * The model's `scheduler/scheduler_config.json` (FlowMatchEulerDiscreteScheduler) as a sigma shift:
 * schnell has none; dev shifts by image size (flux.md §5.1).
 */
import { errors } from '../errors.js';
import type { SigmaShift } from './schedule.js';

function num(json: Readonly<Record<string, unknown>>, key: string, fallback: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw errors.CONFIG(`scheduler_config.json: ${key} must be a number`);
  return v;
}

export function schedulerShift(json: Readonly<Record<string, unknown>>, imageTokens: number): SigmaShift {
  if (json.use_dynamic_shifting === true) {
    return {
      shift: 'dynamic',
      imageTokens,
      baseShift: num(json, 'base_shift', 0.5),
      maxShift: num(json, 'max_shift', 1.15),
      baseSeqLen: num(json, 'base_image_seq_len', 256),
      maxSeqLen: num(json, 'max_image_seq_len', 4096),
    };
  }
  const shift = num(json, 'shift', 1);
  if (shift !== 1)
    throw errors.CONFIG(
      `scheduler_config.json: a static shift of ${shift} is not supported (FLUX uses 1 or dynamic)`,
    );
  return { shift: 'none' };
}
