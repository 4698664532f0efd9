/**
 * report.md from what a GPU proof run left in its output folder: results.json (the Node half),
 * torch.json (the PyTorch half) and gpu-memory.csv (nvidia-smi beside both). The figures are the
 * ones bench/RESULTS.md needs, already side by side; nothing here measures.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Phase, parseSamples, peaks } from './gpu-memory.js';
import type { ErrorStats, PerBlock, Timing } from './numerics.js';
import { RESULTS_FILE } from './run-context.js';

export const TORCH_FILE = 'torch.json';
export const MEMORY_FILE = 'gpu-memory.csv';
export const REPORT_FILE = 'report.md';

interface TorchResults {
  skipped?: string;
  torch?: string;
  device?: string;
  phases?: Phase[];
  blocks?: Record<string, { double: Timing; single: Timing; model: Timing }>;
  perBlock?: Record<string, PerBlock & { step12BMs: number }>;
  compare?: Record<string, Record<string, ErrorStats>>;
  copy?: { bytes: number; pageableGBs: number; pinnedGBs: number };
  maxAllocatedMiB?: Record<string, number>;
  errors?: string[];
}

interface Results {
  mode: string;
  startedAt: string;
  phases: Phase[];
  errors: { phase: string; message: string }[];
  addonShapeChange?: string;
  doctor?: { ok: boolean; lines: string[]; gpus: { name: string }[] };
  placement?: Record<
    string,
    { expected: string; counts?: Record<string, number>; elsewhere?: string[]; error?: string }
  >;
  tiny?: Record<
    string,
    { outputs: Record<string, { fp32?: ErrorStats; fp16?: ErrorStats }>; errors: string[] }
  >;
  width?: {
    label: string;
    parameters: number;
    checkpoint: { bytes: number; seconds: number };
    builds?: { wallSeconds: number; each: { depth: string; seconds: number; dataBytes: number }[] };
    timings?: {
      depth: string;
      tf32: boolean;
      createMs: Record<string, number>;
      steps: Record<string, Timing>;
    }[];
    perBlock?: Record<string, PerBlock & { step12BMs: number }>;
    cudaGraphs?: string;
  };
  lora?: {
    size: number;
    native: { loras: number; rank: number; bytes: number; bindMs?: number; step: Timing }[];
    onnxruntimeNode: { loras: number; rank: number; bytes: number; step: Timing }[];
    agreement?: Record<string, ErrorStats>;
    copyRate?: {
      fromSteps: { loras: number; bytes: number; extraMs: number; gbPerS: number };
      fromBind?: { bytes: number; ms: number; gbPerS: number };
    };
    schnell?: { loras: number; bytes: number; copyMsAtRate: number | null }[];
  };
}

const e = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x.toExponential(2));
const ms = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(x < 10 ? 2 : 1);
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const err = (s: ErrorStats | undefined) =>
  s ? `${e(s.maxRel)} / ${e(s.rmsRel)}${s.finite ? '' : ' NON-FINITE'}` : '—';

async function readJson<T>(path: string): Promise<T | undefined> {
  return readFile(path, 'utf8').then(
    (t) => JSON.parse(t) as T,
    () => undefined,
  );
}

function table(head: string[], rows: string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

export function renderReport(
  r: Results,
  torch: TorchResults | undefined,
  memoryCsv: string | undefined,
): string {
  const out: string[] = [];
  const gpu = r.doctor?.gpus[0]?.name;
  out.push(
    `# GPU proof — ${r.mode === 'gpu' ? (gpu ?? 'GPU not named') : 'DRY RUN on the CPU EP, toy sizes: no GPU figure'}`,
  );
  out.push('', `Started ${r.startedAt}.`);
  if (r.errors.length > 0) {
    out.push('', `**${r.errors.length} phase(s) failed:**`);
    for (const x of r.errors) out.push(`- ${x.phase}: ${x.message.split('\n')[0]}`);
  }

  out.push('', '## (a) doctor and node placement', '');
  for (const l of r.doctor?.lines ?? ['(doctor did not run)']) out.push(`    ${l}`);
  out.push('');
  for (const [name, p] of Object.entries(r.placement ?? {})) {
    if (p.error) out.push(`- ${name}: ${p.error}`);
    else if ((p.elsewhere ?? []).length === 0) out.push(`- ${name}: every node on ${p.expected}`);
    else
      out.push(
        `- ${name}: **${p.elsewhere?.length} node(s) not on ${p.expected}** (placement.txt lists them)`,
      );
  }

  if (r.addonShapeChange)
    out.push('', `Native addon, one DeviceSession over two image sizes: ${r.addonShapeChange}`);

  out.push('', '## (b) tiny model: device EP vs CPU fp32 (max rel / RMS rel)', '');
  const tinyRows: string[][] = [];
  for (const [graph, g] of Object.entries(r.tiny ?? {})) {
    for (const [name, o] of Object.entries(g.outputs)) tinyRows.push([graph, name, err(o.fp32), err(o.fp16)]);
    for (const x of g.errors) tinyRows.push([graph, 'ERROR', x, '']);
  }
  out.push(...table(['graph', 'output', 'fp32', 'fp16 (VAE: always fp32)'], tinyRows));

  const w = r.width;
  out.push('', `## (c) full width: ${w?.label ?? '—'}, random weights, fp16`, '');
  if (w) {
    out.push(
      `Checkpoint: ${w.parameters.toLocaleString('en')} parameters, ${mb(w.checkpoint.bytes)} MB bf16, written in ${w.checkpoint.seconds.toFixed(1)} s; builds (side by side) ${w.builds?.wallSeconds.toFixed(1) ?? '—'} s.`,
      '',
    );
    const sizes = Object.keys(w.timings?.[0]?.steps ?? {}).sort((a, b) => Number(b) - Number(a));
    out.push(
      ...table(
        ['depth', 'TF32', ...sizes.map((s) => `step ms @${s}² (min–max)`), 'session create ms'],
        (w.timings ?? []).map((t) => [
          t.depth,
          t.tf32 ? 'on' : 'off',
          ...sizes.map((s) => {
            const x = t.steps[s];
            return x ? `${ms(x.ms)} (${ms(x.minMs)}–${ms(x.maxMs)})` : '—';
          }),
          sizes.map((s) => ms(t.createMs[s])).join(' / '),
        ]),
      ),
    );
    out.push('');
    const rows: string[][] = [];
    for (const [size, p] of Object.entries(w.perBlock ?? {}).sort((a, b) => Number(b[0]) - Number(a[0]))) {
      const t = torch?.perBlock?.[size];
      const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(2) : '—');
      rows.push([
        `${size}²`,
        `${ms(p.doubleMs)} (${ms(t?.doubleMs)}; ×${ratio(p.doubleMs, t?.doubleMs)})`,
        `${ms(p.singleMs)} (${ms(t?.singleMs)}; ×${ratio(p.singleMs, t?.singleMs)})`,
        `${ms(p.restMs)} (${ms(t?.restMs)})`,
        `${ms(p.step12BMs)} (${ms(t?.step12BMs)}; ×${ratio(p.step12BMs, t?.step12BMs)})`,
      ]);
    }
    out.push(
      'Ours (PyTorch bf16; ratio ours/PyTorch), ms, TF32 on; per block from the depth differences, 12B = rest + 19 double + 38 single:',
      '',
      ...table(['size', 'double block', 'single block', 'rest', '12B step (extrapolated)'], rows),
    );
    const tf = (on: boolean) => w.timings?.find((t) => t.depth === w.timings?.[0]?.depth && t.tf32 === on);
    const [on, off] = [tf(true), tf(false)];
    if (on && off)
      out.push(
        '',
        `TF32 off vs on (${on.depth}): ${sizes.map((s) => `${s}² ${ms(off.steps[s]?.ms)} vs ${ms(on.steps[s]?.ms)} ms`).join(', ')} (an fp16 graph has few float32 MatMuls).`,
      );
    out.push('', `CUDA graphs: ${w.cudaGraphs ?? '—'}.`);
  }

  out.push('', `## (d) PyTorch bf16 reference (${torch?.torch ?? 'torch'} on ${torch?.device ?? '—'})`, '');
  if (!torch || torch.skipped) out.push(`**SKIPPED: ${torch?.skipped ?? 'torch.json missing'}**`);
  else {
    const cmp: string[][] = [];
    for (const [size, c] of Object.entries(torch.compare ?? {}))
      for (const [what, s] of Object.entries(c)) cmp.push([`${size}²`, what, err(s)]);
    out.push(...table(['size', 'comparison (2 + 2 model output)', 'max rel / RMS rel'], cmp));
    if (torch.copy)
      out.push(
        '',
        `Host→device copy (torch, ${mb(torch.copy.bytes)} MB): pageable ${torch.copy.pageableGBs.toFixed(1)} GB/s, pinned ${torch.copy.pinnedGBs.toFixed(1)} GB/s.`,
      );
    for (const x of torch.errors ?? []) out.push(`- ERROR: ${x}`);
  }

  const l = r.lora;
  out.push('', `## (e) LoRAs at ${l?.size ?? '—'}², rank 16 each on every linear`, '');
  if (l) {
    out.push(
      ...table(
        [
          'LoRAs',
          'rank',
          'factor MB',
          'native ms/step (bound once)',
          'bind ms',
          'onnxruntime-node ms/step (copied)',
        ],
        l.native.map((n) => {
          const c = l.onnxruntimeNode.find((x) => x.loras === n.loras);
          return [String(n.loras), String(n.rank), mb(n.bytes), ms(n.step.ms), ms(n.bindMs), ms(c?.step.ms)];
        }),
      ),
    );
    const rate = l.copyRate;
    if (rate && rate.fromSteps.extraMs <= 0)
      out.push(
        '',
        `Copy rate: not measurable here (onnxruntime-node was not slower at ${rate.fromSteps.loras} LoRAs).`,
      );
    else if (rate)
      out.push(
        '',
        `Copy rate: ${rate.fromSteps.gbPerS.toFixed(1)} GB/s from the step difference at ${rate.fromSteps.loras} LoRAs (${ms(rate.fromSteps.extraMs)} ms for ${mb(rate.fromSteps.bytes)} MB)` +
          (rate.fromBind
            ? `; ${rate.fromBind.gbPerS.toFixed(1)} GB/s binding them (host copy + upload).`
            : '.'),
      );
    if (l.schnell)
      out.push(
        `At that rate the 12B model's factors would cost per step: ${l.schnell.map((s) => `${s.loras} LoRA(s) ${mb(s.bytes)} MB → ${ms(s.copyMsAtRate ?? undefined)} ms`).join('; ')}.`,
      );
    for (const [what, s] of Object.entries(l.agreement ?? {})) out.push(`- ${what}: ${err(s)}`);
  }

  out.push('', '## (f) peak GPU memory per configuration', '');
  if (!memoryCsv) out.push('not measured: no nvidia-smi samples (no GPU)');
  else {
    const samples = parseSamples(memoryCsv);
    const all = [...r.phases, ...(torch?.phases ?? [])];
    const peak = peaks(all, samples);
    out.push(
      ...table(
        ['phase', 'nvidia-smi peak MiB', 'torch max allocated MiB'],
        all.map((p) => [p.name, String(peak[p.name] ?? '—'), String(torch?.maxAllocatedMiB?.[p.name] ?? '')]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

/** Writes report.md into `out` and returns it. */
export async function writeReport(out: string): Promise<string> {
  const results = await readJson<Results>(join(out, RESULTS_FILE));
  if (!results) throw new Error(`${join(out, RESULTS_FILE)} is missing: the Node half did not run`);
  const torch = await readJson<TorchResults>(join(out, TORCH_FILE));
  const memory = await readFile(join(out, MEMORY_FILE), 'utf8').catch(() => undefined);
  const text = renderReport(results, torch, memory?.trim() ? memory : undefined);
  await writeFile(join(out, REPORT_FILE), text);
  return text;
}
