#!/usr/bin/env node
// `npm run setup:cuda`: puts ONNX Runtime 1.29.0's CUDA 13 execution provider next to
// onnxruntime-node's own libonnxruntime.so.1. The npm registry serves that provider inside
// com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (onnx-runtime.md addendum); onnxruntime-node's
// own postinstall would fetch a CUDA 12 build from NuGet instead, which offline machines cannot reach.
// Needs at run time: CUDA 13 (cublas, cublasLt, cudart, curand) and cuDNN 9 on the library path.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const PROVIDER_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
const ORT_VERSION = '1.29.0';
const FILES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`setup:cuda supports linux-x64 only (this is ${process.platform}-${process.arch})`);
  process.exit(2);
}
const require = createRequire(import.meta.url);
const ortPackage = require.resolve('onnxruntime-node/package.json');
const version = JSON.parse(readFileSync(ortPackage, 'utf8')).version;
if (version !== ORT_VERSION) {
  console.error(`onnxruntime-node is ${version}; the CUDA 13 provider is built for ${ORT_VERSION}`);
  process.exit(1);
}
const target = join(dirname(ortPackage), 'bin', 'napi-v6', 'linux', 'x64');
const tmp = mkdtempSync(join(tmpdir(), 'flux-serve-cuda-'));
try {
  console.error(`downloading ${PROVIDER_PACKAGE} (about 170 MB) from the npm registry…`);
  execFileSync('npm', ['pack', '--silent', PROVIDER_PACKAGE], {
    cwd: tmp,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack produced no tarball');
  const inside = FILES.map((f) => `package/Plugins/Linux/x64/${f}`);
  execFileSync('tar', ['xzf', join(tmp, tarball), '-C', tmp, ...inside], { stdio: 'inherit' });
  for (const f of FILES) copyFileSync(join(tmp, 'package', 'Plugins', 'Linux', 'x64', f), join(target, f));
  console.error(`installed ${FILES.join(', ')} into ${target}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
