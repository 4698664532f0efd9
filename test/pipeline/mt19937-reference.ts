/**
 * @module test/pipeline/mt19937-reference
 * A deliberately naive MT19937 for the tests, transcribed from the published reference
 * (Matsumoto & Nishimura, mt19937ar.c: init_genrand + genrand_int32 with its mag01 table and
 * three-part twist loop), sharing no code with src/pipeline/mt19937.ts. 32-bit products are
 * done in 16-bit halves as the reference's comments describe, instead of Math.imul.
 */

const N = 624;
const M = 397;
const MAG01 = [0, 0x9908b0df];

/** (a * b) mod 2^32 for a, b in [0, 2^32), exact in doubles by splitting b. */
function mulMod32(a: number, b: number): number {
  const lo = (a * (b & 0xffff)) % 2 ** 32;
  const hi = (a * (b >>> 16)) % 2 ** 16;
  return (lo + hi * 2 ** 16) % 2 ** 32;
}

/**
 * genrand_int32 outputs of a generator seeded with init_genrand(seed).
 *
 * @example
 * referenceMt(5489, 1); // [3499211612]
 */
export function referenceMt(seed: number, count: number): number[] {
  const mt: number[] = new Array(N);
  mt[0] = seed % 2 ** 32;
  for (let i = 1; i < N; i++) {
    const prev = mt[i - 1] as number;
    mt[i] = (mulMod32(1812433253, (prev ^ Math.floor(prev / 2 ** 30)) >>> 0) + i) % 2 ** 32;
  }
  let mti = N;
  const out: number[] = [];
  for (let n = 0; n < count; n++) {
    if (mti >= N) {
      let kk = 0;
      let y: number;
      for (; kk < N - M; kk++) {
        y = (((mt[kk] as number) & 0x80000000) | ((mt[kk + 1] as number) & 0x7fffffff)) >>> 0;
        mt[kk] = ((mt[kk + M] as number) ^ (y >>> 1) ^ (MAG01[y & 1] as number)) >>> 0;
      }
      for (; kk < N - 1; kk++) {
        y = (((mt[kk] as number) & 0x80000000) | ((mt[kk + 1] as number) & 0x7fffffff)) >>> 0;
        mt[kk] = ((mt[kk + (M - N)] as number) ^ (y >>> 1) ^ (MAG01[y & 1] as number)) >>> 0;
      }
      y = (((mt[N - 1] as number) & 0x80000000) | ((mt[0] as number) & 0x7fffffff)) >>> 0;
      mt[N - 1] = ((mt[M - 1] as number) ^ (y >>> 1) ^ (MAG01[y & 1] as number)) >>> 0;
      mti = 0;
    }
    let y = mt[mti++] as number;
    y = (y ^ (y >>> 11)) >>> 0;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y = (y ^ (y >>> 18)) >>> 0;
    out.push(y);
  }
  return out;
}
