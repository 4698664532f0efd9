/**
 * @module pipeline/mt19937
 * The 32-bit Mersenne Twister exactly as PyTorch's CPU generator runs it (`at::mt19937`,
 * aten/src/ATen/core/MT19937RNGEngine.h), so that a seed gives torch's noise (flux.md §6).
 *
 * torch's engine is the reference MT19937 (Matsumoto & Nishimura, init_genrand + genrand_int32):
 * `manual_seed(seed)` stores the 64-bit seed but initialises the state from `seed & 0xffffffff`
 * only, so seeds that agree in their low 32 bits give identical streams (as `std::mt19937`).
 */
import { errors } from '../errors.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

const MIN_SEED = -(2n ** 63n);
const MAX_SEED = 2n ** 64n - 1n;

/**
 * The 32 bits of `seed` that torch's engine keeps. Python ints in [-2^63, 2^64) are accepted by
 * `Generator.manual_seed`, negatives taken as their 64-bit two's complement; the engine then masks
 * with 0xffffffff. Anything else (fractions, unsafe numbers, out-of-range bigints) is a usage error.
 *
 * @example
 * torchSeed32(2n ** 32n + 7n); // 7
 * torchSeed32(-1); // 4294967295
 */
export function torchSeed32(seed: number | bigint): number {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw errors.USAGE(`seed must be an integer (use a bigint beyond 2^53), got ${seed}`);
  }
  const big = BigInt(seed);
  if (big < MIN_SEED || big > MAX_SEED) {
    throw errors.USAGE(`seed must be in [-2^63, 2^64), got ${big}`);
  }
  return Number(BigInt.asUintN(32, big));
}

/**
 * MT19937 with torch's seeding and its two draws, `random()` (one 32-bit output) and
 * `random64()` (CPUGeneratorImpl::random64: first output in the high word, second in the low).
 *
 * @example
 * const mt = new Mt19937(0);
 * mt.random(); // 2357136044
 */
export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number | bigint = 5489) {
    const s = this.state;
    s[0] = torchSeed32(seed);
    for (let i = 1; i < N; i++) {
      const prev = s[i - 1] as number;
      // Knuth's multiplier; Math.imul keeps the product modulo 2^32 like the uint32 arithmetic.
      s[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
  }

  /** The next 32-bit output, as an unsigned integer in [0, 2^32). */
  random(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Two outputs joined as torch's `random64()`: `(first << 32) | second`. */
  random64(): bigint {
    const hi = this.random();
    const lo = this.random();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Regenerates the whole state block (torch's `next_state`, the reference `genrand_int32` loop). */
  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = ((s[i] as number) & UPPER_MASK) | ((s[(i + 1) % N] as number) & LOWER_MASK);
      s[i] = ((s[(i + M) % N] as number) ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)) >>> 0;
    }
    this.index = 0;
  }
}
