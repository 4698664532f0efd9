/**
 * @module pipeline/torch-randn
 * `torch.randn(count, generator=torch.Generator('cpu').manual_seed(seed))` in float32, so a seed
 * gives the same starting noise as diffusers/BFL run with a CPU generator (flux.md §6).
 *
 * torch's CPU `normal_kernel` (aten/src/ATen/native/cpu/DistributionTemplates.h) has two paths:
 *
 * - count >= 16 (contiguous float32): `normal_fill`. Every element first gets a float uniform
 *   `u = (random() & (2^24 - 1)) * 2^-24` (TransformationHelper.h `uniform_real`). Then each block
 *   of 16 is Box–Muller'd in place: for j < 8, r = sqrt(-2 ln(1 - u[j])), θ = 2π u[j+8],
 *   out[j] = r cos θ, out[j+8] = r sin θ. When count % 16 ≠ 0 the LAST 16 elements (overlapping
 *   the previous block) are refilled with 16 fresh uniforms and transformed again.
 * - count < 16: one `normal_distribution<double>` draw per element (DistributionsHelper.h): two
 *   53-bit uniforms u1, u2 from `random64()`, r = sqrt(-2 log1p(-u2)), θ = 2π u1; it returns
 *   r cos θ and caches r sin θ in the generator for the next draw (the cache survives between
 *   calls on one generator and is cleared by `manual_seed`).
 *
 * Which float path, and what precision. torch compiles `normal_fill` twice: the generic template
 * `normal_fill_16<float>` and, in its AVX2 kernel build only, `normal_fill_16_AVX2`. ATen picks
 * one build per process from the CPU: AVX2-only x86 CPUs run the AVX2 variant; AVX-512 x86 CPUs
 * (whose AVX512 build has no vectorised normal), ARM/Apple silicon and ATEN_CPU_CAPABILITY=default
 * run the generic one. We reproduce the GENERIC path, whose arithmetic is:
 *   - 1 - u: float, exact (u is a multiple of 2^-24);
 *   - ln: float `logf`; -2 * ln: float, exact; sqrt: float `sqrtf` (correctly rounded);
 *   - θ = 2.0f * pi<double> * u: computed in DOUBLE, then rounded once to float;
 *   - cos θ, sin θ: float `cosf`/`sinf`; r * cos θ: float (×std=1, +mean=0 are exact).
 * Here every float step is `Math.fround` of the double result. sqrt and the products are then
 * bit-identical; logf/cosf/sinf are correctly rounded here while glibc's are within ~0.8 ulp,
 * so an element may differ from torch by 1 float ulp in rare cases. The AVX2 variant instead uses
 * θ = float(2π) * u in float and Cephes-style polynomial log/sincos (avx_mathfun.h), differing
 * from this by a few ulps (at most ~3e-6 absolute, as |r| <= 5.8). The count < 16 path is done in
 * double exactly as torch does and rounded to float once (log1p/cos/sin libm last-bit effects
 * vanish in that rounding except at float rounding ties). torch.randn with dtype=bfloat16 (what a
 * bf16 diffusers pipeline draws) is a different algorithm again (8-bit uniforms); not reproduced.
 */

import { requireInt } from '../arguments.js';
import { Mt19937 } from './mt19937.js';

const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
const TWO_POW_32 = 2 ** 32;

/**
 * A torch CPU generator: the MT19937 engine plus the cached second Box–Muller value of the
 * double path. Successive `randn` calls continue one stream, as successive `torch.randn(...,
 * generator=g)` calls do (diffusers img2img draws the VAE sample, then the noise, from one).
 *
 * @example
 * const g = new TorchCpuGenerator(42);
 * const a = g.randn(16); // == torch.randn(16, generator=g) after g.manual_seed(42)
 * const b = g.randn(3); // the next draw on the same generator
 */
export class TorchCpuGenerator {
  private readonly mt: Mt19937;
  /** CPUGeneratorImpl::next_double_normal_sample_. */
  private cachedNormal: number | undefined;

  constructor(seed: number | bigint) {
    this.mt = new Mt19937(seed);
  }

  /** `count` standard normal float32 values, as `torch.randn(count, generator=this)`. */
  randn(count: number): Float32Array {
    requireInt('count', count, 0);
    const out = new Float32Array(count);
    if (count >= 16) this.normalFill(out);
    else for (let i = 0; i < count; i++) out[i] = this.normalDouble();
    return out;
  }

  /** uniform_real_distribution<float>(0, 1): the low 24 bits of one output, scaled (exact). */
  private uniformFloat(): number {
    return (this.mt.random() & 0xffffff) * TWO_POW_M24;
  }

  /** uniform_real_distribution<double>(0, 1): the low 53 bits of random64(), scaled (exact). */
  private uniformDouble(): number {
    const hi = this.mt.random();
    const lo = this.mt.random();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) * TWO_POW_M53;
  }

  /** normal_distribution<double>: Box–Muller, second value cached for the next call. */
  private normalDouble(): number {
    if (this.cachedNormal !== undefined) {
      const cached = this.cachedNormal;
      this.cachedNormal = undefined;
      return cached;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** normal_fill: all uniforms first, Box–Muller per 16, last 16 redrawn on a ragged tail. */
  private normalFill(data: Float32Array): void {
    const size = data.length;
    for (let i = 0; i < size; i++) data[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= size; i += 16) normalFill16(data, i);
    if (size % 16 !== 0) {
      const tail = size - 16;
      for (let i = 0; i < 16; i++) data[tail + i] = this.uniformFloat();
      normalFill16(data, tail);
    }
  }
}

/** normal_fill_16<float> with its float/double mix (see the module notes); mean 0, std 1. */
function normalFill16(data: Float32Array, offset: number): void {
  const f = Math.fround;
  for (let j = 0; j < 8; j++) {
    const u1 = 1 - (data[offset + j] as number); // [0, 1) -> (0, 1] for the log; exact in float
    const u2 = data[offset + j + 8] as number;
    const radius = f(Math.sqrt(-2 * f(Math.log(u1))));
    const theta = f(2 * Math.PI * u2);
    data[offset + j] = radius * f(Math.cos(theta)); // the float store rounds the product
    data[offset + j + 8] = radius * f(Math.sin(theta));
  }
}

/**
 * `torch.randn(count, generator=torch.Generator('cpu').manual_seed(seed))` as float32: a fresh
 * generator per call. Seeds follow torch (only the low 32 bits matter; see `torchSeed32`).
 *
 * @example
 * torchRandn(0, 4); // ≈ [1.5410, -0.2934, -2.1788, 0.5684]
 * torchRandn(42, 16)[0]; // ≈ 1.9269
 */
export function torchRandn(seed: number | bigint, count: number): Float32Array {
  return new TorchCpuGenerator(seed).randn(count);
}
