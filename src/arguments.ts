/**
 * @module arguments
 * Argument checks shared by the sampler and image helpers. They guard against caller bugs and bad request
 * values alike; every failure is a coded `FLUX_ERR_USAGE` error naming the argument.
 */
import { errors } from './errors.js';

/**
 * Returns `value` when it is an integer >= `min`, else throws FLUX_ERR_USAGE.
 *
 * @example
 * const steps = requireInt('steps', 4, 1); // 4
 */
export function requireInt(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw errors.USAGE(`${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/**
 * Throws FLUX_ERR_USAGE unless `array` holds exactly `expected` elements.
 *
 * @example
 * requireLength('noise', noise, 2 * 16 * 64 * 64);
 */
export function requireLength(name: string, array: ArrayLike<number>, expected: number): void {
  if (array.length !== expected) {
    throw errors.USAGE(`${name} must have ${expected} elements, got ${array.length}`);
  }
}

/**
 * Returns `value` when it is a finite number, else throws FLUX_ERR_USAGE.
 *
 * @example
 * requireFinite('sigma', 0.75);
 */
export function requireFinite(name: string, value: number): number {
  if (!Number.isFinite(value)) throw errors.USAGE(`${name} must be a finite number, got ${value}`);
  return value;
}
