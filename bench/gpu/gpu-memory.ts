/**
 * Peak GPU memory per phase from nvidia-smi samples taken beside the run
 * (`nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 200`): each
 * phase records its start and end, and its peak is the largest sample between them. ONNX Runtime's
 * arena keeps what it took until its session is released, so a sampled peak is its real one.
 */

export interface Phase {
  readonly name: string;
  /** Epoch milliseconds. */
  readonly start: number;
  readonly end: number;
}

export interface Sample {
  readonly at: number;
  readonly usedMiB: number;
}

/**
 * nvidia-smi's timestamp is local time, `2026/12/07 12:00:00.123`; this machine's own clock and
 * time zone read it back, as they wrote it.
 */
export function parseSamples(csv: string): Sample[] {
  const out: Sample[] = [];
  for (const line of csv.split('\n')) {
    const m = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*,\s*(\d+)/.exec(line.trim());
    if (!m) continue;
    const [, y, mo, d, h, mi, s, frac, used] = m;
    const ms = frac ? Number(`0.${frac}`) * 1000 : 0;
    const at = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms).getTime();
    out.push({ at, usedMiB: Number(used) });
  }
  return out;
}

/** Each phase's peak, MiB; null where no sample fell inside it. */
export function peaks(phases: readonly Phase[], samples: readonly Sample[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const p of phases) {
    let peak: number | null = null;
    for (const s of samples) if (s.at >= p.start && s.at <= p.end) peak = Math.max(peak ?? 0, s.usedMiB);
    out[p.name] = peak;
  }
  return out;
}
