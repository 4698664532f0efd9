/**
 * bench/gpu: `prepare --local` builds an offline payload (this machine's Node, onnxruntime-node and
 * addon, no CUDA provider, uncompressed) and `run --dry-run` unpacks it as the device calls would
 * and runs every phase from it on the CPU EP at toy sizes: the script is proven before any GPU
 * exists. Nothing here needs a GPU, the network or PyTorch (without torch the PyTorch half is
 * compiled only, and says so). Then the pure parts: ONNX Runtime's placement log, nvidia-smi's
 * samples, the device-call limits and the per-block arithmetic.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCalls, deviceCalls, LIMITS, MIB, pieceBytes } from '../../bench/gpu/calls.js';
import { parseSamples, peaks } from '../../bench/gpu/gpu-memory.js';
import { errorStats, extrapolate, perBlock } from '../../bench/gpu/numerics.js';
import { offProvider, parsePlacement } from '../../bench/gpu/placement.js';

const run = promisify(execFile);
const GPU = fileURLToPath(new URL('../../bench/gpu/', import.meta.url));

describe('bench/gpu dry run from a --local payload', () => {
  let dir: string;
  let out: string;
  let log: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gpu-proof-'));
    out = join(dir, 'out');
    await run('bash', [join(GPU, 'prepare'), '--local', '--out', join(dir, 'payload')], {
      maxBuffer: 1 << 24,
    });
    const env = { ...process.env, FLUX_GPU_PYTHON: 'python3', TMPDIR: dir };
    const r = await run(
      'bash',
      [join(GPU, 'run'), '--dry-run', '--payload', join(dir, 'payload'), '--out', out],
      {
        env,
        maxBuffer: 1 << 24,
      },
    ).catch((e: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`bench/gpu/run --dry-run failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    });
    log = r.stdout;
  }, 120_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('unpacks the pieces it was given, checksums first, and runs from the unpacked payload', async () => {
    const payload = await readdir(join(dir, 'payload'));
    expect(payload).toEqual(expect.arrayContaining(['SHA256SUMS', 'payload.json', 'payload.tar.part-00']));
    expect(log).toMatch(/mode dry/);
    expect(log).toMatch(/root\/app\/bench\/gpu\.mjs|all phases ran/);
    expect(log).toMatch(/all phases ran/);
  });

  it('leaves at most 8 plain files in OUT, the report among them', async () => {
    const files = await readdir(out);
    expect(files.length).toBeLessThanOrEqual(8);
    for (const f of files) {
      expect(f).toMatch(/^[A-Za-z0-9._-]+$/);
      expect((await stat(join(out, f))).isFile()).toBe(true);
    }
    expect(files).toEqual(
      expect.arrayContaining([
        'report.md',
        'results.json',
        'torch.json',
        'doctor.txt',
        'placement.txt',
        'log.txt',
      ]),
    );
  });

  it('measures every phase at toy size on the CPU EP', async () => {
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.mode).toBe('dry');
    expect(results.errors).toEqual([]);
    // (b) every output of the five graphs, fp32 and fp16 against CPU fp32.
    expect(Object.keys(results.tiny)).toEqual(['clip', 't5', 'transformer', 'vae_decoder', 'vae_encoder']);
    for (const graph of Object.values(results.tiny) as {
      outputs: Record<string, Record<string, { rmsRel: number }>>;
    }[])
      for (const o of Object.values(graph.outputs)) {
        expect(o.fp32?.rmsRel).toBe(0);
        expect(o.fp16?.rmsRel).toBeLessThan(1e-2);
      }
    // (a) placement parsed for each graph.
    expect(
      Object.values(results.placement).every((p) => (p as { elsewhere: string[] }).elsewhere.length === 0),
    ).toBe(true);
    // (c) three depths, the full one with TF32 on and off, both sizes.
    expect(
      results.width.timings.map((t: { depth: string; tf32: boolean }) => `${t.depth} ${t.tf32}`),
    ).toEqual(['d2s2 true', 'd2s2 false', 'd1s2 true', 'd2s1 true']);
    expect(Object.keys(results.width.perBlock)).toEqual(['64', '128']);
    // (e) 0/1/5 LoRAs through both runtimes, which agree; a LoRA moves the output.
    expect(results.lora.native.map((r: { rank: number }) => r.rank)).toEqual([0, 16, 80]);
    expect(results.lora.onnxruntimeNode).toHaveLength(3);
    for (const [what, s] of Object.entries(results.lora.agreement) as [string, { maxRel: number }][])
      if (what.includes('native vs')) expect(s.maxRel).toBeLessThan(1e-3);
      else expect(s.maxRel).toBeGreaterThan(1e-3);
  });

  it('says plainly that this is no GPU figure, and what the PyTorch half did', async () => {
    const report = await readFile(join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/DRY RUN on the CPU EP, toy sizes: no GPU figure/);
    expect(report).toMatch(/not measured: no nvidia-smi samples/);
    const torch = JSON.parse(await readFile(join(out, 'torch.json'), 'utf8'));
    if (torch.skipped) {
      expect(log).toMatch(/TORCH PART SKIPPED/);
      expect(log).toMatch(/torch_reference\.py compiles/);
    } else {
      // Where torch is importable the reference runs and computes what our graph computes.
      for (const c of Object.values(torch.compare) as Record<string, { rmsRel: number }>[])
        expect(c['ours fp16 vs torch fp32']?.rmsRel).toBeLessThan(1e-2);
    }
  });
});

describe('bench/gpu pure parts', () => {
  const line = (m: string) =>
    `2026-12-07 12:14:13.121 [V:onnxruntime:, session_state.cc:1381 VerifyEachNodeIsAssignedToAnEp] ${m}`;

  it('reads the placement ONNX Runtime logs, with one provider or several', () => {
    const one = parsePlacement(
      [
        line('Node placements'),
        line(' All nodes placed on [CPUExecutionProvider]. Number of nodes: 575'),
      ].join('\n'),
    );
    expect(one).toEqual({ counts: { CPUExecutionProvider: 575 }, nodes: { CPUExecutionProvider: [] } });
    expect(offProvider(one as NonNullable<typeof one>, 'CPUExecutionProvider')).toEqual([]);
    const two = parsePlacement(
      [
        'unrelated',
        line('Node placements'),
        line(' Node(s) placed on [CUDAExecutionProvider]. Number of nodes: 2'),
        line('  MatMul (/img_in/MatMul)'),
        line('  Add (/img_in/Add)'),
        line(' Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1'),
        line('  Shape (/tokens/Shape_txt)'),
      ].join('\n'),
    );
    expect(two?.counts).toEqual({ CUDAExecutionProvider: 2, CPUExecutionProvider: 1 });
    expect(offProvider(two as NonNullable<typeof two>, 'CUDAExecutionProvider')).toEqual([
      'CPUExecutionProvider: Shape (/tokens/Shape_txt)',
    ]);
    expect(parsePlacement('no verbose log')).toBeUndefined();
  });

  it("takes each phase's peak from nvidia-smi's samples", () => {
    const samples = parseSamples(
      '2026/12/07 12:00:00.100, 500\n2026/12/07 12:00:01.100, 9000\n2026/12/07 12:00:02.100, 700\n',
    );
    const t0 = new Date(2026, 11, 7, 12, 0, 0).getTime();
    expect(samples.map((s) => s.at - t0)).toEqual([100, 1100, 2100]);
    expect(
      peaks(
        [
          { name: 'a', start: t0, end: t0 + 1500 },
          { name: 'b', start: t0 + 2000, end: t0 + 3000 },
          { name: 'c', start: t0 + 5000, end: t0 + 6000 },
        ],
        samples,
      ),
    ).toEqual({ a: 9000, b: 700, c: null });
  });

  it('sizes the pieces and refuses calls over the limits', () => {
    const tree = 8 * MIB;
    const piece = pieceBytes(tree, 4096, MIB);
    expect(piece).toBe(50 * MIB);
    const calls = deviceCalls(
      [0, 1, 2].map((i) => ({ path: `.device/gpu/payload.tar.xz.part-0${i}`, bytes: piece })),
      [{ path: '.device/gpu/SHA256SUMS', bytes: 300 }],
      tree,
    );
    expect(calls).toHaveLength(3);
    expect(calls[0]?.carry).toContain('.device/gpu/SHA256SUMS');
    expect(calls[2]?.command).toMatch(/&& bash bench\/gpu\/run$/);
    expect(checkCalls(calls)).toEqual([]);
    const big = deviceCalls([{ path: 'x', bytes: 61 * MIB }], [], 0);
    expect(checkCalls(big)[0]).toMatch(/over 60 MiB/);
    expect(checkCalls([{ ...big[0], bytes: 0, carry: Array(9).fill('p') } as never])[0]).toMatch(/9 paths/);
    expect(() => pieceBytes(LIMITS.targetBytes, 0, 0)).toThrow(/no room/);
  });

  it('tells one double and one single block apart from three depths, and extrapolates to 19 + 38', () => {
    // rest 10, double 3, single 2: 2+2 = 20, 1+2 = 17, 2+1 = 18.
    const p = perBlock(20, 17, 18);
    expect(p).toEqual({ doubleMs: 3, singleMs: 2, restMs: 10 });
    expect(extrapolate(p, { double: 19, single: 38 })).toBe(10 + 57 + 76);
    expect(errorStats([1, 2.5], [1, 2])).toMatchObject({ maxRel: 0.25, finite: true });
    expect(errorStats([Number.NaN, 2], [1, 2]).finite).toBe(false);
  });
});
