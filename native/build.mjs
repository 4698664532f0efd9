#!/usr/bin/env node
// Builds the native addon (native/) with node-gyp, offline: Node's own headers are used
// (`--nodedir`: an official Node tarball ships include/node beside bin/, Debian's nodejs puts
// them in /usr/include/node), so nothing is downloaded. Run by `npm ci`/`npm install` (the
// package's install script) and by `npm run build:native`.
//
// Without a C++ compiler the addon is skipped with a warning and flux-serve runs on
// onnxruntime-node alone (every input copied to the device at every run); with CI=true, or
// FLUX_SERVE_NATIVE=on, a failed build fails the install, so CI always tests the addon.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.CI === 'true' || process.env.FLUX_SERVE_NATIVE === 'on';

function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), '/usr'];
  return candidates.find((dir) => dir && existsSync(join(dir, 'include', 'node', 'node_api.h')));
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp))
    return process.env.npm_config_node_gyp;
  // npm ships node-gyp beside itself.
  const npmDir = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  const bundled = join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return existsSync(bundled) ? bundled : undefined;
}

function skip(why) {
  const message = `flux-serve: the native addon was not built: ${why}. flux-serve still works, on onnxruntime-node alone (on a GPU, every input is copied to the device at every step). Install a C++ compiler (g++ or clang) and run \`npm run build:native\` to build it.`;
  if (required) {
    console.error(message);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}

if (process.env.FLUX_SERVE_NATIVE === 'off') skip('FLUX_SERVE_NATIVE=off');
if (process.platform !== 'linux') skip(`it is written for Linux, this is ${process.platform}`);
const compiler = process.env.CXX || 'c++';
if (spawnSync(compiler, ['--version'], { stdio: 'ignore' }).status !== 0)
  skip(`no C++ compiler (${compiler})`);
const dir = nodeDir();
if (!dir)
  skip(
    `Node's C headers (include/node/node_api.h) are not beside ${process.execPath} nor in /usr/include/node`,
  );
const gyp = nodeGyp();
if (!gyp) skip('node-gyp was not found (it comes with npm)');
const built = spawnSync(
  process.execPath,
  [gyp, 'rebuild', `--nodedir=${dir}`, '--jobs=max', '--loglevel=warn'],
  {
    cwd: here,
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
if (built.status !== 0) skip(`node-gyp failed (exit ${built.status}; its errors are above)`);
console.log(`flux-serve: native addon built (${join(here, 'build', 'Release', 'flux_native.node')})`);
